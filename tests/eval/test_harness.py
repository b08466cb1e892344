"""The harness: hand-computed metrics, batching, exclusion, persistence, malformed models."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
import pytest
import torch
from polars.testing import assert_frame_equal

from genrec.data.dataset import Dataset, Sequences
from genrec.data.splits import EvalSet, leave_one_out
from genrec.errors import DataError
from genrec.eval import EvalResult, evaluate
from genrec.models.popularity import Popularity
from genrec.models.recommender import PAD, Capabilities, topk_excluding

N = 30


class Rotating:
    """Fake model: for last history item j it ranks j, j+1, j+2, ... (mod N) and records calls."""

    n_items = N
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: Sequence[str] | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append(
            {
                "rows": len(histories),
                "k": k,
                "exclude": exclude,
                "inference": torch.is_inference_mode_enabled(),
            }
        )
        offset = (torch.arange(N)[None, :] - histories[:, -1:]) % N  # rank of each item
        return topk_excluding(-offset.float(), k, exclude)


def rotating_cases() -> EvalSet:
    # Last history item j = 0..3; targets at rank 0, 3, 12 and 25 (outside the top 20).
    return EvalSet(
        users=np.array([10, 11, 12, 13]),
        histories=np.array([[PAD, 0], [PAD, 1], [PAD, 2], [PAD, 3]]),
        targets=np.array([0, 4, 14, 28]),
    )


def test_metrics_by_hand() -> None:
    model = Rotating()
    result = evaluate(model, rotating_cases(), progress=False)
    assert result.per_user["rank"].to_list() == [0, 3, 12, -1]
    m = result.metrics
    assert [m[f"recall@{k}"] for k in (1, 5, 10, 20)] == [0.25, 0.5, 0.5, 0.75]
    assert m["ndcg@1"] == pytest.approx(0.25)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(14)) / 4)
    assert m["mrr@5"] == pytest.approx((1 + 1 / 4) / 4)
    assert m["mrr@20"] == pytest.approx((1 + 1 / 4 + 1 / 13) / 4)
    # recall@5 per user: 1, 1, 0, 0 -> 0.5 ± 1.96 * sqrt(1/3) / 2
    lo, hi = result.ci95["recall@5"]
    assert (lo, hi) == pytest.approx((0.5 - 0.565803, 0.5 + 0.565803), abs=1e-6)
    assert result.n_users == 4
    assert result.per_user["user"].to_list() == [10, 11, 12, 13]
    assert result.per_user["items"][1].to_list() == list(range(1, 21))
    assert [c["k"] for c in model.calls] == [20]
    assert model.calls[0]["exclude"] is None and model.calls[0]["inference"]


def test_exclude_history_removes_history_items() -> None:
    model = Rotating()
    result = evaluate(model, rotating_cases(), exclude_history=True, progress=False)
    # Each history item j was rank 0; excluding it moves every target up one place.
    assert result.per_user["rank"].to_list() == [-1, 2, 11, -1]
    assert result.metrics["recall@5"] == 0.25
    assert result.metrics["ndcg@5"] == pytest.approx(0.25 / math.log2(4))
    assert torch.equal(model.calls[0]["exclude"], torch.as_tensor(rotating_cases().histories))


def test_batches_give_the_same_result() -> None:
    model = Rotating()
    small = evaluate(model, rotating_cases(), batch_size=3, progress=True)
    assert [c["rows"] for c in model.calls] == [3, 1]
    whole = evaluate(Rotating(), rotating_cases(), progress=False)
    assert small.metrics == whole.metrics
    assert_frame_equal(small.per_user, whole.per_user)


def test_popularity_ties_and_one_item_histories(tiny_dataset: Dataset) -> None:
    split = leave_one_out(tiny_dataset)
    model = Popularity(split.n_items).fit(split.train)  # ranks items 2, 0, 1, 3, 4 (ties: lower)
    valid = split.valid  # u3 and u4 have one-item histories
    assert ((valid.histories != PAD).sum(axis=1)).tolist() == [3, 2, 1, 1]
    plain = evaluate(model, valid, progress=False)  # ks up to 20, capped at the 5 items
    assert plain.per_user["rank"].to_list() == [3, 3, 3, 4]
    assert plain.metrics["recall@5"] == 1.0 and plain.metrics["recall@1"] == 0.0
    assert plain.metrics["ndcg@20"] == pytest.approx((3 / math.log2(5) + 1 / math.log2(6)) / 4)

    excl = evaluate(model, valid, exclude_history=True, progress=False)
    assert excl.per_user["rank"].to_list() == [0, 1, 2, 3]
    assert excl.per_user["items"][0].to_list() == [3, 4, PAD, PAD, PAD]  # 3 of 5 excluded
    assert excl.metrics["recall@1"] == 0.25 and excl.metrics["mrr@5"] == pytest.approx(
        (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4
    )


def test_per_user_names_users_and_items_by_their_ids(tiny_dataset: Dataset, tmp_path) -> None:
    split = leave_one_out(tiny_dataset)
    model = Popularity(split.n_items).fit(split.train)
    result = evaluate(model, split.valid, exclude_history=True, progress=False).with_ids(
        tiny_dataset.users.sort("user")["user_id"], tiny_dataset.items.sort("item")["item_id"]
    )
    frame = EvalResult.load(result.save(tmp_path)).per_user
    assert frame.columns == ["user", "user_id", "target", "target_id", "rank", "items", "item_ids"]
    assert frame["user_id"].to_list() == ["u1", "u2", "u3", "u4"]
    assert frame["target_id"].to_list() == ["d", "d", "d", "e"]
    assert frame["items"][0].to_list() == [3, 4, PAD, PAD, PAD]
    assert frame["item_ids"][0].to_list() == ["d", "e", None, None, None]  # PAD has no id
    assert frame["item_ids"][3].to_list() == ["c", "b", "d", "e", None]  # u4's history: a


def test_save_load_round_trip(tmp_path) -> None:
    result = evaluate(Rotating(), rotating_cases(), progress=False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("x: 1\n")
    result.save(tmp_path / "run")
    result.save(tmp_path / "run")  # overwriting is fine
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["config.yaml", "metrics.json", "per_user.parquet"]  # no temp files left
    back = EvalResult.load(tmp_path / "run")
    assert back.metrics == result.metrics
    assert back.ci95 == result.ci95
    assert back.n_users == result.n_users
    assert_frame_equal(back.per_user, result.per_user)


def test_load_missing_folder_says_what_is_missing(tmp_path) -> None:
    with pytest.raises(DataError, match="metrics.json"):
        EvalResult.load(tmp_path)


class Broken(Popularity):
    """Popularity whose output is corrupted by ``damage(items, scores, exclude)``."""

    def __init__(self, damage: Callable[..., object]) -> None:
        super().__init__(N)
        self.fit(Sequences(np.array([0, N]), np.arange(N)))  # every item once: ranks 0, 1, ...
        self.damage = damage

    def recommend(self, histories, k, preferences=None, exclude=None):  # type: ignore[no-untyped-def]
        items, scores = super().recommend(histories, k, preferences, exclude)
        return self.damage(items.clone(), scores, histories)


def _set(items: torch.Tensor, value: int, col: int = 0) -> torch.Tensor:
    items[1, col] = value
    return items


DAMAGES: dict[str, tuple[Callable[..., object], str]] = {
    "not a tuple": (lambda i, s, h: i, "not a tuple"),
    "items shape": (lambda i, s, h: (i[:, :-1], s), r"items of shape \(4, 19\)"),
    "scores shape": (lambda i, s, h: (i, s[:2]), r"scores of shape \(2, 20\)"),
    "numpy items": (lambda i, s, h: (i.numpy(), s), "not a torch.Tensor"),
    "float items": (lambda i, s, h: (i.float(), s), "dtype torch.float32"),
    "too large": (lambda i, s, h: (_set(i, N), s), r"item 30, outside \[0, 30\).*case 1"),
    "negative": (lambda i, s, h: (_set(i, -5), s), "item -5, outside"),
    "duplicate": (lambda i, s, h: (_set(i, int(i[1, 0]), col=1), s), "twice"),
    "pad hole": (lambda i, s, h: (_set(i, PAD), s), "PAD before a real item"),
    "short row": (lambda i, s, h: (_set(i, PAD, col=-1), s), "enough items were left"),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_malformed_outputs_raise_naming_the_model(name: str) -> None:
    damage, message = DAMAGES[name]
    with pytest.raises(DataError, match=f"Broken.recommend.*{message}"):
        evaluate(Broken(damage), rotating_cases(), progress=False)


def test_returning_an_excluded_item_raises() -> None:
    model = Broken(lambda i, s, h: (_set(i, int(h[1, -1])), s))
    with pytest.raises(DataError, match="Broken.recommend returned item 1, which was in `exclude`"):
        evaluate(model, rotating_cases(), exclude_history=True, progress=False)


def test_rejects_non_recommenders_and_foreign_eval_sets() -> None:
    with pytest.raises(TypeError, match="not a Recommender"):
        evaluate(object(), rotating_cases(), progress=False)  # type: ignore[arg-type]
    foreign = EvalSet(np.array([0]), np.array([[PAD, 1]]), np.array([N + 5]))
    with pytest.raises(DataError, match="targets hold item indices up to 35.*30 items"):
        evaluate(Rotating(), foreign, progress=False)
    with pytest.raises(ValueError, match="positive integers"):
        evaluate(Rotating(), rotating_cases(), ks=(0, 5), progress=False)


def test_per_user_schema() -> None:
    frame = evaluate(Rotating(), rotating_cases(), ks=(5,), progress=False).per_user
    assert frame.schema == pl.Schema(
        {"user": pl.Int64, "target": pl.Int64, "rank": pl.Int64, "items": pl.List(pl.Int64)}
    )
