"""The one table of model families: a recipe's ``model`` names an entry. Adding a family is
its model file, its ``Family`` module in this package and one line here."""

from __future__ import annotations

from collections.abc import Callable

from genrec.errors import ConfigError
from genrec.families.family import Capabilities, Family
from genrec.families.generators import DECODER_ONLY, TIGER
from genrec.families.item_scorers import BERT4REC, HSTU_FAMILY, SASREC
from genrec.families.llm import LLM
from genrec.families.popularity import POPULARITY

FAMILIES: dict[str, Family] = {
    f.name: f for f in (SASREC, BERT4REC, HSTU_FAMILY, POPULARITY, TIGER, DECODER_ONLY, LLM)
}
#: A recipe's model when it names none: the strong classic baseline.
DEFAULT = SASREC.name


def family(name: str) -> Family:
    """The family called ``name``; a ConfigError listing the known ones otherwise."""
    if name not in FAMILIES:
        raise ConfigError(f"model {name!r}: unknown model family (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def families_that(can: Callable[[Capabilities], object]) -> str:
    """The families whose capabilities ``can`` accepts, as a message spells them ("tiger,
    decoder_only or llm"), so that messages follow the table."""
    names = [name for name, f in FAMILIES.items() if can(f.capabilities)]
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
