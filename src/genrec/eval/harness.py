"""The one evaluation harness: full-catalog ranking through ``Recommender.recommend``.

Every model is scored the same way (docs/evaluation.md): each evaluation case's history goes to
``recommend`` in batches, the returned top-``max(ks)`` list is checked against the protocol,
and the exact target item's rank gives Recall, NDCG and MRR. Nothing is excluded unless
``exclude_history=True``: TIGER's protocol excludes nothing, while the eSASRec benchmark (built
on RecTools, benchmarks/results/esasrec.md) ranks without each user's seen items.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

from genrec.atomic import atomic_file
from genrec.data.splits import EvalSet
from genrec.errors import DataError
from genrec.eval.metrics import DEFAULT_KS, check_ks, per_user_metrics, ranks_from_topk, summarize
from genrec.models.recommender import PAD, Recommender

METRICS_FILE = "metrics.json"
PER_USER_FILE = "per_user.parquet"


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Metric means, their 95% CIs, and the per-user evidence behind them.

    ``per_user`` has one row per evaluation case: ``user``, ``target``, ``rank`` (0-based,
    -1 if outside the top-k) and ``items`` (the returned top-k list, ``PAD`` where a row
    could not be filled); ``with_ids`` adds the dataset's ids of the user, target and items.
    """

    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    n_users: int
    per_user: pl.DataFrame

    def with_ids(self, user_ids: pl.Series, item_ids: pl.Series) -> EvalResult:
        """This result with ids beside the indices in ``per_user``: ``user_id``, ``target_id``
        and ``item_ids`` (null where ``items`` is ``PAD``), where ``user_ids[u]`` and
        ``item_ids[i]`` are the ids of user index ``u`` and item index ``i``.

        The harness sees indices only; whoever holds the dataset names them, so that a
        ``per_user.parquet`` can be read (and joined to other data) without the dataset.
        """
        frame = self.per_user
        recommended = item_ids.gather(frame["items"].explode().replace(PAD, None))
        per_user = frame.with_columns(
            user_id=user_ids.gather(frame["user"]),
            target_id=item_ids.gather(frame["target"]),
            item_ids=recommended.reshape((frame.height, -1)).cast(pl.List(item_ids.dtype)),
        ).select("user", "user_id", "target", "target_id", "rank", "items", "item_ids")
        return dataclasses.replace(self, per_user=per_user)

    def save(self, path: str | Path) -> Path:
        """Write ``metrics.json`` and ``per_user.parquet`` into folder ``path``, each atomically.

        The Parquet file is written first, so a present ``metrics.json`` means both are whole.
        Other files in ``path`` (a run directory) are left alone.
        """
        path = Path(path)
        with atomic_file(path / PER_USER_FILE) as tmp:
            self.per_user.write_parquet(tmp)
        payload = {"n_users": self.n_users, "metrics": self.metrics, "ci95": self.ci95}
        with atomic_file(path / METRICS_FILE) as tmp:
            tmp.write_text(json.dumps(payload, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvalResult:
        """Read a folder written by ``save``."""
        path = Path(path)
        missing = [f for f in (METRICS_FILE, PER_USER_FILE) if not (path / f).is_file()]
        if missing:
            raise DataError(
                f"{path}: no evaluation result here (missing {', '.join(missing)}); write one "
                "with EvalResult.save or `genrec eval`."
            )
        try:
            payload = json.loads((path / METRICS_FILE).read_text())
            return cls(
                metrics={k: float(v) for k, v in payload["metrics"].items()},
                ci95={k: (float(lo), float(hi)) for k, (lo, hi) in payload["ci95"].items()},
                n_users=int(payload["n_users"]),
                per_user=pl.read_parquet(path / PER_USER_FILE),
            )
        except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"{path}: cannot read evaluation result ({exc}); re-run it.") from exc


def evaluate(
    recommender: Recommender,
    eval_set: EvalSet,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 256,
    exclude_history: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Score ``recommender`` on ``eval_set`` by full ranking over all ``n_items`` items.

    Asks for the top ``max(ks)`` items (capped at the catalog size, which leaves every metric
    exact). ``exclude_history=True`` passes each history as ``exclude`` (repeat items can then
    never be hits). An ``eval_set`` with ``preferences`` passes each case's statements.
    Outputs that break the protocol raise ``DataError`` naming the model.
    """
    if not isinstance(recommender, Recommender):
        raise TypeError(
            f"{type(recommender).__name__} is not a Recommender: it needs `n_items`, "
            "`capabilities` (genrec.models.recommender.Capabilities) and "
            "recommend(histories, k, preferences=None, exclude=None)."
        )
    ks = check_ks(ks)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    n_items = int(recommender.n_items)
    _check_eval_set(eval_set, n_items, type(recommender).__name__)
    k = min(max(ks), n_items)

    n = len(eval_set)
    topk = np.full((n, k), PAD, dtype=np.int64)
    with (
        torch.inference_mode(),
        tqdm(
            total=n,
            desc=f"eval {type(recommender).__name__}",
            unit="user",
            leave=None,  # stays on its own; below a training loop's epoch bar it clears
            disable=not progress,
        ) as bar,
    ):
        for start in range(0, n, batch_size):
            histories = torch.tensor(eval_set.histories[start : start + batch_size])
            exclude = histories.clone() if exclude_history else None
            told = eval_set.preferences
            told = None if told is None else told[start : start + batch_size]
            out = recommender.recommend(histories, k, preferences=told, exclude=exclude)
            topk[start : start + len(histories)] = check_recommendations(
                recommender, out, k=k, n_rows=len(histories), exclude=exclude, first_row=start
            )
            bar.update(len(histories))

    ranks = ranks_from_topk(topk, eval_set.targets)
    metrics, ci95 = summarize(per_user_metrics(ranks, ks))
    per_user = pl.DataFrame(
        {"user": eval_set.users, "target": eval_set.targets, "rank": ranks, "items": topk}
    ).with_columns(pl.col("items").cast(pl.List(pl.Int64)))
    return EvalResult(metrics=metrics, ci95=ci95, n_users=n, per_user=per_user)


def check_recommendations(
    model: object,
    output: object,
    *,
    k: int,
    n_rows: int,
    exclude: torch.Tensor | None = None,
    first_row: int = 0,
) -> np.ndarray:
    """Check one ``recommend`` output against the protocol; return its items as numpy [B, k].

    Items must be integer indices in ``[0, n_items)``, distinct within a row, never in
    ``exclude``; ``PAD`` is allowed only to end a row that exclusion left short.
    """
    name = type(model).__name__

    def fail(problem: str, row: int | None = None) -> DataError:
        where = f" (evaluation case {first_row + row})" if row is not None else ""
        return DataError(
            f"{name}.recommend {problem}{where}. The Recommender protocol "
            "(genrec.models.recommender) asks for (items [B, k] int64, scores [B, k]) with "
            "distinct in-range items per row, best first, none from `exclude`."
        )

    if not (isinstance(output, tuple) and len(output) == 2):
        raise fail(f"returned {type(output).__name__}, not a tuple (items, scores)")
    items, scores = output
    for label, tensor in (("items", items), ("scores", scores)):
        if not isinstance(tensor, torch.Tensor):
            raise fail(f"returned {label} as {type(tensor).__name__}, not a torch.Tensor")
        if tuple(tensor.shape) != (n_rows, k):
            raise fail(f"returned {label} of shape {tuple(tensor.shape)}; expected {(n_rows, k)}")
    if items.dtype.is_floating_point or items.dtype.is_complex or items.dtype == torch.bool:
        raise fail(f"returned items of dtype {items.dtype}; expected integer item indices")
    items = items.detach().cpu().long()
    n_items = int(model.n_items)  # type: ignore[attr-defined]
    real = items != PAD

    bad = real & ((items < 0) | (items >= n_items))
    if bad.any():
        row = _first_row(bad)
        raise fail(f"returned item {int(items[bad][0])}, outside [0, {n_items})", row)
    holes = real[:, 1:] & ~real[:, :-1]
    if holes.any():
        raise fail("returned PAD before a real item; PAD may only end a row", _first_row(holes))
    ordered = torch.sort(items, dim=1).values
    dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD)
    if dup.any():
        row = _first_row(dup)
        raise fail(f"returned item {int(ordered[:, 1:][dup][0])} twice in one row", row)

    n_excluded = torch.zeros(n_rows, dtype=torch.long)
    if exclude is not None and exclude.numel():
        exclude = exclude.cpu().long()
        # Sorted in-range excluded items per row; membership by binary search.
        ex = torch.sort(torch.where(exclude < n_items, exclude, PAD), dim=1).values
        at = torch.searchsorted(ex, items).clamp(max=ex.shape[1] - 1)
        clash = real & (ex.gather(1, at) == items)
        if clash.any():
            row = _first_row(clash)
            raise fail(f"returned item {int(items[clash][0])}, which was in `exclude`", row)
        first = torch.ones_like(ex[:, :1], dtype=torch.bool)
        n_excluded = ((ex != PAD) & torch.cat([first, ex[:, 1:] != ex[:, :-1]], dim=1)).sum(1)
    short = real.sum(dim=1) < torch.clamp(n_items - n_excluded, max=k)
    if short.any():
        raise fail(
            "returned a row ending in PAD although enough items were left", _first_row(short)
        )
    return items.numpy()


def _check_eval_set(eval_set: EvalSet, n_items: int, model: str) -> None:
    """Catch an evaluation set built for another catalog before any model call."""
    n = len(eval_set)
    if eval_set.histories.ndim != 2 or len(eval_set.histories) != n or len(eval_set.users) != n:
        raise DataError(
            f"eval set is inconsistent: {n} targets, {len(eval_set.users)} users, histories of "
            f"shape {eval_set.histories.shape}; build it with genrec.data.splits."
        )
    if eval_set.preferences is not None and len(eval_set.preferences) != n:
        raise DataError(
            f"eval set has {len(eval_set.preferences)} preference entries for {n} cases; give "
            "one per case (an empty list for none), e.g. from genrec.prefs.selection."
        )
    for label, values in (("targets", eval_set.targets), ("histories", eval_set.histories)):
        values = values[values != PAD]
        if values.size and (values.min() < 0 or values.max() >= n_items):
            raise DataError(
                f"eval set {label} hold item indices up to {int(values.max())}, but {model} knows "
                f"{n_items} items; evaluate on a split of the dataset the model was built for."
            )


def _first_row(mask: torch.Tensor) -> int:
    """Index of the first row of a [B, ...] boolean mask that has any True."""
    return int(mask.reshape(mask.shape[0], -1).any(dim=1).nonzero()[0, 0])
