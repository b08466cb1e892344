"""Preprocessing steps on hand-built datasets whose expected output is worked out by hand."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.data.preprocess import deduplicate, filter_ratings, kcore
from genrec.errors import ConfigError, DataError


def make(
    rows: list[tuple[str, str]], extra_items: tuple[str, ...] = (), **columns: list
) -> Dataset:
    """A Dataset from (user_id, item_id) rows in source order, plus optional columns."""
    inter = pl.DataFrame(
        {"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows], **columns}
    )
    items = pl.DataFrame({"item_id": sorted({i for _, i in rows} | set(extra_items))})
    return Dataset.from_frames(
        "hand", inter, items, source={"reader": "test"}, keep_unused_items=bool(extra_items)
    )


def rows_of(ds: Dataset, *columns: str) -> list[tuple]:
    """Interactions as (user_id, item_id, *columns) in stored (chronological) order."""
    return (
        ds.interactions.join(ds.users, on="user", maintain_order="left")
        .join(ds.items.select("item", "item_id"), on="item", maintain_order="left")
        .select("user_id", "item_id", *columns)
        .rows()
    )


# A 2x2 block (U1, U2 x p, q) that is a 2-core, plus a chain A-x-y-B-z-C-p hanging off it.
# Only item x is below k=2 at first; removing it starves A, which starves y, then B, z, C:
# one filtering pass removes a single row, and it takes six passes to reach the core.
CHAIN = [
    ("A", "x"), ("A", "y"), ("B", "y"), ("B", "z"), ("C", "z"), ("C", "p"),
    ("U1", "p"), ("U1", "q"), ("U2", "p"), ("U2", "q"),
]  # fmt: skip


def test_kcore_iterates_until_stable() -> None:
    out = kcore(make(CHAIN), k=2)
    assert rows_of(out) == [("U1", "p"), ("U1", "q"), ("U2", "p"), ("U2", "q")]
    assert out.users["user_id"].to_list() == ["U1", "U2"]
    assert out.items["item_id"].to_list() == ["p", "q"]
    assert out.interactions["user"].to_list() == [0, 0, 1, 1]  # re-indexed contiguously
    step = out.manifest["steps"][-1]
    assert step == {
        "step": "kcore",
        "user_k": 2,
        "item_k": 2,
        "passes": 7,  # six passes remove one row each, the seventh finds nothing to remove
        "removed_interactions": 6,
    }
    assert out.manifest["counts"] == {"users": 2, "items": 2, "interactions": 4}


def test_kcore_separate_user_and_item_thresholds() -> None:
    rows = [("a", "x"), ("a", "y"), ("a", "z"), ("b", "x"), ("b", "y"), ("c", "x")]
    # users need 2 (drops c), items need 1: everything else stays.
    assert rows_of(kcore(make(rows), user_k=2, item_k=1)) == rows[:5]
    # items need 2 (drops z), users need 1: c keeps its x.
    assert rows_of(kcore(make(rows), user_k=1, item_k=2)) == [rows[i] for i in (0, 1, 3, 4, 5)]


def _naive_kcore(rows: list[tuple[str, str]], user_k: int, item_k: int) -> list[tuple[str, str]]:
    while True:
        users, items = Counter(u for u, _ in rows), Counter(i for _, i in rows)
        kept = [(u, i) for u, i in rows if users[u] >= user_k and items[i] >= item_k]
        if kept == rows:
            return rows
        rows = kept


@pytest.mark.parametrize("seed", range(5))
def test_kcore_matches_a_naive_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [(f"u{rng.integers(30)}", f"i{rng.integers(25)}") for _ in range(300)]
    expected = _naive_kcore(rows, 4, 3)
    assert expected, "the random data should keep a non-empty core"
    assert rows_of(kcore(make(rows), user_k=4, item_k=3)) == sorted(
        expected, key=lambda r: [u for u, _ in rows].index(r[0])
    )


def test_kcore_empty_result_names_k() -> None:
    with pytest.raises(DataError, match=r"hand: no interactions .* user_k=3, item_k=3"):
        kcore(make(CHAIN), k=3)


@pytest.mark.parametrize("bad", [{"k": 0}, {"user_k": -1}, {"item_k": 2.5}, {"k": True}])
def test_kcore_rejects_bad_k(bad: dict) -> None:
    with pytest.raises(ConfigError, match="integer >= 1"):
        kcore(make(CHAIN), **bad)


# One user re-consumes items; ts shows which row survives. v ends and w starts with item b,
# so consecutive de-duplication must not merge rows across the user boundary.
DUP_ROWS = [("u", "a"), ("u", "a"), ("u", "b"), ("u", "a"), ("u", "c"), ("u", "b"),
            ("v", "b"), ("w", "b"), ("w", "b")]  # fmt: skip
DUP_TS = [1, 2, 3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize(
    ("keep", "consecutive", "expected_ts"),
    [
        ("first", False, [1, 3, 5, 7, 8]),
        ("last", False, [4, 5, 6, 7, 9]),
        ("first", True, [1, 3, 4, 5, 6, 7, 8]),
        ("last", True, [2, 3, 4, 5, 6, 7, 9]),
        ("all", False, DUP_TS),
        ("all", True, DUP_TS),
    ],
)
def test_deduplicate(keep: str, consecutive: bool, expected_ts: list[int]) -> None:
    ds = make(DUP_ROWS, timestamp=DUP_TS)
    out = deduplicate(ds, keep, consecutive_only=consecutive)  # type: ignore[arg-type]
    by_ts = dict(zip(DUP_TS, DUP_ROWS, strict=True))
    assert rows_of(out, "timestamp") == [(*by_ts[t], t) for t in expected_ts]
    assert out.manifest["steps"] == [
        {
            "step": "deduplicate",
            "keep": keep,
            "consecutive_only": consecutive,
            "removed_interactions": len(DUP_TS) - len(expected_ts),
        }
    ]
    assert (out.n_users, out.n_items) == (ds.n_users, ds.n_items)


def test_deduplicate_keeps_unused_catalog_items() -> None:
    ds = make(DUP_ROWS, extra_items=("never-bought",))
    assert deduplicate(ds).items["item_id"].to_list() == ["a", "b", "c", "never-bought"]


def test_deduplicate_rejects_unknown_keep() -> None:
    with pytest.raises(ConfigError, match="keep must be one of"):
        deduplicate(make(DUP_ROWS), "none")  # type: ignore[arg-type]


def test_filter_ratings_drops_low_and_missing_ratings() -> None:
    rows = [("u", "a"), ("u", "b"), ("v", "b"), ("v", "c"), ("w", "c")]
    ds = make(rows, rating=[5.0, 2.0, 4.0, None, 1.0])
    out = filter_ratings(ds, 4)
    assert rows_of(out, "rating") == [("u", "a", 5.0), ("v", "b", 4.0)]
    assert out.users["user_id"].to_list() == ["u", "v"]  # w has nothing left
    assert out.items["item_id"].to_list() == ["a", "b"]  # c has nothing left
    assert out.manifest["steps"][-1] == {
        "step": "filter_ratings",
        "min_rating": 4,
        "removed_interactions": 3,
    }


def test_filter_ratings_needs_ratings() -> None:
    with pytest.raises(DataError, match="needs ratings"):
        filter_ratings(make(CHAIN), 4)
    with pytest.raises(DataError, match=r"rating >= 6 \(ratings span 1.0..5.0\)"):
        filter_ratings(make([("u", "a"), ("u", "b")], rating=[1.0, 5.0]), 6)


def test_steps_are_recorded_in_order_and_survive_save(tmp_path: Path) -> None:
    ds = make(CHAIN + CHAIN, timestamp=list(range(20)), rating=[5.0] * 20)
    out = kcore(deduplicate(filter_ratings(ds, 3)), k=2)
    assert [s["step"] for s in out.manifest["steps"]] == ["filter_ratings", "deduplicate", "kcore"]
    assert out.fingerprint != ds.fingerprint
    assert Dataset.load(out.save(tmp_path / "ds")).manifest == out.manifest


def test_timestamp_ties_keep_source_order() -> None:
    # Rows for u and v interleave in the source; equal timestamps must keep source order,
    # and a missing timestamp sorts last.
    rows = [("u", "c"), ("v", "x"), ("u", "a"), ("u", "b"), ("v", "y"), ("u", "d"), ("u", "e")]
    ds = make(rows, timestamp=[5, 2, 5, None, 2, 1, 5])
    assert rows_of(ds, "timestamp") == [
        ("u", "d", 1), ("u", "c", 5), ("u", "a", 5), ("u", "e", 5), ("u", "b", None),
        ("v", "x", 2), ("v", "y", 2),
    ]  # fmt: skip
    # Preprocessing only drops rows, so the tie order survives it.
    out = deduplicate(ds)
    assert rows_of(out, "timestamp") == rows_of(ds, "timestamp")


def test_tie_order_is_stable_at_scale() -> None:
    # Many rows with one timestamp: a non-stable sort would shuffle them.
    n = 5000
    rows = [("u", f"i{k}") for k in range(n)]
    ds = make(rows, timestamp=[7] * n)
    assert [item for _, item in rows_of(ds)] == [f"i{k}" for k in range(n)]


def test_without_timestamps_source_order_is_chronological() -> None:
    rows = [("u", "c"), ("v", "x"), ("u", "a"), ("u", "b")]
    assert rows_of(make(rows)) == [("u", "c"), ("u", "a"), ("u", "b"), ("v", "x")]
