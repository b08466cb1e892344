"""Metrics from ranks, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genrec.eval.metrics import (
    aggregate_seeds,
    check_ks,
    confidence_interval,
    mrr_at_k,
    ndcg_at_k,
    pass_at_k,
    per_user_metrics,
    ranks_from_topk,
    recall_at_k,
    summarize,
)

# Targets at rank 0, 2, 3, 12 and absent (-1).
RANKS = np.array([0, 2, 3, 12, -1])


def test_ranks_from_topk_exact_hits_only() -> None:
    topk = np.array([[4, 5, 6], [4, 5, 6], [4, 5, 6], [1, 1, 1]])
    targets = np.array([4, 6, 7, 1])  # first occurrence counts for the degenerate last row
    assert ranks_from_topk(topk, targets).tolist() == [0, 2, -1, 0]
    from_torch = ranks_from_topk(torch.as_tensor(topk), torch.as_tensor(targets))
    assert from_torch.tolist() == [0, 2, -1, 0]


def test_ranks_from_topk_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[N, k\]"):
        ranks_from_topk(np.zeros((3, 2)), np.zeros(2))


def test_recall() -> None:
    assert recall_at_k(RANKS, 1).tolist() == [1, 0, 0, 0, 0]
    assert recall_at_k(RANKS, 3).tolist() == [1, 1, 0, 0, 0]
    assert recall_at_k(RANKS, 4).tolist() == [1, 1, 1, 0, 0]
    assert recall_at_k(RANKS, 20).tolist() == [1, 1, 1, 1, 0]


def test_ndcg_by_hand() -> None:
    got = ndcg_at_k(RANKS, 20)
    want = [1.0, 1 / math.log2(4), 1 / math.log2(5), 1 / math.log2(14), 0.0]
    np.testing.assert_allclose(got, want)
    assert got[1] == pytest.approx(0.5)  # rank 2 -> 1/log2(4)
    np.testing.assert_allclose(ndcg_at_k(RANKS, 3), [1.0, 0.5, 0, 0, 0])


def test_mrr_by_hand() -> None:
    np.testing.assert_allclose(mrr_at_k(RANKS, 20), [1.0, 1 / 3, 1 / 4, 1 / 13, 0.0])
    np.testing.assert_allclose(mrr_at_k(RANKS, 3), [1.0, 1 / 3, 0, 0, 0])


def test_per_user_metrics_names_and_means() -> None:
    values = per_user_metrics(RANKS, ks=(10, 1))
    assert list(values) == ["recall@1", "ndcg@1", "mrr@1", "recall@10", "ndcg@10", "mrr@10"]
    means, ci = summarize(values)
    assert means["recall@10"] == pytest.approx(3 / 5)
    assert means["ndcg@10"] == pytest.approx((1 + 0.5 + 1 / math.log2(5)) / 5)
    assert means["mrr@1"] == pytest.approx(1 / 5)
    assert set(ci) == set(means)


def test_confidence_interval_by_hand() -> None:
    # mean 0.5, sample std sqrt(1/3), n 4 -> half-width 1.96 * 0.57735 / 2 = 0.565803
    lo, hi = confidence_interval(np.array([1.0, 0.0, 1.0, 0.0]))
    assert lo == pytest.approx(0.5 - 0.565803, abs=1e-6)
    assert hi == pytest.approx(0.5 + 0.565803, abs=1e-6)
    assert confidence_interval(np.ones(10)) == (1.0, 1.0)
    assert all(math.isnan(x) for x in confidence_interval(np.array([1.0])))


def test_aggregate_seeds_mean_and_sample_std() -> None:
    runs = [
        {"recall@10": 0.1, "ndcg@10": 0.05},
        {"recall@10": 0.2, "ndcg@10": 0.05},
        {"recall@10": 0.3, "ndcg@10": 0.05},
    ]
    agg = aggregate_seeds(runs)
    assert agg["recall@10"] == pytest.approx((0.2, 0.1))
    assert agg["ndcg@10"] == pytest.approx((0.05, 0.0))
    mean, std = aggregate_seeds(runs[:1])["recall@10"]
    assert mean == pytest.approx(0.1) and math.isnan(std)


def test_aggregate_seeds_rejects_mismatched_runs() -> None:
    with pytest.raises(ValueError, match="recall@20"):
        aggregate_seeds([{"recall@10": 0.1}, {"recall@10": 0.1, "recall@20": 0.2}])
    with pytest.raises(ValueError, match="at least one"):
        aggregate_seeds([])


def test_check_ks() -> None:
    assert check_ks([10, 5, 5, 1]) == (1, 5, 10)
    for bad in ([], [0], [5, -1], [2.5]):
        with pytest.raises(ValueError, match="positive integers"):
            check_ks(bad)


def test_pass_at_k_is_the_unbiased_estimator():
    hits = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)
    for k in (1, 2, 3, 4):
        expected = [1 - math.comb(4 - c, k) / math.comb(4, k) for c in hits.sum(1)]
        assert np.allclose(pass_at_k(hits, k), expected)
    with pytest.raises(ValueError, match="between 1"):
        pass_at_k(hits, 5)


def test_paired_bootstrap_keeps_what_the_pair_shares_out_of_the_interval() -> None:
    from genrec.eval.metrics import paired_bootstrap

    rng = np.random.default_rng(1)
    base = rng.random(500)  # users differ a lot; the model adds 0.1 to every one of them
    diff, low, high = paired_bootstrap(base + 0.1, base)
    assert diff == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    noisy = base + rng.normal(0.05, 0.1, 500)
    diff, low, high = paired_bootstrap(noisy, base, seed=3)
    assert low < diff < high and low > 0 and high - low < 0.05
    assert paired_bootstrap(noisy, base, seed=3) == (diff, low, high)  # seeded
    assert math.isnan(paired_bootstrap(np.ones(1), np.zeros(1))[1])
