"""Hindsight reasoning chains written by a chat model, for the LLM backbone's reasoning mode.

The alignment tasks write each reasoning example's chain from templates (``llm_tasks.CHAIN``).
Here a chat model writes it instead, through the clients of the ``llm`` (a local model) and
``openai`` (any OpenAI-compatible endpoint) statement generators. The writer is told, in
hindsight, the item bought next (GREAM): the chain has to lead to it, yet reason only from the
history and never name it. Replies are read robustly (markdown, a chatty preamble, labels in
any case); one that cannot be used (no reply, cut off, no intent, too long, naming the target,
writing ID tokens) is counted by reason and replaced by the template's chain, so every example
keeps a chain. Written chains are kept in a JSON-lines cache keyed by their prompt (a run's
``chains.jsonl``), so a resumed run does not ask again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Literal, NamedTuple

from genrec.atomic import atomic_file
from genrec.config import bounded, configclass
from genrec.prefs.llm import LLMConfig, LLMGenerator
from genrec.prefs.openai import OpenAIConfig, OpenAIGenerator
from genrec.prefs.prompt import Message, Reply

#: A chat model as the writer sees it: chats -> one reply each (None: no reply).
Complete = Callable[[Sequence[list[Message]]], Sequence[Reply | None]]

SYSTEM = (
    "You explain product recommendations. Given what a shopper bought and the item they "
    "bought next, write the reasoning that leads from the purchases to that kind of item, as "
    "if you did not know it: three short sentences, 'Evidence: ...', 'Preference: ...', "
    "'Intent: ...'. Never name or quote the next item."
)
ASK = "Bought, oldest first: {history}.{said}\nBought next (do not name it): {target}{category}."
LABELS = ("evidence", "preference", "intent")
_ID_TOKEN = re.compile(r"<[a-z]_\d+>|<answer>", re.IGNORECASE)
_LABEL = re.compile(r"\**\s*(evidence|preference|intent)\s*\**\s*:\s*\**", re.IGNORECASE)


class ChainFacts(NamedTuple):
    """What a hindsight chain's writer knows of one reasoning example: the last titles of the
    history (oldest first), the user's statements for the step, the target's title and
    category path (the hindsight: a chain may lead there but must not name it), and the
    template's chain (the fallback)."""

    history: list[str]
    statements: list[str]
    target: str
    category: str | None
    template: str


@configclass
class ChainsConfig:
    """Who writes the hindsight chains of reasoning examples (``alignment.mix.reasoning``)."""

    # "template": llm_tasks.CHAIN over the history's titles, statements and the target's
    # category (offline, instant); "llm": a local chat model (chains.llm, e.g. smollm2);
    # "openai": an OpenAI-compatible endpoint (chains.openai.url / .model).
    writer: Literal["template", "llm", "openai"] = "template"
    llm: LLMConfig = field(default_factory=lambda: LLMConfig(max_new_tokens=96))
    openai: OpenAIConfig = field(default_factory=lambda: OpenAIConfig(max_tokens=96))
    # A chain longer than this many words is unusable (the decoding cap is in tokens).
    max_words: int = bounded(60, ge=5)


def chain_chat(facts: ChainFacts) -> list[Message]:
    """The hindsight prompt of one reasoning example."""
    said = f"\nThe shopper said: {' '.join(facts.statements)}" if facts.statements else ""
    category = f" (category: {facts.category})" if facts.category else ""
    ask = ASK.format(
        history="; ".join(facts.history), said=said, target=facts.target, category=category
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}]


def read_chain(reply: Reply | None, facts: ChainFacts, max_words: int) -> tuple[str | None, str]:
    """``(chain, "ok")`` read from ``reply``, or ``(None, reason)`` when it cannot be used.

    The chain is rewritten as ``Evidence: ... Preference: ... Intent: ...`` from the labelled
    parts the reply has (markdown, bullets and any text before the first label dropped); an
    intent is required, and the reply must not name the target or write ID tokens."""
    if reply is None or not reply.text.strip():
        return None, "no_reply"
    if reply.cut_off:
        return None, "cut_off"
    text = reply.text.replace("`", " ")
    if _ID_TOKEN.search(text):
        return None, "id_tokens"
    found = list(_LABEL.finditer(text))
    if not found:
        return None, "no_intent"
    parts: dict[str, str] = {}
    ends = [m.start() for m in found[1:]] + [len(text)]
    for match, end in zip(found, ends, strict=True):
        body = " ".join(text[match.end() : end].replace("*", " ").split()).strip(" -;")
        label = match.group(1).lower()
        if body and label not in parts:
            parts[label] = body.rstrip(".") + "."
    if "intent" not in parts:
        return None, "no_intent"
    chain = " ".join(f"{label.capitalize()}: {parts[label]}" for label in LABELS if label in parts)
    if len(chain.split()) > max_words:
        return None, "too_long"
    if _names(chain, facts.target):
        return None, "names_target"
    return chain, "ok"


def _names(chain: str, title: str) -> bool:
    """Whether ``chain`` quotes ``title`` (its first three words, which name the product)."""
    words = re.findall(r"\w+", title.lower())[:3]
    return len(words) >= 2 and " ".join(words) in " ".join(re.findall(r"\w+", chain.lower()))


class ChainWriter:
    """Writes chains through ``complete`` (a chat model), one per ``ChainFacts``; unusable
    replies are counted in ``counts`` and replaced by the template's chain. ``cache``: a
    JSON-lines file of written chains by prompt, read first and appended to."""

    def __init__(self, complete: Complete, max_words: int = 60, cache: Path | None = None) -> None:
        self.complete = complete
        self.max_words = max_words
        self.cache = cache
        self.counts: Counter[str] = Counter()

    def __call__(self, facts: Sequence[ChainFacts]) -> list[str]:
        chats = [chain_chat(f) for f in facts]
        keys = [_key(chat) for chat in chats]
        known = self._read_cache()
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        missing = [i for key, i in first.items() if key not in known]
        replies = self.complete([chats[i] for i in missing]) if missing else []
        if len(replies) != len(missing):
            raise RuntimeError(f"expected {len(missing)} replies, got {len(replies)}")
        for i, reply in zip(missing, replies, strict=True):
            known[keys[i]] = read_chain(reply, facts[i], self.max_words)
        self._write_cache(known)
        out = []
        for fact, key in zip(facts, keys, strict=True):
            chain, reason = known[key]
            self.counts[reason] += 1
            out.append(chain or fact.template)
        return out

    def _read_cache(self) -> dict[str, tuple[str | None, str]]:
        if self.cache is None or not self.cache.is_file():
            return {}
        rows = [json.loads(line) for line in self.cache.read_text().splitlines() if line]
        return {r["key"]: (r["chain"], r["reason"]) for r in rows}

    def _write_cache(self, known: dict[str, tuple[str | None, str]]) -> None:
        if self.cache is None:
            return
        lines = [json.dumps({"key": k, "chain": c, "reason": r}) for k, (c, r) in known.items()]
        with atomic_file(self.cache) as tmp:
            tmp.write_text("\n".join(lines) + "\n")


def _key(chat: list[Message]) -> str:
    return hashlib.sha256(json.dumps(chat).encode()).hexdigest()[:24]


def chain_writer(config: ChainsConfig, cache: Path | None = None) -> ChainWriter | None:
    """The writer ``config`` names (None for the templates)."""
    if config.writer == "template":
        return None
    if config.writer == "llm":
        complete: Complete = LLMGenerator(config.llm).complete
    else:
        complete = OpenAIGenerator(config.openai).complete
    return ChainWriter(complete, config.max_words, cache)
