"""Building a recipe's model, rebuilding a finished run, and its final evaluation."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import torch

from genrec.config import load_config, to_dict
from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset, make_split
from genrec.data.splits import Split
from genrec.errors import ConfigError, DataError
from genrec.eval import EvalResult, evaluate
from genrec.families import families_that
from genrec.families.family import Model
from genrec.models.distillation import ItemTeacher
from genrec.models.recommender import Recommender
from genrec.prefs.vectors import statement_encoder
from genrec.recipes.binding import TrainedOn, check_ids, check_trained_on
from genrec.recipes.conditioning import Conditioning
from genrec.recipes.recipe import Recipe
from genrec.recommend.cold_items import ColdItems, untrained_items
from genrec.recommend.ensemble import ensemble
from genrec.sid.semantic_ids import SemanticIds, read_metadata
from genrec.text.cache import item_embeddings
from genrec.text.template import ItemTemplate
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import RunDir, environment


def build_model(recipe: Recipe, dataset: Dataset, split: Split) -> Model:
    """A fresh model of the recipe's family (networks untrained; popularity fitted: it has no
    weights), with the recipe's semantic IDs when the family decodes them."""
    ids = load_ids(recipe, dataset) if recipe.family.capabilities.decodes_ids else None
    return recipe.family.build(recipe, dataset, split, ids)


def conditioning(recipe: Recipe, dataset: Dataset) -> Conditioning | None:
    """The recipe's statements for ``dataset`` (None without ``prefs.statements``)."""
    if not recipe.prefs.statements:
        return None
    encoder = statement_encoder(recipe.prefs.encoder)
    return Conditioning(
        recipe.prefs.statements,
        dataset,
        encoder,
        recipe.prefs.max_statements,
        item_template(recipe),
    )


def item_template(recipe: Recipe) -> ItemTemplate:
    """The item text the recipe's semantic IDs were built from (the default template without
    IDs, or IDs that record none): statements are compared with items in the text the model
    knows them by."""
    if not recipe.ids or not Path(recipe.ids).exists():  # missing IDs: load_ids says how
        return ItemTemplate()
    recorded = read_metadata(recipe.ids).get("template")
    return ItemTemplate() if recorded is None else load_config(ItemTemplate, recorded)


def load_ids(recipe: Recipe, dataset: Dataset) -> SemanticIds:
    """The recipe's semantic IDs, checked to belong to ``dataset``."""
    if not recipe.ids:
        raise ConfigError(
            f"ids: model {recipe.model} needs semantic IDs; build them with "
            "`genrec ids build <dataset> out=DIR` and set ids=DIR"
        )
    if not Path(recipe.ids).exists():
        raise ConfigError(
            f"ids: {recipe.ids} does not exist; build the recipe's semantic IDs first: "
            f"`{ids_build_command(recipe.data, recipe.ids)}`"
        )
    ids = SemanticIds.load(recipe.ids)
    built_for = ids.metadata.get("fingerprint")
    if ids.n_items != dataset.n_items or (built_for and built_for != dataset.fingerprint):
        raise ConfigError(
            f"ids: {recipe.ids} was built for dataset {built_for} ({ids.n_items} items), but the "
            f"recipe's data is {dataset.fingerprint} ({dataset.n_items} items): the data or its "
            "preparation changed (e.g. HTML entities in item text are now decoded). "
            f"Rebuild the IDs (`{ids_build_command(recipe.data, recipe.ids)} --overwrite`) and "
            "retrain the runs that use them."
        )
    if "split" in ids.metadata:  # built from a trained run's collaborative embeddings
        check_trained_on(
            f"ids: {recipe.ids} come from run {ids.metadata.get('collaborative_run')}, which",
            TrainedOn(str(built_for), str(ids.metadata["split"])),
            "this recipe uses",
            TrainedOn.of(dataset, recipe.data),
            f"build IDs from a run with data.split={recipe.data.split}, or use text IDs.",
        )
    return ids


