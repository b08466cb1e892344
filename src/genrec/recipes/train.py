"""`genrec train` of a supervised recipe: prepare data, train (or fit) the recipe's model,
evaluate, record everything. A recipe with ``init_from`` is RL post-training instead
(``genrec.recipes.post_train``); `genrec train` picks the program."""

from __future__ import annotations

from functools import partial

from genrec.errors import ConfigError
from genrec.models.llm_tasks import curriculum_rows
from genrec.prefs.protocols import PROTOCOLS
from genrec.recipes.binding import check_ids, ids_record
from genrec.recipes.evaluate import (
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
from genrec.recipes.run import has_checkpoints, open_run, start_manifest
from genrec.training.run_dir import RunDir


def train(recipe: Recipe, *, overwrite: bool = False) -> RunDir:
    """Run ``recipe`` end to end into its run directory and return it.

    A run directory holding the same config (the sections the run uses) is resumed; one
    holding another config is an error unless ``overwrite`` (which deletes it first)
    (``genrec.recipes.run.open_run_dir``).
    """
    if recipe.init_from:
        raise ConfigError(
            f"init_from: {recipe.init_from}: a recipe that starts from a run is RL post-training; "
            "run it with genrec.recipes.post_train.post_train (`genrec train` picks it)"
        )
    opened = open_run(recipe, overwrite=overwrite)
    run, dataset, split = opened.run, opened.dataset, opened.split
    bound: dict[str, dict[str, str]] = {}
    model = build_model(recipe, dataset, split)
    told = conditioning(recipe, dataset)
    if told is not None:
        bound["prefs"] = told.record(recipe.prefs.protocol)
        plain, split = split, told.split(split, recipe.prefs.protocol)
    can = recipe.family.capabilities
    # A generator's weights hold only with the IDs it was trained on.
    if can.decodes_ids and recipe.ids:
        if has_checkpoints(run):
            check_ids(run, recipe.ids, model.ids)
        bound["ids"] = ids_record(recipe.ids, model.ids)
    start_manifest(run, recipe, dataset, bound)
    cold = cold_items(recipe, dataset, split, model)
    if can.trains:
        examples = training_examples(recipe, model, dataset, split, run)
        extend = teacher(recipe, model, dataset)
        if told is not None and can.statements == "vectors":  # text: in its alignment prompts
            prefs = recipe.prefs
            examples = told.examples(can.examples, examples, split, prefs.hindsight)
            extend = told.extend(prefs.drop, prefs.oracle_rate, prefs.hindsight, prefs.context)
        stages = recipe.alignment.curriculum
        pools = partial(curriculum_rows, stages, examples["task"]) if stages else None
        recommend = partial(as_recommender, recipe=recipe, cold=cold)
        also = None
        if told is not None:  # e.g. statements about the target: does the model follow them?
            also = {n: told.told(plain.valid, n, "valid") for n in recipe.prefs.also_valid}
        fit(model, examples, recommend, split, recipe, run, extend, pools, also)
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
    opened.finish(results)
    return run
