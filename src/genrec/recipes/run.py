"""The prologue both training programs share: supervised training (``recipes/train.py``) and
RL post-training (``recipes/post_train.py``) open their run directory, resume it or refuse it,
and load the data the same way.

A run's ``config.yaml`` holds the sections the run uses (``used_sections``), plus ``run_dir``
for information; ``load_config`` gives the others their defaults. Opening the run again
compares only those sections, never ``run_dir``: a copied or moved run directory resumes, and a
default changed later in a section the run never reads does not stop it. A mismatch names each
key that differs. Runs whose config.yaml holds every section (written before) resume the same
way, and are then rewritten with their used sections alone.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from accelerate.utils import set_seed
from safetensors import safe_open

from genrec.config import Difference, differences, load_config, save_config
from genrec.data.dataset import Dataset
from genrec.data.prepare import load_dataset, make_split
from genrec.data.splits import Split
from genrec.errors import ConfigError, DataError
from genrec.eval import EvalResult
from genrec.recipes.recipe import Recipe
from genrec.threads import use_threads
from genrec.training.checkpoint import load_state
from genrec.training.run_dir import RunDir, environment

#: The sections every run reads: the popularity baseline too reads train (threads, seed,
#: progress) and decode (cold.items, which must be off); the others' loop reads
#: decode.precision.
COMMON = ("model", "data", "train", "eval", "decode")


def used_sections(recipe: Recipe) -> tuple[str, ...]:
    """The top-level recipe fields ``recipe``'s run reads, in the recipe's order: ``COMMON``,
    its family's sections, ``ids`` when set, ``prefs`` when it follows statements
    (``prefs.statements``), and for RL post-training (``init_from``) ``init_from`` and ``rl``."""
    family = recipe.family
    # RL post-training reads only the architecture of its start's family.
    own = [family.architecture] if recipe.init_from else list(family.sections)
    used = {*COMMON, *(name for name in own if name)}
    if recipe.ids:
        used.add("ids")
    if recipe.prefs.statements:
        used.add("prefs")
    if recipe.init_from:
        used |= {"init_from", "rl"}
    return tuple(f.name for f in dataclasses.fields(Recipe) if f.name in used)


def changes(saved: Recipe, recipe: Recipe) -> list[Difference]:
    """Where ``recipe`` differs from ``saved`` (a run's config) in the sections either of them
    uses; never ``run_dir``: a copied or moved run is the same run."""
    return differences(saved, recipe, {*used_sections(saved), *used_sections(recipe)})


@dataclass(frozen=True)
class Opened:
    """A run ready to train (``open_run``): its directory, data and split."""

    run: RunDir
    dataset: Dataset
    split: Split
    started: float  # time.perf_counter() once the run was opened

    def finish(
        self, results: Mapping[str, EvalResult] | None = None, status: str = "finished"
    ) -> None:
        """Record the run's end in its manifest: ``status``, this invocation's seconds and the
        final metrics of ``results`` (none without)."""
        fields = {
            "status": status,
            "seconds_this_invocation": round(time.perf_counter() - self.started, 1),
        }
        if results is not None:
            fields["metrics"] = {name: result.metrics for name, result in results.items()}
        self.run.write_manifest(**fields)


def open_run(recipe: Recipe, *, overwrite: bool) -> Opened:
    """Open ``recipe``'s run directory (``open_run_dir``), set its threads and seed, and load
    its data and split."""
    run = open_run_dir(recipe, overwrite=overwrite)
    use_threads(recipe=recipe.train.threads)
    set_seed(recipe.train.seed)
    started = time.perf_counter()
    dataset = load_dataset(recipe.data)
    return Opened(run, dataset, make_split(dataset, recipe.data), started)


def open_run_dir(recipe: Recipe, *, overwrite: bool) -> RunDir:
    """Create the run directory, or check that an existing one holds this recipe's run (the
    same used sections, ``changes``; or the same run given more epochs, ``extends``). Writes
    nothing but an ``--overwrite``'s removal: ``start_manifest`` writes the config
    (``commit_config``) once the run can start. One that holds nothing worth keeping (a failed
    start: no checkpoint, not finished) is replaced."""
    run = RunDir(Path(recipe.run_dir))
    if run.config.is_file():
        # Compared as loaded configs, so fields added to the recipe later (with their defaults)
        # do not orphan older runs.
        saved = load_config(Recipe, run.config)
        changed = changes(saved, recipe)
        failed_start = not has_checkpoints(run) and run.read_manifest().get("status") != "finished"
        if changed and not overwrite and failed_start:
            print(f"replacing {run.path}: the run there (another config) never finished an epoch")
            overwrite = True
        if overwrite:
            shutil.rmtree(run.path)
        elif changed:
            if not extends(saved, recipe, run):
                keys = "".join(f"\n  - {change}" for change in changed)
                raise ConfigError(
                    f"run_dir {run.path} holds a run with a different config (its config.yaml "
                    f"-> this recipe):{keys}\nPick another run_dir (run_dir=runs/NAME) or pass "
                    "--overwrite to replace it."
                )
            print(f"extending {run.path} from {saved.train.epochs} to {recipe.train.epochs} epochs")
    return run


def commit_config(run: RunDir, recipe: Recipe) -> None:
    """Write ``recipe``'s used sections to ``run``'s config.yaml, once the run can go on: its
    last checkpoint (if any) must be readable, so a failed extension or a start that failed
    before training (missing data or IDs) leaves the run directory as it was. Rewritten on every
    opening: an extended run's epochs, a moved run's run_dir, and a config written with every
    section (before runs kept theirs) reduced to the used ones."""
    if run.last.is_dir():
        readable(
            run, "post-training from its start" if recipe.init_from else "training from scratch"
        )
    save_config(recipe, run.config, ("run_dir", *used_sections(recipe)))


def readable(run: RunDir, restart: str) -> None:
    """DataError, saying how to start over (``restart``: from where), when ``run.last`` cannot
    be read back (its state, and its weights' header)."""
    weights = run.last / "model.safetensors"
    try:
        load_state(run.last)
        try:
            with safe_open(weights, "pt") as file:
                for key in file.keys():  # noqa: SIM118 (a safetensors file is no dict)
                    file.get_slice(key)
        except Exception as exc:  # safetensors raises its own error types
            raise DataError(f"{weights}: cannot read weights ({exc}); corrupted") from exc
    except DataError as exc:
        raise DataError(
            f"cannot resume {run.path}: {exc}. Remove {run.last} to restart {restart}, or pass "
            "--overwrite to replace the whole run."
        ) from exc


def extends(saved: Recipe, recipe: Recipe, run: RunDir) -> bool:
    """Whether ``recipe`` is ``saved`` trained for more epochs: training then resumes where it
    stopped, as if the run had always had that many epochs. Only a constant learning rate allows
    it (ConfigError otherwise): a cosine schedule spans ``train.epochs``, so stretching it would
    raise the rate of a run already annealed."""
    grows = recipe.train.epochs > saved.train.epochs
    if not grows or [change.key for change in changes(saved, recipe)] != ["train.epochs"]:
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
    one keeps where it started and records this restart. ``bound``: what the run is tied to.
    Its config.yaml is written first (``commit_config``): nothing is written when the run
    cannot resume."""
    commit_config(run, recipe)
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
