"""The registry of preference generators: every name builds its generator from its own section,
and an unknown name is refused with the known ones."""

from __future__ import annotations

import pytest

from genrec.config import load_config
from genrec.errors import ConfigError
from genrec.prefs.generate import PrefsConfig, make_generator
from genrec.prefs.generators import GENERATORS

SETTINGS = {"openai": ["openai.model=tiny"]}  # a setting the generator cannot do without


@pytest.mark.parametrize("name", list(GENERATORS))
def test_every_generator_is_built_from_its_own_section(name: str) -> None:
    config = load_config(PrefsConfig, {}, [f"generator={name}", *SETTINGS.get(name, [])])
    generator = make_generator(config)
    assert generator.name == name  # the name stored in every row it writes
    assert isinstance(getattr(config, name), GENERATORS[name].config)
    assert generator.config is getattr(config, name)


def test_the_chunk_sizes_are_the_generators_own() -> None:
    assert {name: entry.chunk_users for name, entry in GENERATORS.items()} == {
        "attributes": 2000,
        "llm": 8,
        "openai": 256,
    }


def test_an_unknown_generator_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigError, match="generator: unknown name 'gpt'; expected one of "):
        load_config(PrefsConfig, {}, ["generator=gpt"])
    with pytest.raises(ConfigError, match="attributes, llm, openai"):
        PrefsConfig(generator="gpt")
