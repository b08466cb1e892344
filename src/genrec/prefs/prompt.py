"""Mender's prompt, and reading statements back out of a chat model's reply.

Shared by the ``llm`` (local ``transformers``) and ``openai`` (HTTP endpoint) generators: both
turn each step into chat messages with ``build_prompts`` and hand the replies to
``Prompts.statements``. The prompt shows the step's window (the last <= 5 items before it,
oldest first) with each item's title, categories, brand, price and shortened description and,
where the dataset has them, the user's rating and review, and asks for up to 5 statements as
JSON. Replies are read leniently (JSON with or without code fences, cut-off JSON, bulleted or
numbered lines, quoted strings); a reply with nothing readable is counted, never filled in.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from genrec.config import bounded, configclass
from genrec.data.dataset import Dataset
from genrec.prefs.polarity import Polarity
from genrec.prefs.statements import Statements
from genrec.prefs.steps import Steps, window_rows
from genrec.text.template import ItemTemplate

#: Bump when the prompt text or the parsing changes what a given model writes or keeps.
VERSION = 1

Message = dict[str, str]


@dataclass(frozen=True)
class Reply:
    """A model's answer to one prompt; ``cut_off``: it stopped at the token limit, so its last
    line may be half a statement."""

    text: str
    cut_off: bool = False


SYSTEM = (
    "You write short preference statements about online shoppers for a recommender system. "
    "You answer with JSON only."
)
INSTRUCTION = (
    "Write up to {n} short statements (under 15 words each) about what this user likes, "
    "dislikes or should avoid, based only on these items{evidence}. Describe kinds of "
    "products and their qualities, not brands or product names. Answer with a JSON list of "
    'objects: [{{"statement": "...", "polarity": "positive"}}, ...], where polarity is '
    '"positive" for what the user likes or wants and "negative" for what to avoid.'
)

#: Keys under which a reply's object carries the statement text, most usual first.
TEXT_KEYS = ("statement", "preference", "text", "description", "content", "value")
#: Keys under which it carries a label.
LABEL_KEYS = ("polarity", "sentiment", "type", "label", "kind")
#: Labels (and list keys such as {"likes": [...]}) the model may give, as polarities.
POSITIVE_LABELS = "positive pos like likes liked prefer prefers want wants love loves"
NEGATIVE_LABELS = "negative neg dislike dislikes disliked avoid avoids avoided hate hates"
LABELS: dict[str, Polarity] = {
    **dict.fromkeys(POSITIVE_LABELS.split(), "positive"),
    **dict.fromkeys(NEGATIVE_LABELS.split(), "negative"),
    **dict.fromkeys(("should avoid", "to avoid", "not interested"), "negative"),
}
# A bullet or number at the start of a line: "- ", "* ", "• ", "1. ", "2) ", "(3) ".
_ITEM_LINE = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+(.*\S)\s*$")
_QUOTED = re.compile(r'^\s*"((?:[^"\\]|\\.)+)"\s*,?\s*$')
_FENCE = re.compile(r"```[a-zA-Z]*")
# An item line of the prompt, copied back ("Title: ...; Brand: ...").
_FIELD_LINE = re.compile(r"^(?:title|item|brand|categories|price|description|rating|review):", re.I)


@configclass
class PromptConfig:
    """What the prompt shows of each step's window, and how many statements it asks for."""

    window: int = bounded(5, ge=1, le=20)  # items read before the step, as in Mender
    max_statements: int = bounded(5, ge=1, le=20)  # Mender asks for 5; more are dropped
    # Item descriptions and reviews are cut at a word boundary: the prompt of 5 items must stay
    # far below a small model's context (SmolLM2: 8k tokens) and fast to read.
    description_chars: int = bounded(200, ge=0)  # 0 leaves descriptions out
    review_chars: int = bounded(300, ge=0)  # 0 leaves reviews out


