"""Evaluation of trained runs through the one harness, and rebuilding a run's model."""

from __future__ import annotations

from pathlib import Path

from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.data.prepare import load_dataset, make_split
from genrec.data.splits import Split
from genrec.errors import DataError
from genrec.eval import EvalResult, evaluate
from genrec.models.popularity import Popularity
from genrec.models.recommender import Recommender
from genrec.models.sasrec import SASRec
from genrec.recipes.recipe import Recipe
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import RunDir


def build_recommender(recipe: Recipe, split: Split) -> Recommender:
    """A fresh model for ``recipe`` (SASRec untrained; popularity fitted: it has no weights)."""
    if recipe.model == "popularity":
        return Popularity(split.n_items).fit(split.train)
    return SASRec(split.n_items, split.max_history, recipe.sasrec)


def load_run(path: str | Path) -> tuple[Recipe, Dataset, Split, Recommender]:
    """Rebuild a finished run: its recipe, data, split and best model."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise DataError(
            f"{run.path}: not a run directory (no config.yaml); train one with `genrec train`."
        )
    recipe = load_config(Recipe, run.config)
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    model = build_recommender(recipe, split)
    if isinstance(model, SASRec):
        load_weights(run.best, model)
    return recipe, dataset, split, model


def final_evaluation(
    model: Recommender,
    split: Split,
    recipe: Recipe,
    run: RunDir,
    exclude_history: bool | None = None,
) -> dict[str, EvalResult]:
    """Evaluate on validation and test, saving metrics and per-user results under ``run``."""
    exclude = recipe.eval.exclude_history if exclude_history is None else exclude_history
    results = {}
    for name, cases in (("valid", split.valid), ("test", split.test)):
        result = evaluate(
            model,
            cases,
            ks=recipe.eval.ks,
            batch_size=recipe.eval.batch_size,
            exclude_history=exclude,
            progress=recipe.train.progress,
        )
        suffix = "-exclude-history" if exclude != recipe.eval.exclude_history else ""
        result.save(run.eval_dir(name + suffix))
        results[name] = result
    return results
