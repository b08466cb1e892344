"""Preference statement generators, by name: each is one file (its settings and its
``Generator``, ``genrec.prefs.statements``) and one line in ``GENERATORS``.

``genrec prefs generate <data> generator=NAME`` looks the name up here: the entry says which
settings class it reads (``PrefsConfig``'s section of the same name, e.g. ``llm.model=...``),
how to build the generator from them, and how many users a resumable chunk holds by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genrec.config import registered
from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
from genrec.prefs.llm import LLMConfig, LLMGenerator
from genrec.prefs.openai import OpenAIConfig, OpenAIGenerator
from genrec.prefs.statements import Generator


@dataclass(frozen=True)
class GeneratorEntry:
    """How to make one generator from its settings."""

    config: type[Any]  # its settings: the PrefsConfig section named like the generator
    build: Callable[[Any], Generator]  # settings -> the generator
    # Users per resumable chunk when `chunk_users` is not set: a kill loses at most one chunk.
    chunk_users: int


#: ``generator=`` name -> its entry.
GENERATORS: dict[str, GeneratorEntry] = {
    # The offline default, no model: 2000 users take about a second.
    "attributes": GeneratorEntry(AttributesConfig, AttributesGenerator, chunk_users=2000),
    # A local instruction model (SmolLM2 by default, `pip install 'genrec[llm]'`): 8 users are
    # 16 steps, one batch, ~1.5 min for SmolLM2 on a CPU core (benchmarks/RESULTS.md).
    "llm": GeneratorEntry(LLMConfig, LLMGenerator, chunk_users=8),
    # An OpenAI-compatible chat endpoint, asked concurrently.
    "openai": GeneratorEntry(OpenAIConfig, OpenAIGenerator, chunk_users=256),
}


def generator_entry(name: str) -> GeneratorEntry:
    """The entry of generator ``name`` (``ConfigError`` listing the known names otherwise)."""
    return registered(GENERATORS, name, "generator")
