"""The training loop every model shares, top to bottom: batches, steps, validation, early
stopping, resume. A model is anything whose ``forward(batch)`` returns the training loss for a
dict of example tensors; validation goes through the Recommender harness with the real decoder.
Examples that carry ``lengths [N]`` (real items per example) are batched with examples of
similar length when ``train.bucket_by_length``, so a model that trims padding computes less.

Resumability: data order comes from a generator seeded with (seed, epoch) and the global RNG
state (dropout) is checkpointed with the optimizer after every epoch, so a run killed at any
point and started again reaches exactly the same weights as one never interrupted.

Several processes (``accelerate launch``) train data-parallel (DDP) or sharded (FSDP2): each
trains on its slice of every global batch; all validate the same users (a sharded model with
its parameters gathered, ``sharding.gathered``); checkpoints hold the full weights, which
every process helps gather and process 0 writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from genrec.data.splits import EvalSet, Split
from genrec.errors import DataError
from genrec.eval import evaluate
from genrec.models.recommender import Recommender
from genrec.recipes.recipe import Recipe
from genrec.training.checkpoint import load_state, load_weights, save_checkpoint
from genrec.training.precision import usable_mixed_precision
from genrec.training.run_dir import RunDir
from genrec.training.sharding import (
    check_distribution,
    full_optimizer_state,
    full_weights,
    gather,
    gathered,
    load_full_optimizer_state,
)

#: The model-selection metric of the published protocol.
SELECT_BY = "ndcg@10"


def fit(
    model: nn.Module,
    examples: Mapping[str, torch.Tensor],
    as_recommender: Callable[[nn.Module], Recommender],
    split: Split,
    recipe: Recipe,
    run: RunDir,
    extend: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    epoch_rows: Callable[[int, torch.Generator], torch.Tensor] | None = None,
    also_valid: Mapping[str, EvalSet] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place on ``examples`` (tensors sharing their first dimension),
    leaving the best-validation weights in ``run.best`` and loaded into ``model``.

    ``as_recommender`` wraps the model for the validation harness (SASRec is one itself; a
    generator is wrapped in constrained beam search). ``extend`` adds tensors computed per
    batch (e.g. a teacher's soft targets, ``ItemTeacher``) before the model sees it.
    ``epoch_rows(epoch, generator)`` picks the example rows an epoch draws its batches from
    (a curriculum, ``llm_tasks.curriculum_rows``; None: every example once). ``also_valid``
    names more validation sets (the same cases with other statements, e.g. statements about
    the target that test following): each is validated too, logged as ``valid/<name>/...``,
    and the model is selected on the mean ``SELECT_BY`` over all of them. Returns the best
    validation metrics. Resumes from ``run.last`` when it exists.
    """
    cfg = recipe.train
    # Without a GPU, accelerate joins several launched processes (gloo) only when told "cpu";
    # otherwise each would train alone on the whole batch, all writing the same run.
    cpu = cfg.cpu or not torch.accelerator.is_available()
    device_type = "cpu" if cpu else torch.accelerator.current_accelerator().type
    mixed = usable_mixed_precision(cfg.mixed_precision, device_type)
    accelerator = Accelerator(cpu=cpu, mixed_precision=mixed)
    check_distribution(accelerator, recipe.decode.precision)
    n_examples = len(next(iter(examples.values())))
    if n_examples == 0:
        raise DataError(
            "no training examples: every user has fewer than two training items; "
            "use a dataset with longer histories (or a k-core filter, data.kcore=5)."
        )
    bucketed = recipe.family.capabilities.bucket_by_length
    lengths = bucket_lengths(examples, cfg.bucket_by_length, bucketed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    batch_size = cfg.batch_size * accelerator.num_processes
    # Stepped once per global batch by hand: accelerate would step it once per process.
    steps_per_epoch = len(epoch_batches(n_examples, batch_size, torch.Generator(), lengths))
    steps_per_epoch = min(steps_per_epoch, cfg.steps_per_epoch or steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lr_factor(cfg.lr_schedule, cfg.warmup_steps, cfg.epochs * steps_per_epoch),
    )
    raw_model = accelerator.unwrap_model(model)

    valid = {
        name: validation_sample(cases, recipe.eval.valid_users, cfg.seed)
        for name, cases in {"valid": split.valid, **(also_valid or {})}.items()
    }
    state = {"epoch": 0, "best": -math.inf, "best_metrics": {}, "bad_epochs": 0}
    if run.last.is_dir():
        saved = resume_checkpoint(run, raw_model, "training from scratch")
        load_full_optimizer_state(raw_model, optimizer, saved["optimizer"])
        if "scheduler" in saved:  # runs saved before schedules existed ran at a constant rate
            scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["loop"]
        accelerator.print(f"resuming {run.path} after epoch {state['epoch']}")
    run.truncate_log(state["epoch"])  # a restart without checkpoints/last starts a fresh log

    progress = cfg.progress and accelerator.is_main_process
    epochs = tqdm(
        range(state["epoch"], cfg.epochs),
        initial=state["epoch"],
        total=cfg.epochs,
        desc="epochs",
        disable=not progress,
    )
    for epoch in epochs:
        if state["bad_epochs"] >= cfg.patience:
            break
        started = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        pool = None if epoch_rows is None else epoch_rows(epoch, generator)
        batches = epoch_batches(n_examples, batch_size, generator, lengths, pool)
        batches = batches[:steps_per_epoch]
        total = 0.0
        for rows in tqdm(
            batches,
            desc=f"epoch {epoch + 1}",
            leave=False,
            disable=not progress,
        ):
            rows = rows[accelerator.process_index :: accelerator.num_processes]
            if len(rows) == 0:
                continue
            batch = {k: v[rows].to(accelerator.device) for k, v in examples.items()}
            if extend is not None:
                batch = extend(batch)
            with accelerator.autocast():
                loss = model(batch)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if cfg.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            total += loss.item()
        record = {
            "epoch": epoch + 1,
            "loss": total / len(batches),
            "steps": len(batches),
            "seconds": round(time.perf_counter() - started, 3),
        }

        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            raw_model.eval()
            validation_started = time.perf_counter()
            metrics: dict[str, float] = {}
            with gathered(raw_model):
                for name, cases in valid.items():
                    found = evaluate(
                        as_recommender(raw_model),
                        cases,
                        ks=recipe.eval.ks,
                        batch_size=recipe.eval.batch_size,
                        exclude_history=recipe.eval.exclude_history,
                        progress=progress,  # a generator's validation decodes for minutes
                    ).metrics
                    metrics.update({_key(name, k): v for k, v in found.items()})
            record["valid_seconds"] = round(time.perf_counter() - validation_started, 3)
            record.update({f"valid/{k}": v for k, v in metrics.items()})
            score = float(np.mean([metrics[_key(name, SELECT_BY)] for name in valid]))
            if score > state["best"]:
                state.update(best=score, best_metrics=metrics, bad_epochs=0)
                weights = full_weights(raw_model)  # every process: a sharded model gathers
                if accelerator.is_main_process:
                    save_checkpoint(run.best, weights, {"epoch": epoch + 1, "metrics": metrics})
            else:
                state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        weights, moments = full_weights(raw_model), full_optimizer_state(raw_model, optimizer)
        if accelerator.is_main_process:
            run.append_log(record)
            save_checkpoint(
                run.last,
                weights,
                {
                    "optimizer": moments,
                    "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(),
                    "loop": state,
                },
            )
        del weights, moments
        epochs.set_postfix(
            loss=f"{record['loss']:.3f}",
            best=f"{state['best']:.4f}" if np.isfinite(state["best"]) else "-",
        )
    epochs.close()
    accelerator.wait_for_everyone()
    load_weights(run.best, raw_model)
    gather(raw_model)  # a sharded model decodes the final evaluation whole
    return state["best_metrics"]


def _key(valid: str, metric: str) -> str:
    """A validation metric's name: ``ndcg@10`` for the main set, ``<name>/ndcg@10`` for others."""
    return metric if valid == "valid" else f"{valid}/{metric}"


def lr_factor(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier after ``step`` optimizer steps: a linear warm-up over
    ``warmup_steps``, then 1 ("constant") or a half cosine reaching 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def resume_checkpoint(run: RunDir, model: nn.Module, restart: str) -> dict:
    """The loop state saved in ``run.last``, its weights loaded into ``model``. A checkpoint
    that cannot be read is a DataError saying how to start over (``restart``: from where)."""
    try:
        saved = load_state(run.last)
        load_weights(run.last, model)
    except DataError as exc:
        raise DataError(
            f"cannot resume {run.path}: {exc}. Remove {run.last} to restart {restart}, or pass "
            "--overwrite to replace the whole run."
        ) from exc
    return saved


def validation_sample(cases: EvalSet, n: int | None, seed: int) -> EvalSet:
    """``n`` cases drawn once (seeded) from ``cases``, in their original order; all if ``n``
    is None or at least their number."""
    if n is None or n >= len(cases):
        return cases
    keep = np.sort(np.random.default_rng(seed).choice(len(cases), n, replace=False))
    told = None if cases.preferences is None else [cases.preferences[i] for i in keep]
    return EvalSet(cases.users[keep], cases.histories[keep], cases.targets[keep], told)


#: Batches sorted by length together: enough to even out lengths, few enough to stay random.
BUCKET_BATCHES = 50


def bucket_lengths(
    examples: Mapping[str, torch.Tensor], bucket: bool | None, default: bool
) -> torch.Tensor | None:
    """The lengths to bucket batches by, or None for random batches: ``train.bucket_by_length``,
    whose default (None) is the family's ``default`` (off for SASRec, BERT4Rec, HSTU: bucketed,
    they trained worse; see ``TrainConfig.bucket_by_length``). The generators' windows look like
    SASRec's, so the family, not the examples, decides."""
    if bucket is None:
        bucket = default
    return examples.get("lengths") if bucket else None


def epoch_batches(
    n_examples: int,
    batch_size: int,
    generator: torch.Generator,
    lengths: torch.Tensor | None = None,
    rows: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """One epoch's batches of example indices: a random permutation of ``rows`` (None: all
    ``n_examples``) cut into ``batch_size`` slices. With ``lengths``, each run of
    ``BUCKET_BATCHES`` batches is first sorted by length and the batches are then shuffled, so
    a batch holds examples of similar length."""
    if rows is None:
        order = torch.randperm(n_examples, generator=generator)
    else:
        order = rows[torch.randperm(len(rows), generator=generator)]
    if lengths is None:
        return list(order.split(batch_size))
    batches = []
    for chunk in order.split(batch_size * BUCKET_BATCHES):
        batches.extend(chunk[lengths[chunk].argsort(stable=True)].split(batch_size))
    shuffled = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffled]
