"""Constrained sampling: real items only, the model's distribution, seeds, temperature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.decoding.sampling import sample
from genrec.sid.semantic_ids import SemanticIds

from .toy_models import constrained_scores, random_table_model, unique_codes

# 7 of the 12 IDs of sizes (3, 2, 2): the trie constraint matters at every level.
IDS = SemanticIds(unique_codes((3, 2, 2), 7, seed=1), (3, 2, 2))
HISTORIES = torch.tensor([[PAD, PAD], [4, 2]])  # user keys 0 and 3


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_only_real_items_with_their_logprobs() -> None:
    model = random_table_model(IDS, 5, seed=0, offset=1)
    items, logprobs = sample(model, IDS, HISTORIES, 50, generator=seeded(0), token_offset=1)
    assert items.shape == logprobs.shape == (2, 50) and items.dtype == torch.long
    assert ((items >= 0) & (items < IDS.n_items)).all()
    for user, key in enumerate((0, 3)):
        brute = constrained_scores(model, IDS, key, offset=1)
        want = torch.tensor([brute[i] for i in items[user].tolist()], dtype=torch.float32)
        torch.testing.assert_close(logprobs[user], want, atol=1e-4, rtol=0)
    # at temperature 1 a sample's log-probability is its beam-search score
    top, scores = beam_search(model, IDS, HISTORIES, IDS.n_items, IDS.n_items, token_offset=1)
    for user in range(2):
        by_item = dict(zip(top[user].tolist(), scores[user].tolist(), strict=True))
        for item, logprob in zip(items[user].tolist(), logprobs[user].tolist(), strict=True):
            assert abs(by_item[item] - logprob) < 1e-5


def test_frequencies_follow_the_model() -> None:
    model = random_table_model(IDS, 5, seed=1)
    n = 20_000
    items, _ = sample(model, IDS, HISTORIES[:1], n, generator=seeded(1))
    freq = np.bincount(items[0].numpy(), minlength=IDS.n_items) / n
    brute = constrained_scores(model, IDS, 0)
    probs = np.exp([brute[i] for i in range(IDS.n_items)])
    assert abs(probs.sum() - 1) < 1e-6
    # binomial standard error at n = 20k is at most 0.0036: allow about four of them
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_exclude_is_never_sampled() -> None:
    model = random_table_model(IDS, 5, seed=2)
    exclude = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [3, 5, PAD, PAD, PAD, PAD, PAD]])
    items, logprobs = sample(model, IDS, HISTORIES, 200, exclude=exclude, generator=seeded(2))
    assert (items[0] == PAD).all() and torch.isinf(logprobs[0]).all()  # nothing left
    assert set(items[1].tolist()) == {0, 1, 2, 4, 6}  # everything else, with 200 draws
    brute = constrained_scores(model, IDS, 3, {3, 5})  # renormalised over what is left
    want = torch.tensor([brute[i] for i in items[1].tolist()])
    torch.testing.assert_close(logprobs[1], want, atol=1e-4, rtol=0)


def test_reproducible_with_a_seed() -> None:
    model = random_table_model(IDS, 5, seed=3)
    first = sample(model, IDS, HISTORIES, 64, generator=seeded(7))
    again = sample(model, IDS, HISTORIES, 64, generator=seeded(7))
    other = sample(model, IDS, HISTORIES, 64, generator=seeded(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_low_temperature_approaches_greedy() -> None:
    model = random_table_model(IDS, 5, seed=4)
    greedy, _ = beam_search(model, IDS, HISTORIES, 1, 1)  # one beam = greedy decoding
    share = []
    for temperature in (2.0, 1.0, 0.3, 1e-3):
        items, logprobs = sample(
            model, IDS, HISTORIES, 2000, temperature=temperature, generator=seeded(5)
        )
        share.append((items == greedy).float().mean().item())
        brute = constrained_scores(model, IDS, 0, temperature=temperature)
        want = torch.tensor([brute[i] for i in items[0, :20].tolist()])
        torch.testing.assert_close(logprobs[0, :20], want, atol=1e-3, rtol=1e-5)
    assert share == sorted(share) and share[-1] == 1.0


def test_bad_arguments_raise() -> None:
    model = random_table_model(IDS, 5, seed=0)
    with pytest.raises(ValueError, match="n "):
        sample(model, IDS, HISTORIES, 0)
    for temperature in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            sample(model, IDS, HISTORIES, 2, temperature=temperature)
    with pytest.raises(ValueError, match="one row per history"):
        sample(model, IDS, HISTORIES, 2, exclude=torch.tensor([[0]]))
    empty = sample(model, IDS, HISTORIES[:0], 3)
    assert empty[0].shape == empty[1].shape == (0, 3)
