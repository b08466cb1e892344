"""`genrec train`: prepare data, train (or fit) the recipe's model, evaluate, record everything."""

from __future__ import annotations

import dataclasses
import shutil
import time
from functools import partial
from pathlib import Path

from accelerate.utils import set_seed
from torch import nn

from genrec.config import load_config, save_config
from genrec.data.dataset import Dataset
from genrec.data.prepare import load_dataset, make_split
from genrec.errors import ConfigError
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.llm_tasks import curriculum_rows
from genrec.prefs.protocols import PROTOCOLS
from genrec.recipes.binding import check_ids, ids_record
from genrec.recipes.evaluate import (
    GENERATORS,
    alignment_examples,
    as_recommender,
    build_model,
    cold_items,
    conditioning,
    final_evaluation,
    teacher,
    training_examples,
)
from genrec.recipes.loop import fit
from genrec.recipes.recipe import Recipe
from genrec.threads import use_threads
from genrec.training.run_dir import RunDir, environment


def train(recipe: Recipe, *, overwrite: bool = False) -> RunDir:
    """Run ``recipe`` end to end into its run directory and return it.

    A run directory holding the same config is resumed; one holding another config is an
    error unless ``overwrite`` (which deletes it first). A recipe with ``init_from`` post-trains
    that run with RL instead (``genrec.recipes.post_train``).
    """
    if recipe.init_from:
        from genrec.recipes.post_train import post_train  # it builds on this module

        return post_train(recipe, overwrite=overwrite)
    run = open_run_dir(recipe, overwrite=overwrite)
    use_threads(recipe=recipe.train.threads)
    set_seed(recipe.train.seed)
    started = time.perf_counter()
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    bound: dict[str, dict[str, str]] = {}
    model = build_model(recipe, dataset, split)
    told = conditioning(recipe, dataset)
    if told is not None:
        bound["prefs"] = told.record(recipe.prefs.protocol)
        plain, split = split, told.split(split, recipe.prefs.protocol)
    # A generator's weights hold only with the IDs it was trained on.
    if isinstance(model, GENERATORS) and recipe.ids:
        if has_checkpoints(run):
            check_ids(run, recipe.ids, model.ids)
        bound["ids"] = ids_record(recipe.ids, model.ids)
    start_manifest(run, recipe, dataset, bound)
    cold = cold_items(recipe, dataset, split, model)
    if isinstance(model, nn.Module):
        if isinstance(model, LLMBackbone):
            examples = alignment_examples(recipe, model, dataset, split, run)
        else:
            examples = training_examples(model, split)
        extend = teacher(recipe, model, dataset)
        if told is not None and not isinstance(model, LLMBackbone):  # it reads them as text
            examples = told.examples(model, examples, split)
            extend = told.extend(recipe.prefs.drop, recipe.prefs.oracle_rate)
        stages = recipe.alignment.curriculum
        pools = partial(curriculum_rows, stages, examples["task"]) if stages else None
        recommend = partial(as_recommender, recipe=recipe, cold=cold)
        fit(model, examples, recommend, split, recipe, run, extend, pools)
        model.eval()
    recommender = as_recommender(model, recipe, cold)
    results = final_evaluation(recommender, dataset, split, recipe, run)
    if told is not None:  # the other protocol, and no statements, beside the chosen one
        for protocol in (*PROTOCOLS, None):
            if protocol != recipe.prefs.protocol:
                variant = protocol or "no-prefs"
                cases = told.split(plain, protocol)
                extra = final_evaluation(recommender, dataset, cases, recipe, run, None, variant)
                results.update({f"{name}-{variant}": r for name, r in extra.items()})
    run.write_manifest(
        status="finished",
        seconds_this_invocation=round(time.perf_counter() - started, 1),
        metrics={name: result.metrics for name, result in results.items()},
    )
    return run


def open_run_dir(recipe: Recipe, *, overwrite: bool) -> RunDir:
    """Create the run directory, or check that an existing one belongs to this recipe. One that
    holds nothing worth keeping (a failed start: no checkpoint, not finished) is replaced."""
    run = RunDir(Path(recipe.run_dir))
    if run.config.is_file():
        # Compared as loaded configs, so fields added to the recipe later (with their defaults)
        # do not orphan older runs.
        saved = load_config(Recipe, run.config)
        same = saved == recipe
        failed_start = not has_checkpoints(run) and run.read_manifest().get("status") != "finished"
        if not (same or overwrite) and failed_start:
            print(f"replacing {run.path}: the run there (another config) never finished an epoch")
            overwrite = True
        if overwrite:
            shutil.rmtree(run.path)
        elif not same:
            if not extends(saved, recipe, run):
                raise ConfigError(
                    f"run_dir {run.path} holds a run with a different config; pick another "
                    "run_dir (run_dir=runs/NAME) or pass --overwrite to replace it."
                )
            print(f"extending {run.path} from {saved.train.epochs} to {recipe.train.epochs} epochs")
            save_config(recipe, run.config)
    run.path.mkdir(parents=True, exist_ok=True)
    if not run.config.is_file():
        save_config(recipe, run.config)
    return run


def extends(saved: Recipe, recipe: Recipe, run: RunDir) -> bool:
    """Whether ``recipe`` is ``saved`` trained for more epochs: training then resumes where it
    stopped, as if the run had always had that many epochs. Only a constant learning rate allows
    it (ConfigError otherwise): a cosine schedule spans ``train.epochs``, so stretching it would
    raise the rate of a run already annealed."""
    grown = dataclasses.replace(
        saved, train=dataclasses.replace(saved.train, epochs=recipe.train.epochs)
    )
    if recipe.train.epochs <= saved.train.epochs or grown != recipe:
        return False
    if saved.train.lr_schedule != "constant":
        raise ConfigError(
            f"run_dir {run.path} was trained with train.lr_schedule={saved.train.lr_schedule} over "
            f"{saved.train.epochs} epochs; only a constant-rate run can be extended to "
            f"train.epochs={recipe.train.epochs}. Pick another run_dir (run_dir=runs/NAME) or pass "
            "--overwrite to train it again from scratch."
        )
    return True


def start_manifest(run: RunDir, recipe: Recipe, dataset: Dataset, bound: dict) -> None:
    """Mark ``run`` as training: a new run records its environment, seed and data; a resumed
    one keeps where it started and records this restart. ``bound``: what the run is tied to."""
    env = environment()
    if run.manifest.is_file():
        previous = run.read_manifest()
        restarts = [*previous.get("restarts", []), {k: env[k] for k in ("commit", "started")}]
        run.write_manifest(restarts=restarts, status="training", **bound)
    else:
        run.write_manifest(
            **env, seed=recipe.train.seed, dataset=dataset.manifest, status="training", **bound
        )


def has_checkpoints(run: RunDir) -> bool:
    """Whether ``run`` saved weights (it finished at least one epoch)."""
    return run.last.is_dir() or run.best.is_dir()
