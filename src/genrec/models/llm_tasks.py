"""Alignment tasks that teach an LLM backbone the catalog's ID tokens (LC-Rec / GREAM, docs/llm.md).

Every example is one chat turn, a request and its answer, built deterministically (seeded)
from the training sequences, the semantic IDs, the item titles and, when given, preference
statements. Tasks, each with a few phrasings:

- ``next_id``: history of IDs -> next ID (the main task; its first phrasing is the one direct
  decoding prompts with),
- ``text_to_id`` / ``id_to_title``: an item's title -> its ID, and back,
- ``next_title``: history of IDs -> the next item's title,
- ``titles_to_id``: history of titles -> the next ID,
- ``statement_to_id``: a preference statement -> the item it was written for,
- ``history_to_statement``: history of IDs -> the statement of the next step,
- ``restate``: history of IDs -> the same items' titles,
- ``reasoning``: history of IDs -> a chain written in hindsight from templates (``CHAIN``:
  the history's titles, the user's statement for the step or else the history's most frequent
  category, the target's category path), the answer marker, then the next ID (reasoning mode,
  ``genrec.recommend.reasoning``).

With ``PromptStatements`` (a recipe's ``prefs.statements``) the requests of ``next_id`` and
``reasoning`` examples carry the positive statements of their target's step before the
history (``llm_prompts.with_statements``), which were written from the items before that step
only, so the backbone learns to read a request's preferences; with hindsight, some open with a
statement written from the target itself, so it learns to follow what a shopper asks for.

Only training data are read: every sequence task's target is a transition inside
``split.train`` (whose sequences stop before the validation and test targets), and statements
count only for training steps. The item tasks read the catalog (titles and IDs), which holds no
user's target.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import field, fields
from typing import NamedTuple

import numpy as np
import polars as pl
import torch

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.errors import ConfigError
from genrec.models.llm_prompts import (
    ANSWER,
    DIRECT_REQUEST,
    REASONING_REQUEST,
    ChatFormat,
    history_text,
    with_statements,
)
from genrec.prefs.chains import ChainFacts
from genrec.prefs.hindsight import TargetStatements

PHRASINGS: dict[str, tuple[str, ...]] = {
    "next_id": (
        DIRECT_REQUEST,
        "A shopper bought {history}. Which item comes next?",
        "Purchase history: {history}. Predict the next purchase.",
    ),
    "text_to_id": (
        "Which item is titled {title}?",
        "Give the ID of the item: {title}",
        "Item: {title}. Its ID?",
    ),
    "id_to_title": (
        "What is the title of {item}?",
        "Describe the item {item}.",
        "Item {item} is called?",
    ),
    "next_title": (
        "Items bought: {history}. Title of the next item?",
        "A shopper bought {history}. What do they buy next? Give its title.",
    ),
    "titles_to_id": (
        "Items bought: {titles}. Next item?",
        "A shopper bought these: {titles}. Which item comes next?",
    ),
    "statement_to_id": (
        "A shopper says: {statement} Which item fits?",
        "Recommend one item for this wish: {statement}",
    ),
    "history_to_statement": (
        "Items bought: {history}. What does the shopper want next?",
        "Describe the next wish of a shopper who bought {history}.",
    ),
    "restate": (
        "Items bought: {history}. List their titles.",
        "Restate this history in words: {history}",
    ),
    # Reasoning mode's prompt: the answer is a hindsight chain, the marker, then the next ID.
    "reasoning": (REASONING_REQUEST,),
}
#: The tasks whose prompts carry the step's statements (``PromptStatements``): the two that
#: decoding prompts with.
PROMPTED = ("next_id", "reasoning")
#: GREAM's chain in three parts, written in hindsight from the data: the writer knows the
#: target (its category path names the intent) but states only what the history supports.
CHAIN = "Evidence: bought {evidence}. Preference: {preference}. Intent: {intent}."


@configclass
class TaskMix:
    """Each task's share of the training examples (relative weights; 0 leaves it out).
    Next-item prediction is the goal, so it dominates; the others tie IDs to words."""

    next_id: float = bounded(1.0, ge=0)
    text_to_id: float = bounded(0.2, ge=0)
    id_to_title: float = bounded(0.1, ge=0)
    next_title: float = bounded(0.05, ge=0)
    titles_to_id: float = bounded(0.1, ge=0)
    # Used only with statements (prefs.statements); their weight is dropped otherwise.
    statement_to_id: float = bounded(0.1, ge=0)
    history_to_statement: float = bounded(0.05, ge=0)
    restate: float = bounded(0.05, ge=0)
    # Hindsight chains for reasoning mode (decode.mode=reasoning); 0 trains direct mode only.
    reasoning: float = bounded(0.0, ge=0)


@configclass
class CurriculumStage:
    """One stage of GREAM's curriculum: ``epochs`` epochs in which ``reasoning_share`` of the
    examples are reasoning chains and the rest the other tasks (in their ``mix`` ratios)."""

    epochs: int = bounded(1, ge=1)
    reasoning_share: float = bounded(0.0, ge=0, le=1)


@configclass
class AlignmentConfig:
    """How many alignment examples an epoch holds, and of which tasks."""

    # Examples per epoch (null: one per training transition, each task its share of them).
    examples: int | None = bounded(None, ge=1)
    mix: TaskMix = field(default_factory=TaskMix)
    # Titles are cut to this many characters: prompts stay short, and the start of a title
    # names the item.
    max_title_chars: int = bounded(60, ge=8)
    # History items the title tasks write as titles (each costs ~15 tokens, an ID 3).
    title_history: int = bounded(5, ge=1)
    # A folder written by `genrec prefs generate` for the recipe's data: its positive
    # statements of training steps feed the statement tasks (null: those tasks are left out).
    statements: str | None = None
    # GREAM's curriculum: stages (their epochs add up to train.epochs) whose share of
    # reasoning examples rises, e.g. [{epochs: 2, reasoning_share: 0}, {epochs: 4,
    # reasoning_share: 0.5}]: the backbone first learns the IDs, then to reason before them.
    # mix.reasoning then only sets how many distinct chains are written. Empty: every epoch
    # draws from the mix as it is.
    curriculum: tuple[CurriculumStage, ...] = ()

    def __post_init__(self) -> None:
        asked = [i for i, s in enumerate(self.curriculum) if s.reasoning_share > 0]
        if asked and self.mix.reasoning == 0:
            raise ValueError(
                f"curriculum[{asked[0]}].reasoning_share > 0, but mix.reasoning is 0, so no "
                "reasoning chains are written; set alignment.mix.reasoning > 0 (e.g. 1.0)"
            )
        shares = [s.reasoning_share for s in self.curriculum]
        if any(later < earlier for earlier, later in zip(shares, shares[1:], strict=False)):
            raise ValueError(
                f"curriculum: the reasoning shares {shares} fall; a curriculum's share of "
                "reasoning examples rises (or stays) from stage to stage"
            )


class PromptStatements(NamedTuple):
    """Statements for the prompts of ``next_id`` and ``reasoning`` examples: ``table``
    (columns ``user``, ``step``, ``text``, ``polarity``, as ``genrec.prefs`` writes them),
    at most ``limit`` positive ones per step; a ``drop`` share of examples keeps the plain
    prompt, so the backbone also serves requests without statements. With ``hindsight`` (the
    training targets' own statements, ``genrec.prefs.hindsight``) a ``rate`` share of the
    others opens with one of them, what the shopper wants next, and keeps the step's statements
    (about the history) with probability ``context``: the label that teaches following."""

    table: pl.DataFrame
    drop: float = 0.3
    limit: int = 5
    hindsight: TargetStatements | None = None
    rate: float = 0.0
    context: float = 1.0

    def draw(self, rng: np.random.Generator, texts: list[str], row: int) -> list[str]:
        """What one example's prompt carries: ``texts`` (the step's statements) or, with
        hindsight, training row ``row``'s target's statement first; [] for a plain prompt."""
        wanted = self.hindsight.texts(row) if self.hindsight is not None else []
        if not (texts or wanted) or rng.random() < self.drop:
            return []
        if wanted and rng.random() < self.rate:
            context = texts if rng.random() < self.context else []
            return [wanted[rng.integers(len(wanted))], *context]
        return texts


class Sample(NamedTuple):
    """One alignment example: its task, the request and the answer (text)."""

    task: str
    request: str
    answer: str


def alignment_samples(
    train: Sequences,
    item_strings: np.ndarray,
    titles: Sequence[str | None],
    config: AlignmentConfig,
    max_history: int,
    seed: int,
    statements: pl.DataFrame | None = None,
    categories: Sequence[str | None] | None = None,
    prompts: PromptStatements | None = None,
    write_chains: Callable[[Sequence[ChainFacts]], Sequence[str]] | None = None,
) -> list[Sample]:
    """The epoch's examples in a seeded random order.

    ``train``: the split's training sequences; ``item_strings [n_items]``: each item's ID text
    (``llm_prompts.item_strings``); ``titles``: one per item (None: untitled); ``statements``:
    positive preference statements (columns ``user``, ``step``, ``text``; ``step`` indexes the
    user's sequence, as ``genrec.prefs`` writes it), used for training steps only;
    ``categories``: each item's category path (``a > b``; None: none), for the chains;
    ``prompts``: statements the sequence tasks' prompts carry (see ``PromptStatements``);
    ``write_chains``: writes the reasoning chains from their facts, one per fact, in place of
    the templates (e.g. an LLM, ``genrec.prefs.chains``; None: the templates).
    """
    rng = np.random.default_rng(seed)
    names = [_title(t, config.max_title_chars) for t in titles]
    users, steps = _transitions(train)
    told = _training_statements(statements, train)
    said = _step_texts(prompts, train)
    shown: list[str] = []  # the statements the example being built carries in its prompt
    weights = {f.name: getattr(config.mix, f.name) for f in fields(TaskMix)}
    if told is None:
        weights.update(statement_to_id=0.0, history_to_statement=0.0)
    if len(users) == 0 or sum(weights.values()) == 0:
        raise ConfigError(
            "alignment: no training examples (no training transitions, or every task's "
            "alignment.mix weight is 0)"
        )
    total = config.examples or len(users)
    scale = total / sum(weights.values())

    def history(user: int, step: int) -> np.ndarray:
        return train[user][max(0, step - max_history) : step]

    def title_list(items: np.ndarray) -> str:
        return "; ".join(names[i] for i in items[-config.title_history :])

    def transition_task(task: str, make: Callable[[int, int], dict[str, str]]) -> list[Sample]:
        count = round(weights[task] * scale)
        rows = _draw(rng, len(users), count)
        phrasing = rng.integers(len(PHRASINGS[task]), size=count)
        out = []
        for row, p in zip(rows, phrasing, strict=True):
            user, step = int(users[row]), int(steps[row])
            shown[:] = []  # what the prompt carries, and the chain may cite
            if prompts is not None and task in PROMPTED:
                row = int(train.offsets[user]) + step
                shown[:] = prompts.draw(rng, said.get((user, step), []), row)
            fill = make(user, step)
            answer = fill.pop("answer")
            request = PHRASINGS[task][p].format(**fill)
            out.append(Sample(task, with_statements(request, shown), answer))
        return out

    def ids_of(user: int, step: int) -> str:
        return history_text(item_strings, history(user, step))

    def target(user: int, step: int) -> int:
        return int(train[user][step])

    samples = transition_task(
        "next_id",
        lambda u, s: {"history": ids_of(u, s), "answer": item_strings[target(u, s)]},
    )
    samples += transition_task(
        "next_title", lambda u, s: {"history": ids_of(u, s), "answer": names[target(u, s)]}
    )
    samples += transition_task(
        "titles_to_id",
        lambda u, s: {
            "titles": title_list(history(u, s)),
            "answer": item_strings[target(u, s)],
        },
    )
    samples += transition_task(
        "restate",
        lambda u, s: {
            "history": history_text(item_strings, history(u, s)[-config.title_history :]),
            "answer": title_list(history(u, s)),
        },
    )
    paths = list(categories) if categories is not None else [None] * len(names)

    def chain(user: int, step: int) -> dict[str, str]:
        seen = history(user, step)
        intent = paths[target(user, step)] or f"something like {names[target(user, step)]}"
        common = Counter(paths[i] for i in seen if paths[i]).most_common(1)
        preference = f"mostly {common[0][0]}" if common else "items like these"
        if shown:  # the user's own words, when the prompt carries them, come first
            preference = shown[0].rstrip(".!? ")
        evidence = "; ".join(names[i] for i in seen[-config.title_history :])
        text = CHAIN.format(evidence=evidence, preference=preference, intent=intent)
        item = target(user, step)
        facts.append(
            ChainFacts(
                [names[i] for i in seen[-config.title_history :]],
                list(shown),
                names[item],
                paths[item],
                text,
            )
        )
        return {"history": ids_of(user, step), "answer": text + ANSWER + item_strings[item]}

    facts: list[ChainFacts] = []
    chains = transition_task("reasoning", chain)
    if write_chains is not None and chains:
        written = write_chains(facts)
        chains = [
            Sample(c.task, c.request, text + ANSWER + c.answer.split(ANSWER)[-1])
            for c, text in zip(chains, written, strict=True)
        ]
    samples += chains
    samples += _item_tasks(rng, item_strings, names, weights, scale)
    if told is not None:
        samples += _statement_tasks(rng, told, train, item_strings, ids_of, weights, scale)
    order = rng.permutation(len(samples))
    return [samples[i] for i in order]


def curriculum_rows(
    stages: Sequence[CurriculumStage], tasks: torch.Tensor, epoch: int, generator: torch.Generator
) -> torch.Tensor:
    """The example rows epoch ``epoch`` (from 0) draws from under the curriculum ``stages``:
    as many rows as ``tasks [N]`` (``encode``'s task index per example) holds, the stage's
    ``reasoning_share`` of them reasoning examples, each example once before any repeats."""
    ends = np.cumsum([s.epochs for s in stages])
    stage = stages[min(int(np.searchsorted(ends, epoch, side="right")), len(stages) - 1)]
    is_chain = tasks == list(PHRASINGS).index("reasoning")
    chains, others = is_chain.nonzero().flatten(), (~is_chain).nonzero().flatten()
    n_chains = round(stage.reasoning_share * len(tasks))
    if (n_chains and not len(chains)) or (n_chains < len(tasks) and not len(others)):
        raise ConfigError(
            f"alignment.curriculum: epoch {epoch + 1} asks for reasoning share "
            f"{stage.reasoning_share}, but the examples hold {len(chains)} reasoning and "
            f"{len(others)} other examples; adjust alignment.mix"
        )
    return torch.cat(
        [_cycle(chains, n_chains, generator), _cycle(others, len(tasks) - n_chains, generator)]
    )


def _cycle(rows: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` of ``rows``: each once (in random order) before any repeats."""
    rounds = -(-count // len(rows)) if len(rows) else 0
    drawn = [rows[torch.randperm(len(rows), generator=generator)] for _ in range(rounds)]
    return torch.cat(drawn or [rows[:0]])[:count]


def encode(samples: Sequence[Sample], chat: ChatFormat) -> dict[str, torch.Tensor]:
    """Token tensors for ``LLMBackbone.loss``: ``input_ids [N, T]`` (prompt then answer,
    right-padded), ``lengths [N]``, ``prompt_lengths [N]`` and ``task [N]`` (index into
    ``PHRASINGS``). Prompt and answer are tokenized apart, as decoding sees them."""
    tokenizer = chat.tokenizer
    prompts = tokenizer([chat.prompt(s.request) for s in samples], add_special_tokens=False)[
        "input_ids"
    ]
    answers = tokenizer(
        [chat.answer(s.request, s.answer) for s in samples], add_special_tokens=False
    )["input_ids"]
    lengths = torch.tensor([len(p) + len(a) for p, a in zip(prompts, answers, strict=True)])
    tokens = torch.full((len(samples), int(lengths.max())), tokenizer.pad_token_id)
    for row, (p, a) in enumerate(zip(prompts, answers, strict=True)):
        tokens[row, : len(p) + len(a)] = torch.tensor(p + a)
    tasks = list(PHRASINGS)
    return {
        "input_ids": tokens,
        "lengths": lengths,
        "prompt_lengths": torch.tensor([len(p) for p in prompts]),
        "task": torch.tensor([tasks.index(s.task) for s in samples]),
    }


def _title(title: str | None, limit: int) -> str:
    text = " ".join((title or "untitled item").split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _transitions(train: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """``(users, steps)`` of every training transition: the item at ``step >= 1`` of the
    user's training sequence, predicted from the items before it."""
    counts = np.maximum(train.lengths - 1, 0)
    users = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return users, np.arange(len(users)) - first + 1


def _draw(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """``count`` indices below ``n``: each once (in random order) before any repeats."""
    rounds = -(-count // n) if n else 0
    return np.concatenate([rng.permutation(n) for _ in range(rounds)] or [np.zeros(0, int)])[:count]


def _step_texts(prompts: PromptStatements | None, train: Sequences) -> dict[tuple[int, int], list]:
    """``(user, step) -> texts``: at most ``prompts.limit`` positive statements of each
    training step (none without ``prompts``)."""
    kept = None if prompts is None else _training_statements(prompts.table, train)
    if kept is None:
        return {}
    grouped = kept.group_by("user", "step", maintain_order=True).agg(pl.col("text"))
    return {
        (u, s): list(texts)[: prompts.limit]  # type: ignore[union-attr]
        for u, s, texts in grouped.iter_rows()
    }


def _training_statements(statements: pl.DataFrame | None, train: Sequences) -> pl.DataFrame | None:
    """The positive statements of training steps (``1 <= step < training length``)."""
    if statements is None:
        return None
    lengths = pl.DataFrame({"user": np.arange(len(train)), "length": train.lengths})
    kept = (
        statements.filter(pl.col("polarity") == "positive")
        .cast({"user": pl.Int64, "step": pl.Int64})
        .join(lengths.cast({"user": pl.Int64}), on="user")
        .filter((pl.col("step") >= 1) & (pl.col("step") < pl.col("length")))
        .select("user", "step", "text")
    )
    return kept if len(kept) else None


def _item_tasks(
    rng: np.random.Generator,
    item_strings: np.ndarray,
    names: list[str],
    weights: dict[str, float],
    scale: float,
) -> list[Sample]:
    samples = []
    for task in ("text_to_id", "id_to_title"):
        count = round(weights[task] * scale)
        items = _draw(rng, len(names), count)
        phrasing = rng.integers(len(PHRASINGS[task]), size=count)
        for item, p in zip(items, phrasing, strict=True):
            title, ids = names[item], str(item_strings[item])
            if task == "text_to_id":
                samples.append(Sample(task, PHRASINGS[task][p].format(title=title), ids))
            else:
                samples.append(Sample(task, PHRASINGS[task][p].format(item=ids), title))
    return samples


def _statement_tasks(
    rng: np.random.Generator,
    told: pl.DataFrame,
    train: Sequences,
    item_strings: np.ndarray,
    ids_of: Callable[[int, int], str],
    weights: dict[str, float],
    scale: float,
) -> list[Sample]:
    users, steps, texts = (told[c].to_numpy() for c in ("user", "step", "text"))
    samples = []
    for task in ("statement_to_id", "history_to_statement"):
        count = round(weights[task] * scale)
        rows = _draw(rng, len(texts), count)
        phrasing = rng.integers(len(PHRASINGS[task]), size=count)
        for row, p in zip(rows, phrasing, strict=True):
            user, step, text = int(users[row]), int(steps[row]), str(texts[row])
            if task == "statement_to_id":
                request = PHRASINGS[task][p].format(statement=text)
                answer = item_strings[int(train[user][step])]
            else:
                request, answer = PHRASINGS[task][p].format(history=ids_of(user, step)), text
            samples.append(Sample(task, request, answer))
    return samples