@dataclass(frozen=True)
class Prompts:
    """Chat messages for the steps that have a window; ``skipped`` counts the others."""

    users: np.ndarray  # [P] user of each prompt
    steps: np.ndarray  # [P] step of each prompt
    messages: list[list[Message]]
    max_statements: int
    skipped: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.messages)

    def statements(
        self,
        dataset: Dataset,
        generator: str,
        replies: Sequence[Reply | None],
        skipped: Mapping[str, int] | None = None,
    ) -> Statements:
        """The statements read from ``replies`` (one per prompt; None: no reply, counted by the
        caller in ``skipped``). Unreadable replies, statements that copy the prompt's item lines
        and statements past ``max_statements`` are counted; a polarity the model did not give
        is left to the lexicon classifier."""
        if len(replies) != len(self):
            raise ValueError(f"expected {len(self)} replies, got {len(replies)}")
        counts = Counter(self.skipped) + Counter(skipped or {})
        rows: list[tuple[int, int, str, str | None, str]] = []
        for user, step, chat, reply in zip(
            self.users, self.steps, self.messages, replies, strict=True
        ):
            if reply is None:
                continue
            read = parse_reply(reply.text, cut_off=reply.cut_off)
            found = [(t, label) for t, label in read if not _echoes(t, chat[-1]["content"])]
            counts["echoed_prompt"] += len(read) - len(found)
            if not read:
                counts["unparseable_reply"] += 1
            counts["extra_statements"] += max(0, len(found) - self.max_statements)
            for text, label in found[: self.max_statements]:
                kind = "labelled" if label else "unlabelled"
                rows.append((int(user), int(step), text, label, kind))
        frame = pl.DataFrame(
            rows,
            schema={
                "user": pl.Int32,
                "step": pl.Int32,
                "text": pl.String,
                "polarity": pl.String,
                "kind": pl.String,
            },
            orient="row",
        )
        return Statements.from_rows(dataset, generator, frame, counts)


def build_prompts(dataset: Dataset, steps: Steps, config: PromptConfig) -> Prompts:
    """One chat (system + user message) per step that has at least one item before it."""
    window = window_rows(dataset, steps, config.window)
    lines = _item_lines(dataset, window, config).sort("case", "recency", descending=[False, True])
    grouped = lines.group_by("case", maintain_order=True).agg("line", "opinion")
    evidence = _evidence(dataset, config)
    messages, kept = [], []
    for case, item_lines, opinions in grouped.iter_rows():
        listing = "\n".join(f"{i}. {line}" for i, line in enumerate(item_lines, 1))
        with_opinions = " (with the user's rating and review)" if any(opinions) else ""
        text = (
            f"Here are the last {len(item_lines)} items a user bought, oldest first"
            f"{with_opinions}:\n\n{listing}\n\n"
            + INSTRUCTION.format(n=config.max_statements, evidence=evidence)
        )
        messages.append([{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}])
        kept.append(case)
    index = np.asarray(kept, dtype=np.int64)
    no_history = len(steps) - len(index)
    return Prompts(
        steps.users[index],
        steps.steps[index],
        messages,
        config.max_statements,
        {"no_history": no_history} if no_history else {},
    )


def _evidence(dataset: Dataset, config: PromptConfig) -> str:
    """ " and the user's ratings and reviews", as far as the dataset has them."""
    shown = [n for n, c in (("ratings", "rating"), ("reviews", "review")) if dataset.has(c)]
    if config.review_chars == 0:
        shown = [n for n in shown if n != "reviews"]
    return f" and the user's {' and '.join(shown)}" if shown else ""


def _item_lines(dataset: Dataset, window: pl.DataFrame, config: PromptConfig) -> pl.DataFrame:
    """Per window row (``case``, ``recency``): the item's fields, then the user's rating and
    review (``line``), and whether the user's opinion was shown (``opinion``)."""
    fields = ("title", "categories", "brand", "price")
    if config.description_chars > 0:
        fields += ("description",)
    template = ItemTemplate(fields=fields, max_description_chars=config.description_chars or None)
    items = window["item"].unique().sort()
    texts = dict(zip(items.to_list(), template.render(dataset.items[items]), strict=True))
    columns = [c for c in ("rating", "review") if dataset.has(c)]
    opinions = (
        dataset.interactions.select(columns)[window["row"]].to_dicts()
        if columns
        else [{}] * window.height
    )
    lines, shown = [], []
    for item, opinion in zip(window["item"].to_list(), opinions, strict=True):
        extra = []
        if opinion.get("rating") is not None:
            extra.append(f"Rating: {opinion['rating']:g}/5")
        review = (opinion.get("review") or "").strip()
        if review and config.review_chars > 0:
            extra.append(
                f"Review: {textwrap.shorten(review, config.review_chars, placeholder='…')}"
            )
        lines.append("\n   ".join([texts[item], *extra]))
        shown.append(bool(extra))
    return window.select("case", "recency").with_columns(
        line=pl.Series(lines, dtype=pl.String), opinion=pl.Series(shown, dtype=pl.Boolean)
    )