def ids_build_command(data: DataConfig, out: str) -> str:
    """The ``genrec ids build`` command line that builds IDs for ``data`` into ``out``: the
    dataset argument, its reader format unless the argument tells it, and every other data
    setting that is not the default."""
    words = [shlex.quote(data.path)]
    if data.format not in ("embedded", "genrec"):
        words.append(f"data.format={data.format}")
    default = to_dict(DataConfig())
    for key, value in to_dict(data).items():
        if key in ("format", "path") or value == default[key]:
            continue
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, item in items:
            if sub is not None and item == default[key].get(sub):
                continue
            name = f"data.{key}" + (f".{sub}" if sub else "")
            shown = json.dumps(item) if not isinstance(item, str) else item
            words.append(shlex.quote(f"{name}={shown}"))
    return f"genrec ids build {' '.join(words)} out={shlex.quote(out)}"


def teacher(recipe: Recipe, model: Model, dataset: Dataset) -> ItemTeacher | None:
    """The recipe's distillation teacher for ``model`` (None without ``distill.teacher``): a
    finished run of a teaching family (SASRec) on the same data and split, reading histories as
    long as the student's."""
    if not recipe.distill.teacher:
        return None
    path = recipe.distill.teacher
    teacher_recipe, teacher_data, _, scorer = load_run(path)
    if teacher_recipe.family.capabilities.distill != "teacher":
        raise ConfigError(
            f"distill.teacher: {path} is a {teacher_recipe.model} run; it must be a "
            f"{families_that(lambda can: can.distill == 'teacher')} run on this recipe's data "
            "and split"
        )
    check_trained_on(
        f"distill.teacher: {path}",
        TrainedOn.of(teacher_data, teacher_recipe.data),
        "this recipe uses",
        TrainedOn.of(dataset, recipe.data),
        "train the teacher on this recipe's data and split.",
    )
    if teacher_recipe.data.max_history < recipe.data.max_history:
        raise ConfigError(
            f"distill.teacher: {path} reads histories of up to {teacher_recipe.data.max_history}"
            f" items, this recipe's windows hold data.max_history={recipe.data.max_history}; "
            "train the teacher with at least this data.max_history."
        )
    return ItemTeacher(scorer, model.item_tokens.table, recipe.distill)  # type: ignore[arg-type]


def training_examples(
    recipe: Recipe, model: Model, dataset: Dataset, split: Split, run: RunDir | None = None
) -> dict[str, torch.Tensor]:
    """The example tensors the family's ``forward`` trains on (``run`` caches what is costly
    to make again, e.g. chains a chat model wrote)."""
    where = run.path if run is not None else None
    return recipe.family.examples(recipe, model, dataset, split, where)


def cold_items(recipe: Recipe, dataset: Dataset, split: Split, model: Model) -> ColdItems | None:
    """The recipe's scorer of items unseen in training (None with ``decode.cold.items=off``):
    the items without a training interaction in ``split``, embedded from their text with the
    default template and encoder (those of `genrec ids build`)."""
    if recipe.decode.cold.items == "off" or not recipe.family.capabilities.decodes_ids:
        return None
    cold = untrained_items(split.train, split.n_items)
    embeddings = item_embeddings(dataset, progress=recipe.train.progress)
    return ColdItems(embeddings, cold, model.ids, recipe.decode.cold)


def as_recommender(model: Model, recipe: Recipe, cold: ColdItems | None = None) -> Recommender:
    """The Recommender view of a model, as its family makes it: generators decode with
    constrained beam search, with ``cold`` (``cold_items``) merging in the items unseen in
    training."""
    return recipe.family.recommender(model, recipe, cold)


