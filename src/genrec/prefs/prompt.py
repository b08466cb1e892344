"""Mender's prompt, and reading statements back out of a chat model's reply.

Shared by the ``llm`` (local ``transformers``) and ``openai`` (HTTP endpoint) generators: both
turn each step into chat messages with ``build_prompts`` and hand the replies to
``Prompts.statements``. The prompt shows the step's window (the last <= 5 items before it,
oldest first) with each item's title, categories, brand, price and shortened description and,
where the dataset has them, the user's rating and review, and asks for up to 5 statements as
JSON. Replies are read leniently (JSON with or without code fences, cut-off JSON, bulleted or
numbered lines, quoted strings); a reply with nothing readable is counted, never filled in. A
negative statement that only negates one of the same reply's positives ("Likes acoustic guitar
strings" / "Avoids acoustic guitar strings", as SmolLM2 writes) says nothing new and is dropped.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from partial_json_parser import Allow, loads

from genrec.config import bounded, configclass
from genrec.data.dataset import Dataset
from genrec.prefs.polarity import NEGATION_CUES, Polarity, polarity
from genrec.prefs.statements import Statements
from genrec.prefs.steps import Steps, window_rows
from genrec.prefs.words import STOPWORDS
from genrec.text.template import ItemTemplate

#: Bump when the prompt text or the parsing changes what a given model writes or keeps.
VERSION = 2

Message = dict[str, str]


@dataclass(frozen=True)
class Reply:
    """A model's answer to one prompt; ``cut_off``: it stopped at the token limit, so its last
    line may be half a statement."""

    text: str
    cut_off: bool = False


_ROLE = "You write short preference statements about online shoppers for a recommender system."
SYSTEM = {"json": f"{_ROLE} You answer with JSON only.", "lines": _ROLE}
ASK = (
    "Write up to {n} short statements (under 15 words each) about what this user likes, "
    "dislikes or should avoid, based only on these items{evidence}. Describe kinds of "
    "products and their qualities, not brands or product names. "
)
#: How the answer should look, per ``PromptConfig.answer``.
ANSWER = {
    "json": 'Answer with a JSON list of objects: [{{"statement": "...", "polarity": '
    '"positive"}}, ...], where polarity is "positive" for what the user likes or wants and '
    '"negative" for what to avoid.',
    "lines": 'Write one statement per line, each starting with "- Likes", "- Wants", '
    '"- Dislikes" or "- Avoids".',
}
# The worked example shown before the question (PromptConfig.example): small models copy the
# format of an answer more reliably than they follow a description of it. Its domain (kitchen
# knives) is far from the datasets', and statements copied from it are dropped.
EXAMPLE_ITEMS = (
    "Title: Stainless Steel Chef Knife, 8 Inch; Categories: Kitchen > Cutlery; Price: $39.99\n"
    "   Rating: 5/5\n   Review: Razor sharp and well balanced.",
    "Title: Bamboo Cutting Board, Large; Categories: Kitchen > Cutting Boards; Price: $24.99\n"
    "   Rating: 2/5\n   Review: Warped after two washes.",
    "Title: Ceramic Knife Sharpener; Categories: Kitchen > Cutlery > Sharpeners; Price: $15.99",
)
EXAMPLE_STATEMENTS = (
    ("Wants sharp, well-balanced kitchen knives", "positive"),
    ("Likes keeping blades in good condition", "positive"),
    ("Avoids wooden boards that warp when washed", "negative"),
)
EXAMPLE_REPLY = {
    "json": json.dumps([{"statement": t, "polarity": p} for t, p in EXAMPLE_STATEMENTS]),
    "lines": "\n".join(f"- {t}" for t, _ in EXAMPLE_STATEMENTS),
}

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
#: A statement opening with this many characters of the prompt copies it.
ECHO_CHARS = 40
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A verb that makes a prose sentence a preference statement.
_PREFERENCE_WORD = re.compile(
    r"\b(?:(?:dis)?lik(?:e|es|ed)|prefer(?:s|red)?|wants?|lov(?:e|es|ed)|hat(?:e|es|ed)|"
    r"avoid(?:s|ed)?|enjoy(?:s|ed)?)\b",
    re.IGNORECASE,
)
# What _echoes looks past: a label word, with or without a colon, then a number.
_LEAD = re.compile(
    rf"^\s*(?:(?:{'|'.join(sorted(LABELS, key=len, reverse=True))})\b\s*:?\s*)?"
    r"(?:\(?\d{1,2}[.)]\s*)?",
    re.IGNORECASE,
)
# An item line of the prompt, copied back ("Title: ...; Brand: ...").
_FIELD_LINE = re.compile(r"^(?:title|item|brand|categories|price|description|rating|review):", re.I)
#: A negative whose content words are at least this share of one positive's is its negation.
NEGATED_SHARE = 0.75


@configclass
class PromptConfig:
    """What the prompt shows of each step's window, and how many statements it asks for."""

    window: int = bounded(5, ge=1, le=20)  # items read before the step, as in Mender
    max_statements: int = bounded(5, ge=1, le=20)  # Mender asks for 5; more are dropped
    # Item descriptions and reviews are cut at a word boundary: the prompt of 5 items must stay
    # far below a small model's context (SmolLM2: 8k tokens) and fast to read.
    description_chars: int = bounded(200, ge=0)  # 0 leaves descriptions out
    review_chars: int = bounded(300, ge=0)  # 0 leaves reviews out
    # json: Mender's JSON list of statements with a polarity. lines: one statement per line
    # starting with Likes / Wants / Dislikes / Avoids, which SmolLM2-135M follows far more often
    # (benchmarks/results/prefs-llm-generator.md); the polarity then comes from that word.
    answer: Literal["json", "lines"] = "json"
    # A worked example (a question and its answer) before the question: helps small models
    # keep the format, at the cost of a longer prompt.
    example: bool = False


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
            shown = "\n".join(m["content"] for m in chat[1:])  # the example and the question
            found = [(t, label) for t, label in read if not _echoes(t, shown)]
            counts["echoed_prompt"] += len(read) - len(found)
            kept = _drop_negated_positives(found)
            counts["negated_positive"] += len(found) - len(kept)
            found = kept
            if not read:
                counts["unparseable_reply"] += 1
            counts["extra_statements"] += max(0, len(found) - self.max_statements)
            for text, label in found[: self.max_statements]:
                kind = "labelled" if label else "unlabelled"
                rows.append((int(user), int(step), text, label, kind))
        return Statements.from_rows(dataset, generator, rows, counts)