def parse_reply(reply: str, cut_off: bool = False) -> list[tuple[str, Polarity | None]]:
    """``(statement, polarity or None)`` pairs read from a model's reply, in order, deduplicated.

    Tries JSON first (a list of strings or objects, an object holding such a list or lists
    keyed by a label such as ``likes`` / ``avoid``; code fences and a cut-off end are
    tolerated), then bulleted or numbered lines and lines that are a quoted string; when the
    reply was ``cut_off`` inside such a line, that line is dropped. Anything else reads as
    nothing: the caller counts it.
    """
    text = _FENCE.sub("", reply).strip()
    found = _from_json(text)
    if not found:
        lines = text.splitlines()
        matches = [_ITEM_LINE.match(line) or _QUOTED.match(line) for line in lines]
        if cut_off and matches and matches[-1]:
            matches[-1] = None  # the model was still writing it
        found = [(m.group(1), None) for m in matches if m]
    out: dict[str, tuple[str, Polarity | None]] = {}
    for raw, label in found:
        clean = _clean(raw)
        if clean and clean.lower() not in out:
            out[clean.lower()] = (clean, label)
    return list(out.values())


def _from_json(text: str) -> list[tuple[str, Polarity | None]]:
    """Statements from the first JSON value in ``text`` that holds any (may be cut off)."""
    from partial_json_parser import Allow, loads

    decoder = json.JSONDecoder()
    for start in (i for i, c in enumerate(text) if c in "[{"):
        try:
            value = decoder.raw_decode(text, start)[0]
        except ValueError:
            try:  # cut off by the token limit: keep the complete strings, drop the broken end
                value = loads(text[start:], Allow.ALL & ~Allow.STR)
            except Exception:  # noqa: BLE001 - on some malformed text it fails an assert or
                continue  # pops an empty stack (IndexError): any failure means "not JSON here"
        found = _walk(value, None)
        if found:
            return found
    return []


def _walk(value: object, label: Polarity | None) -> list[tuple[str, Polarity | None]]:
    if isinstance(value, str):
        return [(value, label)]
    if isinstance(value, list):
        return [pair for v in value for pair in _walk(v, label)]
    if not isinstance(value, dict):
        return []
    text = next((value[k] for k in TEXT_KEYS if isinstance(value.get(k), str)), None)
    if text is not None:
        given = next((value[k] for k in LABEL_KEYS if isinstance(value.get(k), str)), None)
        return [(text, _label(given) or label)]
    # {"likes": [...], "avoid": [...]}, Mender's {"1": "...", "2": "..."}, or a wrapper such
    # as {"preferences": [...]}; a string under any other key ({"brand": "HP"}) is not a
    # statement.
    found = []
    for key, inner in value.items():
        if isinstance(inner, (list, dict)) or _label(key) or key.strip().isdigit():
            found += _walk(inner, _label(key) or label)
    return found


def _echoes(statement: str, prompt: str) -> bool:
    """Whether ``statement`` copies the prompt (an item line) instead of describing the user."""
    return statement.lower() in prompt.lower() or bool(_FIELD_LINE.match(statement))


def _label(word: str | None) -> Polarity | None:
    if not word:
        return None
    return LABELS.get(word.strip().lower().replace("_", " "))


def _clean(text: str) -> str:
    """Whitespace collapsed, wrapping quotes and trailing commas dropped."""
    text = re.sub(r"\s+", " ", text).strip().rstrip(",").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    # "..." or "-" copied from a format example is no statement: it must say something.
    return text if any(c.isalpha() for c in text) else ""
