"""RL post-training: `genrec train` of a recipe with ``init_from: <run dir>`` (SRPO:
GREAM, Hong et al., arXiv 2510.20815).

It starts from a finished generative run's best weights and improves them with ``genrec.rl``
on its prompts: each step draws ``rl.users_per_step`` transitions (a history and its next item)
of the slice that ``data.rl_holdout`` held out of the start's supervised training
(``genrec.data.holdout``; with none, of the training transitions, which the start has fitted),
rolls out ``rl.rollouts`` items per user and updates on the group advantages. The slice is the
start run's: a recipe that names another one is refused. Every ``rl.eval_every`` steps
validation NDCG@10 with the real beam search decides: the best weights are kept, the start's
included (validated before any update), so the result is never worse on validation than where
it started; training stops after
``train.patience`` validations without a better one. The model, its architecture, data and
IDs are the start run's (its weights hold only with them).

Every generator family is post-trained the same way (``genrec.rl.policy.Policy``): TIGER, the
decoder-only generator and the LLM backbone (``model: llm``). The LLM backbone may also roll
out in reasoning mode (``rl.mode: reasoning``: a sampled chain, then the constrained ID, with
the format gate of ``genrec.rl.chain_rollouts``); its validation still decodes in direct mode
(reasoning mode writes a chain per user, several times slower), as the supervised reasoning
recipe's does. ``train.mixed_precision: bf16`` runs rollouts and updates under bf16 autocast
(weights and optimizer stay float32): about half the time of an LLM step on CPU.

A plain loop, not TRL's ``GRPOTrainer``: TRL rolls out with ``generate`` over a text
tokenizer, so trie-constrained rollouts would be a per-step logits-processor callback (slow,
and an empty mask silently lifts the constraint: docs/rl.md); its advantage is the group
z-score alone (the Pass@k bonus and dynamic sampling mean overriding its private loss); and it
hosts only Hugging Face causal LMs, not TIGER. The loop below reuses the shared sampler, beam
search, checkpoints and evaluation harness, in the style of ``recipes/loop.py``.

Resumability: each step's users and rollouts come from generators seeded with (seed, step),
the policy has no dropout (``genrec.rl.srpo``), and the optimizer and loop state are
checkpointed at every validation, so a run killed at any point and started again reaches the
same weights as one never interrupted.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

from genrec.config import load_config
from genrec.data.holdout import RLHoldout
from genrec.data.splits import EvalSet, Split
from genrec.data.windows import transition_examples
from genrec.errors import ConfigError, DataError
from genrec.eval import evaluate
from genrec.families import families_that
from genrec.recipes.binding import TrainedOn, check_ids, check_trained_on, ids_record
from genrec.recipes.evaluate import (
    as_recommender,
    build_model,
    final_evaluation,
)
from genrec.recipes.loop import SELECT_BY, lr_factor, resume_checkpoint, validation_sample
from genrec.recipes.recipe import Recipe
from genrec.recipes.rl_curves import plot_curves
from genrec.recipes.run import has_checkpoints, open_run, start_manifest
from genrec.rl.policy import Policy
from genrec.rl.rewards import build_reward
from genrec.rl.rollouts import Recommended
from genrec.rl.srpo import srpo_step
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.checkpoint import load_weights, save_checkpoint
from genrec.training.precision import usable_mixed_precision
from genrec.training.run_dir import RunDir

#: What a post-training recipe takes from its start run: the model and what its weights mean
#: (and the start family's architecture section, ``Family.architecture``).
INHERITED = ("model", "data", "ids", "prefs")


def inherit(recipe: Recipe) -> Recipe:
    """``recipe`` with the model, architecture, data and IDs of its ``init_from`` run.

    Raises ``ConfigError`` when that is no finished generative run, or when the recipe sets
    one of those sections itself to something else (other IDs: compared by fingerprint).
    """
    start = RunDir(Path(str(recipe.init_from)))
    if not start.config.is_file():
        raise ConfigError(
            f"init_from: {start.path} is not a run directory (no config.yaml); {train_first(start)}"
        )
    base = load_config(Recipe, start.config)
    if not base.family.capabilities.rl:
        raise ConfigError(
            f"init_from: {start.path} is a {base.model} run; RL post-trains generative runs "
            f"({families_that(lambda can: can.rl)}) that decode semantic IDs"
        )
    if recipe.rl.mode == "reasoning" and not base.family.capabilities.reasons:
        raise ConfigError(
            f"rl.mode: reasoning rollouts write a chain of text first, which only model llm "
            f"does; init_from run {start.path} is a {base.model} run: use rl.mode=direct"
        )
    if base.prefs.statements:
        raise ConfigError(
            f"init_from: {start.path} follows preference statements (prefs.statements); RL "
            "post-training of statement-following runs is not supported yet"
        )
    if not start.best.is_dir():
        raise ConfigError(
            f"init_from: {start.path} has no best checkpoint; finish it with "
            f"`genrec train {start.config}`"
        )
    default = Recipe()
    check_holdout(recipe, base, start)
    inherited = (*INHERITED, *([base.family.architecture] if base.family.architecture else []))
    for key in inherited:
        ours, theirs, unset = getattr(recipe, key), getattr(base, key), getattr(default, key)
        if key == "data":  # the RL slice is compared above, and named there
            ours = dataclasses.replace(ours, rl_holdout=theirs.rl_holdout)
            unset = dataclasses.replace(unset, rl_holdout=theirs.rl_holdout)
        if key == "ids" or ours in (unset, theirs):  # IDs: by fingerprint
            continue
        raise ConfigError(
            f"{key}: the recipe sets {ours!r}, but init_from run {start.path} was trained with "
            f"{theirs!r}; remove `{key}` from the recipe (it comes from the run)"
        )
    if recipe.ids and recipe.ids != base.ids:
        ours_ids = SemanticIds.load(recipe.ids).fingerprint
        trained = (start.read_manifest().get("ids") or {}).get("fingerprint")
        if ours_ids != trained:
            raise ConfigError(
                f"ids: {recipe.ids} holds other semantic IDs (fingerprint {ours_ids}) than "
                f"init_from run {start.path} was trained with ({trained}); remove `ids` from "
                "the recipe to use the run's own"
            )
    return dataclasses.replace(recipe, **{key: getattr(base, key) for key in inherited})


def check_holdout(recipe: Recipe, base: Recipe, start: RunDir) -> None:
    """Refuse a recipe whose RL slice (``data.rl_holdout``, set) is not the one its start run
    ``base`` held out of its supervised training: RL would roll out on transitions the start
    was trained on, or the start would have trained on RL's prompts. Unset, it is the start's."""
    ours, theirs = recipe.data.rl_holdout, base.data.rl_holdout
    if ours in (RLHoldout(), theirs):
        return
    raise ConfigError(
        f"data.rl_holdout: the recipe holds out {ours} for RL, but init_from run {start.path} "
        f"was trained holding out {theirs}; train a start with data.rl_holdout set the same "
        f"(`genrec train <its config> data.rl_holdout.slice={ours.slice} ...`), or remove "
        "data.rl_holdout from this recipe (it comes from the run)"
    )


def train_first(start: RunDir) -> str:
    """How to make the missing ``init_from`` run ``start``: train the recipe in ./configs whose
    run_dir is ``start``, else a generative run with run_dir set to it."""
    for config in sorted(Path("configs").glob("*.yaml")):
        try:
            run_dir = (yaml.safe_load(config.read_text()) or {}).get("run_dir")
        except (yaml.YAMLError, AttributeError, OSError):
            continue  # not a recipe of ours
        if run_dir and Path(str(run_dir)) == start.path:
            return f"train it first: `genrec train {config}`"
    return (
        f"train a generative run there first (run_dir={start.path}), e.g. "
        f"`genrec train configs/decoder-only-office.yaml prefs.statements=null "
        f"run_dir={start.path}`"
    )


def post_train(recipe: Recipe, *, overwrite: bool = False, final: bool = True) -> RunDir:
    """Post-train ``recipe.init_from`` with SRPO into ``recipe.run_dir``, evaluate (unless not
    ``final``: a benchmark that measures on a sample of users), record."""
    recipe = inherit(recipe)
    if recipe.train.mixed_precision == "fp16":
        raise ConfigError(
            "train.mixed_precision=fp16: RL post-training autocasts to bf16 only (fp16 would "
            "need loss scaling); use bf16 or no"
        )
    start = RunDir(Path(str(recipe.init_from)))
    opened = open_run(recipe, overwrite=overwrite)
    run, dataset, split = opened.run, opened.dataset, opened.split
    model = build_model(recipe, dataset, split)  # inherit() checked that it is a policy
    check_ids(start, str(recipe.ids), model.ids)
    trained_on = start.read_manifest().get("dataset", {}).get("fingerprint")
    check_trained_on(
        f"init_from: {start.path}",
        TrainedOn(str(trained_on), recipe.data.split),
        "its data is now",
        TrainedOn.of(dataset, recipe.data),
        f"retrain {start.path} on the current data first.",
    )
    if has_checkpoints(run):
        check_ids(run, str(recipe.ids), model.ids)
    load_weights(start.best, model)
    bound = {"ids": ids_record(str(recipe.ids), model.ids), "init_from": str(start.path)}
    start_manifest(run, recipe, dataset, bound)
    reinforce(model, split, recipe, run)
    model.eval()
    if not final:
        opened.finish(status="post-trained (no final evaluation)")
        return run
    opened.finish(final_evaluation(as_recommender(model, recipe), dataset, split, recipe, run))
    return run


def reinforce(model: Policy, split: Split, recipe: Recipe, run: RunDir) -> dict[str, float]:
    """SRPO on the RL prompts (``rl_prompts``), validation-gated; leaves the best weights (the
    start's unless validation improved) in ``run.best`` and in ``model``. Resumes from
    ``run.last``. Returns the best validation metrics."""
    cfg, rl = recipe.train, recipe.rl
    device = torch.device("cuda" if torch.cuda.is_available() and not cfg.cpu else "cpu")
    model.to(device).eval()  # no dropout: see genrec.rl.srpo
    kl = rl.kl_beta > 0 and rl.objective == "policy_gradient"  # the control has no KL term
    reference = copy.deepcopy(model).requires_grad_(False) if kl else None
    prompts = rl_prompts(split, recipe.data.rl_holdout)
    lr = cfg.lr if rl.lr is None else rl.lr
    decay = cfg.weight_decay if rl.weight_decay is None else rl.weight_decay
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=decay)
    schedule = lr_factor(rl.lr_schedule, rl.warmup_steps, rl.steps)  # per RL step
    valid = validation_sample(split.valid, recipe.eval.valid_users, cfg.seed)
    state = {"step": 0, "best": -math.inf, "best_metrics": {}, "bad_validations": 0}
    if run.last.is_dir():
        saved = resume_checkpoint(run, model, "post-training from its start")
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["loop"]
        print(f"resuming {run.path} after step {state['step']}")
    # Log lines after the checkpoint go; without one, all (a kill before it kept the start's).
    run.truncate_log(state["step"] if run.last.is_dir() else -1, key="step")
    if not run.last.is_dir():  # the start is the first candidate: never worse than it
        record = {"step": 0, **validate(model, valid, recipe, state, run)}
        run.append_log(record)
        save(run, model, optimizer, state)

    # rollouts and updates autocast; weights stay float32
    bf16 = usable_mixed_precision(cfg.mixed_precision, device.type) == "bf16"
    reward = build_reward(rl)  # rl.reward, with its settings
    recommended = recommended_lists(model, recipe) if rl.rollout == "beam" else None
    steps = tqdm(
        range(state["step"], rl.steps),
        initial=state["step"],
        total=rl.steps,
        desc="rl steps",
        disable=not cfg.progress,
    )
    for step in steps:
        if state["bad_validations"] >= cfg.patience:
            break
        seed = cfg.seed * 1_000_003 + step
        users = torch.Generator().manual_seed(seed)  # the step's users, then its refills'

        def more(_: int, users: torch.Generator = users) -> tuple[torch.Tensor, torch.Tensor]:
            rows = torch.randint(len(prompts["targets"]), (rl.users_per_step,), generator=users)
            return prompts["histories"][rows].to(device), prompts["targets"][rows].to(device)

        for group in optimizer.param_groups:
            group["lr"] = lr * schedule(step)
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            stats = srpo_step(
                model,
                optimizer,
                *more(0),
                rl,
                reference=reference,
                generator=torch.Generator(device).manual_seed(seed),
                grad_clip=cfg.grad_clip,
                chain_tokens=recipe.decode.chain_tokens,
                reward=reward,
                more=more,
                recommended=recommended,
            )
        state["step"] = step + 1
        record = {"step": step + 1, "lr": lr * schedule(step)}
        record |= {k: round(v, 6) for k, v in stats.items()}
        if (step + 1) % rl.eval_every == 0 or step + 1 == rl.steps:
            record.update(validate(model, valid, recipe, state, run))
        run.append_log(record)
        if "valid_seconds" in record:  # checkpoint with every validation
            save(run, model, optimizer, state)
            plot_curves(run.epochs(), run.path / "curves.png")
        shown = {"reward": "reward", "exact": "exact", "zero_variance": "zero_var", "kl": "kl"}
        steps.set_postfix(
            **{short: f"{stats[key]:.4f}" for key, short in shown.items() if key in stats},
            **({"nll": f"{stats['nll']:.4f}"} if "nll" in stats else {}),
            best=f"{state['best']:.4f}",
        )
    steps.close()
    plot_curves(run.epochs(), run.path / "curves.png")
    load_weights(run.best, model)
    return state["best_metrics"]


def recommended_lists(model: Policy, recipe: Recipe) -> Recommended:
    """Beam rollouts as the recommender returns them: its beam width (``decode.beams``),
    precision (``decode.precision``: a copy of the current weights in it), scoring and history
    exclusion (``eval.exclude_history``), outside the loop's autocast, rebuilt on each call
    since the weights change every step."""

    def recommended(histories: torch.Tensor, n: int) -> torch.Tensor:
        with torch.autocast(histories.device.type, enabled=False):
            exclude = histories if recipe.eval.exclude_history else None
            items, _ = as_recommender(model, recipe).recommend(histories, n, exclude=exclude)
        return items

    return recommended


def rl_prompts(split: Split, holdout: RLHoldout) -> dict[str, torch.Tensor]:
    """What RL rolls out on, one prompt per transition (``histories [N, L]``, ``targets
    [N]``): the slice held out of supervised training (``data.rl_holdout``), or with none
    every training transition (which the start was fitted on)."""
    if split.rl is not None:
        prompts = {"histories": split.rl.histories, "targets": split.rl.targets}
        empty = f"data.rl_holdout={holdout} holds out no transition: no user has two training items"
    else:
        prompts = transition_examples(split.train, split.max_history)
        empty = "no training transitions: every user has fewer than two training items"
    if len(prompts["targets"]) == 0:
        raise DataError(empty)
    return {key: torch.from_numpy(prompts[key]) for key in ("histories", "targets")}


def validate(
    model: Policy,
    valid: EvalSet,
    recipe: Recipe,
    state: dict,
    run: RunDir,
) -> dict[str, float]:
    """Validation metrics (``valid/...``) of ``model`` by the real beam search; a new best is
    saved to ``run.best`` and resets the patience count, else the count grows."""
    started = time.perf_counter()
    metrics = evaluate(
        as_recommender(model, recipe),
        valid,
        ks=recipe.eval.ks,
        batch_size=recipe.eval.batch_size,
        exclude_history=recipe.eval.exclude_history,
        progress=recipe.train.progress,
    ).metrics
    if metrics[SELECT_BY] > state["best"]:
        state.update(best=metrics[SELECT_BY], best_metrics=metrics, bad_validations=0)
        save_checkpoint(run.best, model.state_dict(), {"step": state["step"], "metrics": metrics})
    else:
        state["bad_validations"] += 1
    record = {f"valid/{k}": v for k, v in metrics.items()}
    return {**record, "valid_seconds": round(time.perf_counter() - started, 3)}


def save(
    run: RunDir, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict
) -> None:
    """The resumable checkpoint: weights, optimizer and loop state."""
    save_checkpoint(
        run.last, model.state_dict(), {"optimizer": optimizer.state_dict(), "loop": state}
    )