def load_run(
    path: str | Path, decode: Sequence[str] = ()
) -> tuple[Recipe, Dataset, Split, Recommender]:
    """Rebuild a finished run: its recipe, data, split (its cases told the statements of
    ``prefs.protocol`` when the run follows statements) and best model (as a Recommender).
    ``decode``: ``key=value`` overrides of the run's ``decode`` settings (``cold.items=text``),
    which change how the trained model decodes, never what was trained."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise DataError(
            f"{run.path}: not a run directory (no config.yaml); train one with `genrec train`."
        )
    recipe = load_config(Recipe, run.config, [f"decode.{item}" for item in decode])
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    model = build_model(recipe, dataset, split)
    told = conditioning(recipe, dataset)
    if told is not None:
        split = told.split(split, recipe.prefs.protocol)
    can = recipe.family.capabilities
    if can.decodes_ids and recipe.ids:
        check_ids(run, recipe.ids, model.ids)
    if can.trains:
        if not run.best.is_dir():
            raise DataError(
                f"{run.path}: no best checkpoint yet (training stopped before its first "
                f"validation); resume it with `genrec train {run.config}`."
            )
        load_weights(run.best, model)
        model.eval()
    cold = cold_items(recipe, dataset, split, model)
    return recipe, dataset, split, as_recommender(model, recipe, cold)


def load_ensemble(paths: Sequence[str | Path]) -> tuple[Recipe, Dataset, Split, Recommender]:
    """Rebuild finished generative runs on the same data and IDs as one recommender (a product
    of experts, ``genrec.recommend.ensemble``) with the first run's recipe, split and beams."""
    if not paths:
        raise ConfigError("an ensemble needs at least one run directory")
    loaded = [load_run(path) for path in paths]
    recipe, dataset, split, _ = loaded[0]
    members = []
    for path, (member, data, _, model) in zip(paths, loaded, strict=True):
        if not member.family.capabilities.decodes_ids:
            decoders = families_that(lambda can: can.decodes_ids)
            raise ConfigError(
                f"{path}: a {member.model} run; only generative runs ({decoders}) "
                "decode semantic IDs together"
            )
        check_trained_on(
            str(path),
            TrainedOn.of(data, member.data),
            f"{paths[0]} was trained on",
            TrainedOn.of(dataset, recipe.data),
            "ensemble runs of the same data and split.",
        )
        members.append(model)
    try:
        model = ensemble(members)
    except ValueError as exc:
        raise ConfigError(f"ensemble of {', '.join(map(str, paths))}: {exc}") from exc
    return recipe, dataset, split, model


def final_evaluation(
    model: Recommender,
    dataset: Dataset,
    split: Split,
    recipe: Recipe,
    run: RunDir,
    exclude_history: bool | None = None,
    variant: str = "",
) -> dict[str, EvalResult]:
    """Evaluate on validation and test, saving metrics and per-user results (with the
    dataset's user and item ids) under ``run`` (``eval/<split>[-<variant>]``)."""
    exclude = recipe.eval.exclude_history if exclude_history is None else exclude_history
    user_ids = dataset.users.sort("user")["user_id"]
    item_ids = dataset.items.sort("item")["item_id"]
    results = {}
    for name, cases in (("valid", split.valid), ("test", split.test)):
        result = evaluate(
            model,
            cases,
            ks=recipe.eval.ks,
            batch_size=recipe.eval.batch_size,
            exclude_history=exclude,
            progress=recipe.train.progress,
        ).with_ids(user_ids, item_ids)
        suffix = ""
        if exclude != recipe.eval.exclude_history:
            suffix = "-exclude-history" if exclude else "-keep-history"
        suffix += f"-{variant}" if variant else ""
        result.save(run.eval_dir(name + suffix))
        results[name] = result
    return results


def evaluate_ensemble(
    paths: Sequence[str | Path], out: str | Path, exclude_history: bool | None = None
) -> tuple[Recipe, dict[str, EvalResult]]:
    """Evaluate the ensemble of the runs ``paths`` (``load_ensemble``) on validation and test
    into ``out`` (``eval/<split>``, and the members in ``manifest.json``). The manifest is
    written last, so an interrupted evaluation never labels older results with new members."""
    recipe, dataset, split, model = load_ensemble(paths)
    run = RunDir(Path(out))
    results = final_evaluation(model, dataset, split, recipe, run, exclude_history)
    run.write_manifest(ensemble=[str(path) for path in paths], **environment())
    return recipe, results