def build_prompts(dataset: Dataset, steps: Steps, config: PromptConfig) -> Prompts:
    """One chat per step that has at least one item before it: the system message, the worked
    example (a question and its answer) when ``config.example``, and the step's question."""
    window = window_rows(dataset, steps, config.window)
    lines = _item_lines(dataset, window, config).sort("case", "recency", descending=[False, True])
    grouped = lines.group_by("case", maintain_order=True).agg("line", "opinion")
    answer = ANSWER[config.answer]
    instruction = ASK.format(n=config.max_statements, evidence=_evidence(dataset, config)) + answer
    opening: list[Message] = [{"role": "system", "content": SYSTEM[config.answer]}]
    if config.example:
        example = _question(EXAMPLE_ITEMS, True, ASK.format(n=3, evidence="") + answer)
        opening += [
            {"role": "user", "content": example},
            {"role": "assistant", "content": EXAMPLE_REPLY[config.answer]},
        ]
    messages, kept = [], []
    for case, item_lines, opinions in grouped.iter_rows():
        question = _question(item_lines, any(opinions), instruction)
        messages.append([*opening, {"role": "user", "content": question}])
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


def _question(item_lines: Sequence[str], opinions: bool, instruction: str) -> str:
    listing = "\n".join(f"{i}. {line}" for i, line in enumerate(item_lines, 1))
    shown = " (with the user's rating and review)" if opinions else ""
    return (
        f"Here are the last {len(item_lines)} items a user bought, oldest first{shown}:\n\n"
        f"{listing}\n\n{instruction}"
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
    tolerated), then bulleted or numbered lines and lines that are a quoted string, then, in
    prose, the sentences with a preference verb (likes, prefers, avoids, ...); when the reply
    was ``cut_off`` inside such a line or sentence, it is dropped. Anything else reads as
    nothing: the caller counts it. Without a label, a statement opening with one ("Avoids
    ...", "Dislikes: ...") takes its polarity from it.
    """
    text = _FENCE.sub("", reply).strip()
    found = _from_json(text)
    if not found:
        lines = text.splitlines()
        matches = [_ITEM_LINE.match(line) or _QUOTED.match(line) for line in lines]
        if cut_off and matches and matches[-1]:
            matches[-1] = None  # the model was still writing it
        found = [(m.group(1), None) for m in matches if m]
    if not found:  # prose: the sentences that state a preference
        sentences = _SENTENCE_END.split(text)
        if cut_off and sentences:
            sentences = sentences[:-1] if not sentences[-1].endswith((".", "!", "?")) else sentences
        found = [(s, None) for s in sentences if _PREFERENCE_WORD.search(s)]
    out: dict[str, tuple[str, Polarity | None]] = {}
    for raw, label in found:
        clean, first_word = _labelled_line(_clean(raw))
        if clean and clean.lower() not in out:
            out[clean.lower()] = (clean, label or first_word)
    return list(out.values())


def _from_json(text: str) -> list[tuple[str, Polarity | None]]:
    """Statements from the first JSON value in ``text`` that holds any (may be cut off)."""
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


def _labelled_line(text: str) -> tuple[str, Polarity | None]:
    """A line's statement, its polarity from its first word when that is a label ("Avoids
    ...", "Dislikes: ..."); the colon some models put after the label is dropped."""
    head, colon, rest = text.partition(":")
    if colon and _label(head):
        return f"{head.strip()} {rest.strip()}", _label(head)
    return text, _label(text.split(maxsplit=1)[0]) if text else None


def _drop_negated_positives(
    found: list[tuple[str, Polarity | None]],
) -> list[tuple[str, Polarity | None]]:
    """``found`` without the negatives whose content words are mostly (``NEGATED_SHARE``) those
    of one positive of the same reply; an unlabelled statement gets the lexicon's polarity."""
    unlabelled = [t for t, label in found if label is None]
    guessed = iter(polarity(unlabelled))
    labels = [label or next(guessed) for _, label in found]
    positives = [
        _content(t) for (t, _), lab in zip(found, labels, strict=True) if lab == "positive"
    ]

    def negates(words: set[str]) -> bool:
        return bool(words) and any(len(words & p) >= NEGATED_SHARE * len(words) for p in positives)

    return [
        pair
        for pair, label in zip(found, labels, strict=True)
        if label == "positive" or not negates(_content(pair[0]))
    ]


def _content(statement: str) -> set[str]:
    """The words that say what a statement is about: no stop words, labels ("likes"), or
    negation cues ("avoids", "not"); plurals folded ("strings" = "string")."""
    words = re.findall(r"[a-z]+", NEGATION_CUES.sub(" ", statement.lower()))
    return {w.removesuffix("s") for w in words if w not in STOPWORDS and w not in LABELS}


def _echoes(statement: str, prompt: str) -> bool:
    """Whether ``statement`` copies the prompt rather than describing the user: it is a piece
    of it, opens with ``ECHO_CHARS`` characters of it (the instruction restated, an item title
    with more words after it), or is an item line behind a label and a number ("Likes 1.
    Title: ...")."""
    core = _LEAD.sub("", statement)
    return statement.lower()[:ECHO_CHARS] in prompt.lower() or bool(_FIELD_LINE.match(core))


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
