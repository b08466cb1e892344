"""Constrained beam search: a hand-worked catalog, brute force, properties, exclusion pruning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search, ranked_topk
from genrec.sid.semantic_ids import SemanticIds

from .toy_models import (
    TableModel,
    constrained_scores,
    random_table_model,
    ranked,
    raw_scores,
    unique_codes,
)

# Hand-worked catalog: sizes (3, 3, 1); the last level has one code, so it only adds a step
# after which the model must see correctly reordered caches.
HAND_CODES = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 2, 0], [2, 1, 0]])
HAND_IDS = SemanticIds(HAND_CODES, (3, 3, 1))
OFFSET = 2  # two special tokens before the ID tokens: vocabulary 2 + 3 + 3 + 1 = 9
LN = math.log


def hand_model() -> TableModel:
    """User key 1 (last item 0): level 0 probs (.45, .3, .25); under code 0 the level-1 logits
    prefer the invalid code 2 (ignored) and tie codes 0 and 1; under code 1 codes 0 and 2
    have probs .2 and .1 (renormalised: 2/3, 1/3); under code 2 only code 1 is valid.
    User key 2 (last item 1): level 0 probs (.1, .1, .8), same level 1."""
    level0 = {1: [0.45, 0.3, 0.25], 2: [0.1, 0.1, 0.8]}
    level1 = {0: [0.0, 0.0, 9.0], 1: [LN(0.2), LN(0.7), LN(0.1)], 2: [3.0, -1.0, 3.0]}

    def fn(users: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(users), 9), 20.0)  # special tokens and others: ignored
        for row, user in enumerate(users.tolist()):  # a test model: plain Python is fine
            if cache.shape[1] == 0:
                logits[row, 2:5] = torch.tensor(level0[user]).log()
            elif cache.shape[1] == 1:
                logits[row, 5:8] = torch.tensor(level1[int(cache[row, 0]) - OFFSET])
        return logits

    return TableModel(fn)


def test_hand_worked_beams_and_scores() -> None:
    histories = torch.tensor([[PAD, 0], [3, 1]])
    model = hand_model()
    items, scores = beam_search(model, HAND_IDS, histories, 5, 5, token_offset=OFFSET)
    assert items.tolist() == [[4, 0, 1, 2, 3], [4, 2, 0, 1, 3]]  # tie at .225: lower item first
    expected = [[0.25, 0.225, 0.225, 0.2, 0.1], [0.8, 0.1 * 2 / 3, 0.05, 0.05, 0.1 / 3]]
    torch.testing.assert_close(scores.exp(), torch.tensor(expected))
    assert items.dtype == torch.long and scores.dtype == torch.float32


def test_narrow_beams_miss_what_wide_beams_find() -> None:
    histories = torch.tensor([[PAD, 0]])
    # Two beams keep codes 0 and 1 at level 0 and never see item 4 (code 2, score .25).
    items, scores = beam_search(hand_model(), HAND_IDS, histories, 2, 2, token_offset=OFFSET)
    assert items.tolist() == [[0, 1]]  # tied at .225: lower item first
    assert scores[0, 0] == scores[0, 1]
    items, _ = beam_search(hand_model(), HAND_IDS, histories, 3, 3, token_offset=OFFSET)
    assert items.tolist() == [[4, 0, 1]]


def test_state_is_reordered_and_tokens_fed() -> None:
    model = hand_model()
    beam_search(model, HAND_IDS, torch.tensor([[PAD, 0], [3, 1]]), 3, 3, token_offset=OFFSET)
    assert len(model.caches) == 3 and len(model.reorders) == 2  # no reorder after the last level
    assert model.reorders[0].tolist() == [0, 0, 0, 3, 3, 3]  # the one live start beam
    # User 1 keeps codes 0, 1, 2 at level 0; after level 1 beam 0 = (2, 1) from old beam 2,
    # beams 1-2 = (0, 0), (0, 1) from old beam 0. User 2 keeps codes 2, 0, 1 (.8, .1, .1) and
    # then (2, 1) .8 from beam 0, (1, 0) .067 from beam 2, (0, 0) .05 from beam 1.
    assert model.reorders[1].tolist() == [2, 0, 0, 3, 5, 4]
    last = model.caches[2] - torch.tensor([OFFSET, OFFSET + 3])  # back to codes
    assert last.tolist() == [[2, 1], [0, 0], [0, 1], [2, 1], [1, 0], [0, 0]]


def test_first_step_has_one_live_beam_per_user() -> None:
    # 5 beams over a first level of 3 codes: without a single live start beam the top-5 would
    # hold each code several times; instead the 5 distinct items come out once each.
    items, _ = beam_search(hand_model(), HAND_IDS, torch.tensor([[PAD, 0]]), 5, 5, token_offset=2)
    assert sorted(items[0].tolist()) == [0, 1, 2, 3, 4]


def test_fewer_items_than_k_pad_the_row() -> None:
    ids = SemanticIds(np.array([[0, 1], [1, 0]]), (2, 2))
    model = random_table_model(ids, 1, seed=0)
    items, scores = beam_search(model, ids, torch.tensor([[PAD]]), 4, 4)
    assert items[0, 2:].tolist() == [PAD, PAD] and sorted(items[0, :2].tolist()) == [0, 1]
    assert torch.isinf(scores[0, 2:]).all() and torch.isfinite(scores[0, :2]).all()
    torch.testing.assert_close(scores[0, :2].exp().sum(), torch.tensor(1.0))  # a distribution


def test_k_above_beams_and_bad_inputs_raise() -> None:
    histories = torch.tensor([[PAD, 0]])
    with pytest.raises(ValueError, match="beams"):
        beam_search(hand_model(), HAND_IDS, histories, 2, 3)
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        beam_search(hand_model(), HAND_IDS, torch.tensor([0, 1]), 2, 2)
    with pytest.raises(ValueError, match="one row per history"):
        beam_search(hand_model(), HAND_IDS, histories, 2, 2, exclude=torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match=r"not an item index in \[0, 5\)"):
        beam_search(hand_model(), HAND_IDS, histories, 2, 2, exclude=torch.tensor([[5]]))
    with pytest.raises(ValueError, match="V >= 10"):  # the model's vocabulary is too small
        beam_search(hand_model(), HAND_IDS, histories, 2, 2, token_offset=3)


def test_empty_batch() -> None:
    items, scores = beam_search(hand_model(), HAND_IDS, torch.zeros(0, 3, dtype=torch.long), 3, 2)
    assert items.shape == scores.shape == (0, 2)


def test_ranked_topk_breaks_ties_by_index() -> None:
    values = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0, 3.0, 3.0, 2.0, 3.0, -1.0]])
    top, index = ranked_topk(values, 3)  # 2k = 6 candidates, the tie reaches past them
    assert index.tolist() == [[1, 2, 4]] and top.tolist() == [[3.0, 3.0, 3.0]]
    top, index = ranked_topk(values.flip(1), 2)
    assert index.tolist() == [[1, 3]]


# ---------------------------------------------------------------------- exclusion pruning
# Level 0: code 0 holds items 0-2, code 1 item 3, code 2 item 4.
PRUNE_IDS = SemanticIds(
    np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [2, 0, 0]]), (3, 2, 2)
)


def prune_model() -> TableModel:
    """Strong preference for code 0 at every level, then 1, then 2 (same for every user)."""

    def fn(users: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return torch.tensor([6.0, 3.0, 0.0, 6.0, 0.0, 6.0, 0.0]).expand(len(users), -1)

    return TableModel(fn)


@pytest.mark.parametrize(
    ("excluded", "expected"),
    [
        ([0, 1, 2], [3, 4]),  # all of code 0: pruned at level 0
        ([0, 1], [2, 3]),  # all of (0, 0): pruned at level 1, so (0, 1) gets the beam
        ([0], [1, 3]),  # a single leaf: pruned at the last level, so item 1 gets the beam
    ],
)
def test_exclusion_prunes_dead_prefixes(excluded: list[int], expected: list[int]) -> None:
    # Two beams and k = 2: without pruning, both beams would go where every item is excluded.
    exclude = torch.tensor([excluded + [PAD, excluded[0]]])  # PAD and repeats are harmless
    items, scores = beam_search(
        prune_model(), PRUNE_IDS, torch.tensor([[PAD]]), 2, 2, exclude=exclude
    )
    assert items.tolist() == [expected]
    brute = constrained_scores(prune_model(), PRUNE_IDS, 0, set(excluded))
    torch.testing.assert_close(scores[0], torch.tensor([brute[i] for i in expected]))


def test_excluding_everything_gives_pad_rows() -> None:
    exclude = torch.tensor([[0, 1, 2, 3, 4], [PAD] * 5])
    items, scores = beam_search(
        prune_model(), PRUNE_IDS, torch.tensor([[PAD], [0]]), 3, 3, exclude=exclude
    )
    assert items[0].tolist() == [PAD] * 3 and torch.isinf(scores[0]).all()
    assert items[1, 0] == 0 and (items[1] != PAD).all()


def test_shared_ids_never_return_an_excluded_item() -> None:
    # Built without dedup, items 0 and 2 share an ID, which stands for item 0.
    ids = SemanticIds(np.array([[0, 0], [1, 0], [0, 0]]), (2, 2))
    model = random_table_model(ids, 1, seed=3)
    items, _ = beam_search(model, ids, torch.tensor([[PAD]]), 3, 3, exclude=torch.tensor([[0]]))
    assert 0 not in items.tolist()[0] and 1 in items.tolist()[0]


# ---------------------------------------------------------------------- properties
@st.composite
def catalogs(draw: st.DrawFn) -> tuple[SemanticIds, int]:
    sizes = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    n_items = draw(st.integers(1, min(int(np.prod(sizes)), 24)))
    codes = unique_codes(sizes, n_items, draw(st.integers(0, 2**31)))
    return SemanticIds(codes, sizes), draw(st.integers(0, 2**31))


def random_exclude(n_users: int, n_items: int, seed: int) -> tuple[torch.Tensor, list[set[int]]]:
    """Each user excludes a random subset (sometimes nothing, sometimes everything)."""
    rng = np.random.default_rng(seed)
    width = n_items + 2
    exclude = np.full((n_users, width), PAD)
    sets = []
    for user in range(n_users):  # building test inputs
        chosen = rng.choice(n_items, rng.integers(0, n_items + 1), replace=False)
        exclude[user, : len(chosen)] = rng.permutation(chosen)
        sets.append({int(i) for i in chosen})
    return torch.from_numpy(exclude), sets


@settings(max_examples=60, deadline=None)
@given(catalogs(), st.integers(1, 8), st.integers(1, 8), st.booleans(), st.integers(0, 3))
def test_returns_distinct_real_permitted_items(
    catalog: tuple[SemanticIds, int], beams: int, k: int, use_exclude: bool, offset: int
) -> None:
    ids, seed = catalog
    k = min(k, beams)
    n_users = 3
    model = random_table_model(ids, n_users, seed, offset)
    histories = torch.tensor([[PAD, PAD], [PAD, 0], [0, 1]]) % ids.n_items
    histories[0] = PAD
    exclude, excluded = random_exclude(n_users, ids.n_items, seed)
    if not use_exclude:
        exclude, excluded = None, [set()] * n_users
    items, scores = beam_search(
        model, ids, histories, beams, k, exclude=exclude, token_offset=offset
    )
    assert items.shape == scores.shape == (n_users, k)
    for user in range(n_users):  # checking each row against its own brute force
        row = [i for i in items[user].tolist() if i != PAD]
        n_pad = k - len(row)
        assert items[user, len(row) :].tolist() == [PAD] * n_pad, "PAD only ends a row"
        assert len(row) == min(k, ids.n_items - len(excluded[user])), "row as full as possible"
        assert len(set(row)) == len(row) and not set(row) & excluded[user]
        assert (ids.codes_to_items(ids.item_to_codes(np.array(row, dtype=np.int64))) == row).all()
        assert torch.isinf(scores[user, len(row) :]).all()
        assert (scores[user, :-1] >= scores[user, 1:]).all()
        key = int(histories[user, -1]) + 1
        brute = constrained_scores(model, ids, key, excluded[user], offset)
        got = scores[user, : len(row)].double()
        torch.testing.assert_close(
            got, torch.tensor([brute[i] for i in row], dtype=torch.float64), atol=1e-4, rtol=0
        )


@settings(max_examples=40, deadline=None)
@given(catalogs(), st.integers(1, 24), st.integers(0, 8))
def test_enough_beams_equal_brute_force(
    catalog: tuple[SemanticIds, int], k: int, extra_beams: int
) -> None:
    ids, seed = catalog
    k = min(k, ids.n_items)
    model = random_table_model(ids, 2, seed)
    histories = torch.tensor([[PAD], [0]])
    exclude, excluded = random_exclude(2, ids.n_items, seed + 1)
    beams = ids.n_items + extra_beams
    items, scores = beam_search(model, ids, histories, beams, k, exclude=exclude)
    for user in range(2):
        brute = constrained_scores(model, ids, user, excluded[user])
        want_items, want_scores = ranked(brute, k)
        torch.testing.assert_close(
            scores[user].double(), torch.tensor(want_scores, dtype=torch.float64), atol=1e-4, rtol=0
        )
        # Exact up to ties: same score at every rank, and each item carries its own score.
        assert [i == PAD for i in items[user].tolist()] == [i == PAD for i in want_items]
        for item, score in zip(items[user].tolist(), scores[user].tolist(), strict=True):
            assert item == PAD or abs(brute[item] - score) < 1e-4
        if not excluded[user]:
            total = sum(math.exp(s) for s in brute.values())
            assert abs(total - 1.0) < 1e-6  # constrained scores form a distribution


@settings(max_examples=30, deadline=None)
@given(catalogs(), st.integers(1, 24))
def test_raw_scoring_equals_brute_force(catalog: tuple[SemanticIds, int], k: int) -> None:
    ids, seed = catalog
    k = min(k, ids.n_items)
    model = random_table_model(ids, 1, seed)
    items, scores = beam_search(model, ids, torch.tensor([[0]]), ids.n_items, k, scoring="raw")
    brute = raw_scores(model, ids, 0)
    _, want_scores = ranked(brute, k)
    # Scores sum ~50 nats of mass lost to the spare token per level: compare relatively.
    torch.testing.assert_close(
        scores[0].double(), torch.tensor(want_scores, dtype=torch.float64), atol=1e-3, rtol=1e-5
    )
    for item, score in zip(items[0].tolist(), scores[0].tolist(), strict=True):
        assert abs(brute[item] - score) < 1e-3 + 1e-5 * abs(score)
    # Masking without renormalising loses mass: never above the renormalised score.
    renormalized = constrained_scores(model, ids, 0)
    assert all(brute[i] <= renormalized[i] + 1e-9 for i in brute)


def test_raw_and_renormalized_rank_differently() -> None:
    # Code 0 of level 0 is likelier than code 1, but its subtree has one valid code sharing
    # mass with an invalid sibling; renormalising credits the valid one with all of it.
    ids = SemanticIds(np.array([[0, 0], [1, 0], [1, 1]]), (2, 2))
    level0 = [LN(0.6), LN(0.4), -30.0, -30.0]
    # Under code 0 the model prefers level-1 code 1, which no item has; under code 1 it is even.
    level1 = {0: [-30.0, -30.0, LN(0.1), LN(0.9)], 1: [-30.0, -30.0, LN(0.5), LN(0.5)]}

    def fn(users: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        if cache.shape[1] == 0:
            return torch.tensor([level0] * len(users))
        return torch.tensor([level1[code] for code in cache[:, 0].tolist()])

    model, history = TableModel(fn), torch.tensor([[0]])
    renorm_items, _ = beam_search(model, ids, history, 3, 3)
    raw_items, raw = beam_search(model, ids, history, 3, 3, scoring="raw")
    assert renorm_items[0].tolist() == [0, 1, 2]  # 0.6 for item 0 after renormalising
    assert raw_items[0].tolist() == [1, 2, 0]  # 0.2, 0.2 and only 0.06 for item 0
    torch.testing.assert_close(raw[0].exp(), torch.tensor([0.2, 0.2, 0.06]), atol=1e-4, rtol=0)


def test_codes_the_model_rules_out_still_fill_the_list() -> None:
    # The model gives code 0 of level 0 no probability at all (-inf, or NaN): its items rank
    # last with a very low but finite score instead of vanishing from a list they must fill.
    for bad in (float("-inf"), float("nan")):

        def fn(users: torch.Tensor, cache: torch.Tensor, bad: float = bad) -> torch.Tensor:
            row = torch.tensor([bad, 3.0, 0.0, 6.0, 0.0, 6.0, 0.0])
            return row.expand(len(users), -1)

        items, scores = beam_search(TableModel(fn), PRUNE_IDS, torch.tensor([[PAD]]), 5, 5)
        assert items[0, :2].tolist() == [3, 4] and sorted(items[0, 2:].tolist()) == [0, 1, 2]
        assert torch.isfinite(scores).all() and (scores[0, 2:] < -1e29).all()


@pytest.mark.gpu
def test_on_gpu_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ids = SemanticIds(unique_codes((4, 3, 2), 20, seed=0), (4, 3, 2))
    model = random_table_model(ids, 3, seed=0, offset=1)
    base = model.fn
    gpu = TableModel(lambda users, cache: base(users.cpu(), cache.cpu()).cuda())
    histories, exclude = torch.tensor([[PAD], [0], [1]]), torch.tensor([[PAD, 3], [5, 6], [1, 2]])
    want = beam_search(model, ids, histories, 6, 4, exclude=exclude, token_offset=1)
    got = beam_search(gpu, ids, histories.cuda(), 6, 4, exclude=exclude.cuda(), token_offset=1)
    assert got[0].device.type == "cuda"
    assert torch.equal(got[0].cpu(), want[0])
    torch.testing.assert_close(got[1].cpu(), want[1])
