"""Alignment tasks: deterministic, several phrasings, mixing ratios, training data only."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import polars as pl
import pytest
import torch

from genrec.data.splits import leave_one_out
from genrec.errors import ConfigError
from genrec.models.llm_prompts import ANSWER, ChatFormat, item_strings
from genrec.models.llm_tasks import (
    PHRASINGS,
    AlignmentConfig,
    CurriculumStage,
    PromptStatements,
    TaskMix,
    alignment_samples,
    curriculum_rows,
    encode,
)
from genrec.prefs.hindsight import Hindsight, TargetStatements
from genrec.sid.semantic_ids import SemanticIds
from tests.conftest import cycle_dataset

N_ITEMS = 40


@pytest.fixture(scope="module")
def split():
    return leave_one_out(cycle_dataset(n_users=60, n_items=N_ITEMS), max_history=20)


@pytest.fixture(scope="module")
def strings() -> np.ndarray:
    items = np.arange(N_ITEMS)
    return item_strings(SemanticIds(np.stack([items // 8, items % 8], 1), (5, 8)))


TITLES = [f"Item number {i}" for i in range(N_ITEMS)]


def statements_for(split) -> pl.DataFrame:
    """One positive statement per step of every user's full sequence (training steps, and
    the validation and test steps after them), naming its step and user."""
    rows = [
        (user, step, f"Wants S{step} U{user}.", "positive")
        for user in range(len(split.train))
        for step in range(len(split.train[user]) + 2)
    ]
    return pl.DataFrame(rows, schema=["user", "step", "text", "polarity"], orient="row")


def test_samples_are_deterministic_and_mixed_as_configured(split, strings):
    config = AlignmentConfig(examples=2000)
    first = alignment_samples(split.train, strings, TITLES, config, 20, seed=3)
    assert first == alignment_samples(split.train, strings, TITLES, config, 20, seed=3)
    assert first != alignment_samples(split.train, strings, TITLES, config, 20, seed=4)
    counts = Counter(s.task for s in first)
    mix = TaskMix()
    told = ("statement_to_id", "history_to_statement")  # no statements given: left out
    used = {t: getattr(mix, t) for t in PHRASINGS if t not in told and getattr(mix, t) > 0}
    total = sum(used.values())
    for task, weight in used.items():
        assert counts[task] == round(2000 * weight / total)
    # Several phrasings of each task are used.
    for task in used:
        requests = [s.request for s in first if s.task == task]
        used_phrasings = {
            p for p in PHRASINGS[task] if any(r.startswith(p.split("{")[0]) for r in requests)
        }
        assert len(used_phrasings) >= 2, task


def test_zero_weights_leave_tasks_out(split, strings):
    mix = TaskMix(text_to_id=0, id_to_title=0, next_title=0, titles_to_id=0, restate=0)
    samples = alignment_samples(split.train, strings, TITLES, AlignmentConfig(mix=mix), 20, 0)
    assert {s.task for s in samples} == {"next_id"}
    # examples=None: one per training transition
    assert len(samples) == int((split.train.lengths - 1).clip(min=0).sum())
    nothing = TaskMix(**{t: 0.0 for t in PHRASINGS})
    with pytest.raises(ConfigError, match="mix"):
        alignment_samples(split.train, strings, TITLES, AlignmentConfig(mix=nothing), 20, 0)


def test_no_validation_or_test_target_is_ever_trained_on(split, strings):
    """Every (history, next item) a sequence task teaches is a transition of the training
    sequences, and statements are those of training steps only; the held-out cases'
    (history, target) pairs are taught only where a training transition is the same."""
    config = AlignmentConfig(examples=6000)
    samples = alignment_samples(split.train, strings, TITLES, config, 20, 0, statements_for(split))
    transitions = {
        (", ".join(strings[split.train[u][max(0, s - 20) : s]]), strings[split.train[u][s]])
        for u in range(len(split.train))
        for s in range(1, len(split.train[u]))
    }
    taught = set()
    for sample in samples:
        if sample.task == "next_id":
            history = _fill(sample.request, PHRASINGS["next_id"], "history")
            assert (history, sample.answer) in transitions
            taught.add((history, sample.answer))
        if sample.task in ("statement_to_id", "history_to_statement"):
            text = sample.request if sample.task == "statement_to_id" else sample.answer
            step, user = map(int, re.search(r"S(\d+) U(\d+)", text).groups())
            assert 1 <= step < len(split.train[user]), sample
    assert {"statement_to_id", "history_to_statement"} <= {s.task for s in samples}
    for cases in (split.valid, split.test):
        for history, target in zip(cases.histories, cases.targets, strict=True):
            pair = (", ".join(strings[history[history >= 0]]), strings[target])
            assert pair not in taught or pair in transitions


def _fill(text: str, phrasings: tuple[str, ...], field: str) -> str:
    """The value of ``{field}`` in ``text``, written with one of ``phrasings``."""
    for phrasing in phrasings:
        before, after = phrasing.split("{" + field + "}")
        if text.startswith(before) and text.endswith(after):
            return text[len(before) : len(text) - len(after)]
    raise AssertionError(f"{text!r} is in none of the phrasings")


def test_encode_marks_prompt_and_answer(tiny_causal_lm, split, strings):
    from genrec.text.llm import load_causal_lm

    _, tokenizer = load_causal_lm(str(tiny_causal_lm), device="cpu")
    tokens = sorted({t for s in strings for t in s.replace(">", "> ").split()})
    tokenizer.add_tokens(tokens, special_tokens=True)
    chat = ChatFormat(tokenizer, "Be brief.")
    samples = alignment_samples(split.train, strings, TITLES, AlignmentConfig(examples=20), 5, 0)
    data = encode(samples, chat)
    for row, sample in enumerate(samples):
        length, prompt = int(data["lengths"][row]), int(data["prompt_lengths"][row])
        tokens = data["input_ids"][row]
        assert tokenizer.decode(tokens[:prompt]) == chat.prompt(sample.request)
        assert tokenizer.decode(tokens[prompt:length]) == chat.answer(sample.request, sample.answer)
        assert (tokens[length:] == tokenizer.pad_token_id).all()
        assert list(PHRASINGS)[int(data["task"][row])] == sample.task


def test_reasoning_chains_are_written_in_hindsight_then_the_answer(split, strings):
    mix = TaskMix(**{t: 0.0 for t in PHRASINGS} | {"reasoning": 1.0})
    categories = [f"Office > Group {i % 4}" for i in range(N_ITEMS)]
    samples = alignment_samples(
        split.train,
        strings,
        TITLES,
        AlignmentConfig(examples=50, mix=mix),
        20,
        0,
        None,
        categories,
    )
    assert {s.task for s in samples} == {"reasoning"}
    for sample in samples:
        history = _fill(sample.request, PHRASINGS["reasoning"], "history")
        chain, answer = sample.answer.split(ANSWER)
        target = list(strings).index(answer)
        assert (history, answer) in {
            (", ".join(strings[split.train[u][max(0, s - 20) : s]]), strings[split.train[u][s]])
            for u in range(len(split.train))
            for s in range(1, len(split.train[u]))
        }
        assert (
            chain.startswith("Evidence: bought ") and "Preference: mostly Office > Group" in chain
        )
        assert chain.endswith(f"Intent: {categories[target]}.")


def test_curriculum_stages_set_each_epochs_share_of_reasoning_examples():
    reasoning = list(PHRASINGS).index("reasoning")
    tasks = torch.tensor([reasoning] * 30 + [0] * 60 + [1] * 10)  # 30 chains of 100 examples
    stages = (CurriculumStage(2, 0.0), CurriculumStage(1, 0.5), CurriculumStage(1, 1.0))
    generator = torch.Generator().manual_seed(0)
    for epoch, share in [(0, 0.0), (1, 0.0), (2, 0.5), (3, 1.0), (4, 1.0)]:
        rows = curriculum_rows(stages, tasks, epoch, generator)
        assert len(rows) == 100
        assert (tasks[rows] == reasoning).float().mean() == share
        chains = rows[tasks[rows] == reasoning]
        # Each chain once before any repeats (50 of 30 chains: all 30, 20 of them twice).
        assert len(set(chains.tolist())) == min(len(chains), 30)
        others = rows[tasks[rows] != reasoning]
        assert len(set(others.tolist())) == min(len(others), 70)
    with pytest.raises(ConfigError, match="reasoning share 0.5, but the examples hold 0"):
        curriculum_rows(stages, torch.zeros(10, dtype=torch.long), 2, generator)


def test_curriculum_needs_reasoning_chains_and_a_rising_share():
    stage = CurriculumStage(epochs=1, reasoning_share=0.3)
    with pytest.raises(ConfigError, match=r"curriculum\[0\].reasoning_share > 0.*mix.reasoning"):
        AlignmentConfig(curriculum=(stage,))
    rising = TaskMix(reasoning=1.0)
    with pytest.raises(ConfigError, match="shares .0.3, 0.1. fall"):
        AlignmentConfig(mix=rising, curriculum=(stage, CurriculumStage(1, 0.1)))
    with pytest.raises(ConfigError, match=r"CurriculumStage.reasoning_share: expected"):
        CurriculumStage(epochs=1, reasoning_share=1.5)
    assert AlignmentConfig(mix=rising, curriculum=(CurriculumStage(1, 0.0), stage)).curriculum


def test_prompts_carry_the_statements_of_their_own_training_step(split, strings):
    mix = TaskMix(reasoning=1.0)
    config = AlignmentConfig(examples=3000, mix=mix)
    told = PromptStatements(statements_for(split), drop=0.3, limit=5)
    samples = alignment_samples(split.train, strings, TITLES, config, 20, 0, None, None, told)
    prefix = "The shopper says: "
    prompted = [s for s in samples if s.task in ("next_id", "reasoning")]
    said = [s for s in prompted if s.request.startswith(prefix)]
    assert 0.6 < len(said) / len(prompted) < 0.8  # drop=0.3 keeps the plain prompt
    assert not any(s.request.startswith(prefix) for s in samples if s not in prompted)
    for sample in said:
        step, user = map(
            int, re.search(r"^The shopper says: Wants S(\d+) U(\d+)\. ", sample.request).groups()
        )
        assert 1 <= step < len(split.train[user])  # a training step, never a held-out one
        request = sample.request.removeprefix(f"{prefix}Wants S{step} U{user}. ")
        history = _fill(request, PHRASINGS[sample.task], "history")
        answer = sample.answer.split(ANSWER)[-1]
        assert history == ", ".join(strings[split.train[user][max(0, step - 20) : step]])
        assert answer == strings[split.train[user][step]]
        if sample.task == "reasoning":  # the chain's preference is the user's own statement
            assert f"Preference: Wants S{step} U{user}. Intent" in sample.answer
    for sample in prompted:  # a chain cites only statements its prompt carries
        if sample.task == "reasoning" and sample not in said:
            assert "Preference: Wants" not in sample.answer
    plain = alignment_samples(split.train, strings, TITLES, config, 20, 0)
    assert not any(s.request.startswith(prefix) for s in plain)


def test_hindsight_prompts_open_with_what_the_target_is_and_keep_context_as_asked(split, strings):
    train = split.train
    by_item = Hindsight([f"Looking for item {i}" for i in range(N_ITEMS)], np.arange(N_ITEMS + 1))
    nothing = Hindsight([], np.zeros(len(train.items) + 1, dtype=np.int64))
    rows = np.arange(len(train.items))
    wanted = TargetStatements(by_item, nothing, train.items.astype(np.int64), rows)
    only_next = TaskMix(**{t: 0.0 for t in PHRASINGS} | {"next_id": 1.0})
    config = AlignmentConfig(examples=1000, mix=only_next)
    for context in (0.0, 1.0):
        told = PromptStatements(statements_for(split), 0.0, 5, wanted, rate=1.0, context=context)
        samples = alignment_samples(train, strings, TITLES, config, 20, 0, None, None, told)
        assert samples and all(s.task == "next_id" for s in samples)
        for sample in samples:
            target = list(strings).index(sample.answer)
            assert sample.request.startswith(f"The shopper says: Looking for item {target}.")
            assert ("Wants S" in sample.request) == (context == 1.0)


def test_a_chain_writer_replaces_the_templates_and_knows_the_target(split, strings):
    mix = TaskMix(**{t: 0.0 for t in PHRASINGS} | {"reasoning": 1.0, "next_id": 1.0})
    config = AlignmentConfig(examples=60, mix=mix, title_history=2)
    seen = []

    def write(facts):
        seen.extend(facts)
        return [f"Intent: like {f.history[-1]}, not {f.target}." for f in facts]

    samples = alignment_samples(split.train, strings, TITLES, config, 20, 0, write_chains=write)
    chains = [s for s in samples if s.task == "reasoning"]
    assert len(chains) == len(seen) == 30
    template = alignment_samples(split.train, strings, TITLES, config, 20, 0)
    assert [s.request for s in samples] == [s.request for s in template]  # same examples
    written = Counter(f"Intent: like {f.history[-1]}, not {f.target}." for f in seen)
    assert Counter(s.answer.split(ANSWER)[0] for s in chains) == written
    for sample in chains:
        chain, answer = sample.answer.split(ANSWER)
        assert chain.endswith(f"not {TITLES[list(strings).index(answer)]}.")  # the hindsight
    assert all(len(f.history) <= 2 and f.template.startswith("Evidence: bought ") for f in seen)
