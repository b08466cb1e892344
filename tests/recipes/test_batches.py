"""The training loop's batches (a permutation per epoch, optionally bucketed by length) and
its validation sample and learning-rate schedule."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import EvalSet, leave_one_out
from genrec.models.recommender import PAD, trim_padding
from genrec.models.sasrec import SASRec
from genrec.recipes.evaluate import training_examples
from genrec.recipes.loop import (
    BUCKET_BATCHES,
    bucket_lengths,
    epoch_batches,
    lr_factor,
    validation_sample,
)
from genrec.recipes.recipe import Recipe


def test_plain_batches_are_a_seeded_permutation() -> None:
    batches = epoch_batches(10, 4, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    again = epoch_batches(10, 4, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_length_buckets_cover_every_example_once_with_similar_lengths() -> None:
    n, size = 4 * BUCKET_BATCHES * 8, 8
    lengths = torch.randint(1, 22, (n,), generator=torch.Generator().manual_seed(1))
    batches = epoch_batches(n, size, torch.Generator().manual_seed(2), lengths)
    assert sorted(torch.cat(batches).tolist()) == list(range(n))
    assert all(len(b) == size for b in batches)
    spread = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in batches])
    random = epoch_batches(n, size, torch.Generator().manual_seed(2))
    random_spread = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in random])
    assert spread.mean() < 0.25 * random_spread.mean()
    # batches are shuffled, not served shortest first
    means = [float(lengths[b].float().mean()) for b in batches]
    assert means != sorted(means)


def test_sequence_windows_carry_lengths_so_bucketed_batches_trim_most_padding() -> None:
    # Mostly short histories and a few long ones, as on Amazon data, in windows of 50.
    rng = np.random.default_rng(0)
    lengths = np.minimum(rng.geometric(1 / 8, size=600) + 2, 80)
    users = np.repeat(np.arange(600), lengths).astype(str)
    items = rng.integers(0, 40, size=len(users)).astype(str)
    inter = pl.DataFrame({"user_id": users, "item_id": items})
    table = pl.DataFrame({"item_id": np.arange(40).astype(str)})
    dataset = Dataset.from_frames("amazon-like", inter, table, source={"reader": "test"})
    split = leave_one_out(dataset, max_history=50)
    recipe = Recipe(model="sasrec")
    examples = training_examples(recipe, SASRec(split.n_items, 50), dataset, split)
    windows, lengths = examples["windows"], examples["lengths"]
    assert torch.equal(lengths, (windows != PAD).sum(1))

    def cells(batches: list[torch.Tensor]) -> int:  # what the model computes after trimming
        return sum(trim_padding(windows[b]).numel() for b in batches)

    generator = torch.Generator().manual_seed(0)
    bucketed = cells(epoch_batches(len(windows), 16, generator, lengths))
    plain = cells(epoch_batches(len(windows), 16, generator))
    assert bucketed < 0.5 * plain


def test_bucketing_defaults_off_for_item_scorers_and_on_for_generators() -> None:
    lengths = torch.tensor([3, 1, 2])
    windows = {"windows": torch.zeros(3, 4), "lengths": lengths}  # SASRec's and decoder-only's
    prompts = {"inputs": torch.zeros(3, 4), "lengths": lengths}
    assert bucket_lengths(windows, None, default=False) is None  # SASRec trained worse
    assert bucket_lengths(windows, True, default=False) is lengths
    assert bucket_lengths(windows, None, default=True) is lengths  # the generators
    assert bucket_lengths(prompts, None, default=True) is lengths
    assert bucket_lengths(prompts, False, default=True) is None


def test_validation_sample_is_seeded_and_keeps_order() -> None:
    cases = EvalSet(np.arange(10), np.zeros((10, 3), dtype=np.int64), np.arange(10) + 100)
    sample = validation_sample(cases, 4, seed=0)
    assert len(sample) == 4 and list(sample.users) == sorted(sample.users)
    assert list(sample.targets) == list(sample.users + 100)
    assert list(validation_sample(cases, 4, seed=0).users) == list(sample.users)
    assert validation_sample(cases, None, seed=0) is cases
    assert validation_sample(cases, 50, seed=0) is cases


def test_learning_rate_warms_up_then_follows_the_schedule() -> None:
    cosine = lr_factor("cosine", warmup_steps=4, total_steps=14)
    assert [cosine(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine(4) == 1.0 and abs(cosine(9) - 0.5) < 1e-12  # half-way through the decay
    assert cosine(14) < 1e-12 and cosine(100) < 1e-12  # stays at zero past the end
    constant = lr_factor("constant", warmup_steps=0, total_steps=14)
    assert {constant(s) for s in range(0, 100, 7)} == {1.0}
