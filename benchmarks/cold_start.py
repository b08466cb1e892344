"""Benchmark: cold-start retrieval of items never seen in training (TIGER's Beauty protocol).

5% of Beauty's items (drawn at random with the seed) are removed from every training sequence.
The RQ-VAE is fitted on the other 95% of item texts; the held-out items get IDs from their text
with the fitted quantizer (``SemanticIds.add_items``), so the generator can only reach them
through the ID prefixes they share with trained items. The decoder-only recipe
(configs/decoder-only-beauty.yaml) then trains on the warm data; the test split is the standard
one. Reported: Recall / NDCG at 5 and 10 over the test cases whose target is a cold item, over
the others, and how often cold items appear in the top-10 lists. Writes the ``<!-- cold-start
-->`` section of benchmarks/RESULTS.md. The run lives in runs/bench/ and resumes.

    python benchmarks/cold_start.py --epochs 40 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import torch
from accelerate.utils import set_seed
from results import machine, write_section

from genrec.config import load_config
from genrec.data.dataset import Sequences
from genrec.data.prepare import load_dataset, make_split
from genrec.eval import evaluate
from genrec.models.decoder_only import DecoderOnly, decoder_only_examples
from genrec.recipes.evaluate import as_recommender
from genrec.recipes.loop import fit
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import open_run_dir
from genrec.sid.rqvae import RQVAE, RQVAEConfig
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.cache import item_embeddings
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import source_commit

ROOT = Path(__file__).resolve().parents[1]
KS = (5, 10)


def cold_ids(embeddings: np.ndarray, cold: np.ndarray, seed: int, metadata: dict) -> SemanticIds:
    """IDs for every item, the quantizer fitted on the warm items only; the cold ones are
    added afterwards as a new catalog entry would be."""
    warm = np.setdiff1d(np.arange(len(embeddings)), cold)
    quantizer = RQVAE(replace(RQVAEConfig(), seed=seed, progress=False)).fit(embeddings[warm])
    built = SemanticIds.build(embeddings[warm], quantizer, dedup="level")
    built = built.add_items(embeddings[cold])  # rows: warm items, then cold items
    codes = np.empty_like(built.codes)
    codes[warm], codes[cold] = built.codes[: len(warm)], built.codes[len(warm) :]
    return SemanticIds(codes, built.codebook_sizes, quantizer, {**built.metadata, **metadata})


def without(train: Sequences, items: np.ndarray) -> Sequences:
    """``train`` with every occurrence of ``items`` removed (order otherwise kept)."""
    keep = ~np.isin(train.items, items)
    users = np.repeat(np.arange(len(train)), train.lengths)
    lengths = np.bincount(users[keep], minlength=len(train))
    return Sequences(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), train.items[keep])


def rates(per_user: pl.DataFrame) -> dict[str, float]:
    """Recall@k and NDCG@k (one target per case) from the harness's per-user ranks."""
    rank = per_user["rank"].to_numpy()
    hit = rank >= 0
    out = {"cases": float(len(rank))}
    for k in KS:
        inside = hit & (rank < k)
        out[f"recall@{k}"] = float(inside.mean())
        out[f"ndcg@{k}"] = float(np.where(inside, 1 / np.log2(rank + 2), 0.0).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train further: evaluate the run's best checkpoint so far and report",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    name = f"cold-start-beauty-s{args.seed}"
    recipe = load_config(
        Recipe,
        ROOT / "configs" / "decoder-only-beauty.yaml",
        [
            f"run_dir={ROOT / 'runs' / 'bench' / name}",
            f"ids={ROOT / 'runs' / 'bench' / 'ids' / name}",
            f"train.seed={args.seed}",
            f"train.epochs={args.epochs}",
            "train.progress=false",
        ],
    )
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    rng = np.random.default_rng(args.seed)
    cold = np.sort(rng.choice(dataset.n_items, round(args.fraction * dataset.n_items), False))

    started = time.perf_counter()
    if Path(recipe.ids, "semantic_ids.json").is_file():
        ids = SemanticIds.load(recipe.ids)
    else:
        embeddings = item_embeddings(dataset, progress=False)
        metadata = {"dataset": dataset.name, "fingerprint": dataset.fingerprint, "cold": len(cold)}
        ids = cold_ids(embeddings, cold, args.seed, metadata)
        ids.save(recipe.ids)
    ids_seconds = time.perf_counter() - started

    warm_split = replace(split, train=without(split.train, cold))
    run = open_run_dir(recipe, overwrite=False)
    set_seed(args.seed)
    model = DecoderOnly(ids, recipe.decoder_only)
    if args.report_only:
        load_weights(run.best, model)
    else:
        fit(
            model,
            decoder_only_examples(warm_split.train, split.max_history),
            lambda m: as_recommender(m, recipe),
            warm_split,
            recipe,
            run,
        )
    model.eval()
    result = evaluate(as_recommender(model, recipe), split.test, ks=KS, progress=False)
    result.save(run.eval_dir("test"))
    per_user = result.per_user
    is_cold = pl.col("target").is_in(cold.tolist())
    groups = {
        "cold targets": rates(per_user.filter(is_cold)),
        "warm targets": rates(per_user.filter(~is_cold)),
        "all": rates(per_user),
    }
    top10 = np.stack(per_user["items"].to_numpy())[:, :10]
    cold_share = float(np.isin(top10, cold).mean())
    log = run.epochs()
    summary = {"groups": groups, "cold_share_top10": cold_share, "epochs": len(log)}
    (run.path / "cold_start.json").write_text(json.dumps(summary, indent=2) + "\n")

    header = "| test cases | n | " + " | ".join(f"{m}@{k}" for k in KS for m in ("recall", "ndcg"))
    lines = [header + " |", "|---|---:|" + "---:|" * 2 * len(KS)]
    for group, values in groups.items():
        cells = " | ".join(f"{values[f'{m}@{k}']:.4f}" for k in KS for m in ("recall", "ndcg"))
        lines.append(f"| {group} | {int(values['cases']):,} | {cells} |")
    train_seconds = sum(r.get("seconds", 0.0) + r.get("valid_seconds", 0.0) for r in log)
    best = max(log, key=lambda r: r.get("valid/ndcg@10", -1.0))
    body = "\n".join(
        [
            "### Cold start: Beauty with 5% of items unseen in training (benchmarks/cold_start.py)",
            "",
            f"{machine()}; commit {source_commit()}; seed {args.seed}.",
            "",
            f"{len(cold):,} of {dataset.n_items:,} items ({args.fraction:.0%}, drawn at random) "
            "removed from the training sequences; RQ-VAE fitted on the other items' text, the "
            "held-out items given IDs from their text with the fitted quantizer "
            f"({ids.metadata.get('n_added', 0)} added; codebook sizes {ids.codebook_sizes}). "
            f"Decoder-only recipe of configs/decoder-only-beauty.yaml, {len(log)} epochs"
            f"{' (stopped early for time: --report-only)' if args.report_only else ''} "
            f"(best validation NDCG@10 at epoch {best['epoch']}), "
            f"{train_seconds / 60:.1f} min of training and validation, IDs {ids_seconds:.0f} s. "
            "Test split as in the standard protocol, full catalog, 20 beams.",
            "",
            *lines,
            "",
            f"- Cold items fill {cold_share:.2%} of all top-10 slots (they are "
            f"{args.fraction:.0%} of the catalog).",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("cold-start", body)


if __name__ == "__main__":
    main()
