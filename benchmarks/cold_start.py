"""Benchmark: cold-start retrieval of items never seen in training (TIGER's Beauty protocol).

5% of Beauty's items (drawn at random with the seed) are removed from every training sequence.
The RQ-VAE is fitted on the other 95% of item texts; the held-out items get IDs from their text
with the fitted quantizer (``SemanticIds.add_items``), so the generator can only reach them
through the ID prefixes they share with trained items. The decoder-only recipe
(configs/decoder-only-beauty.yaml) then trains on the warm data; the test split is the standard
one. Reported: Recall / NDCG at 5 and 10 over the test cases whose target is a cold item, over
the others, and how often cold items appear in the top-10 lists, for the generated lists, for
TIGER's prefix-sharing retrieval and for ``decode.cold.items=text`` (genrec.recommend.cold_items),
whose knobs are chosen on validation only: the most cold-target Recall@10 among the settings
that keep warm-target Recall@10 within ``--slack`` of the generated lists'. The cold items the
mechanism scores are those without a training interaction (read from the training data). Each
split is decoded once (saved in the run); the knobs are then searched on the saved lists.
Writes the experiment benchmarks/results/cold-start.md (and cold-start.json). The run lives in
runs/bench/ and resumes.

    python benchmarks/cold_start.py --epochs 10 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from results import Record, machine, write_experiment

from genrec.config import load_config
from genrec.data.dataset import Sequences
from genrec.data.prepare import load_dataset, make_split
from genrec.data.splits import EvalSet
from genrec.data.windows import PAD
from genrec.models.decoder_only import DecoderOnly, decoder_only_examples
from genrec.recipes.evaluate import as_recommender
from genrec.recipes.loop import fit
from genrec.recipes.recipe import Recipe
from genrec.recipes.run import commit_config, open_run_dir
from genrec.recommend.cold_items import ColdItems, ColdItemsConfig, untrained_items
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.rqvae import RQVAE, RQVAEConfig
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.cache import item_embeddings
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import source_commit

ROOT = Path(__file__).resolve().parents[1]
KS = (5, 10)
EPSILONS = (0.1, 0.2)  # TIGER's share of a top-k list open to cold items
#: The knobs of decode.cold searched on validation (bias: every 2 log-probability units).
RECENCY = (0.2, 0.35, 0.5, 0.8, 1.0)
TEXT_WEIGHT = (5.0, 10.0, 20.0, 40.0)
PREFIX_WEIGHT = (0.0, 0.5, 1.0)
SLOTS = (1, 2, 3)
BIAS = tuple(float(b) for b in range(-80, 1, 2))


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


def rates(rank: np.ndarray) -> dict[str, float]:
    """Recall@k and NDCG@k (one target per case) from 0-based ranks (-1: not in the list)."""
    out = {"cases": float(len(rank))}
    for k in KS:
        inside = (rank >= 0) & (rank < k)
        out[f"recall@{k}"] = float(inside.mean())
        out[f"ndcg@{k}"] = float(np.where(inside, 1 / np.log2(np.maximum(rank, 0) + 2), 0).mean())
    return out


def with_cold_items(
    lists: np.ndarray, ids: SemanticIds, cold: np.ndarray, depth: int, budget: int
) -> np.ndarray:
    """TIGER's cold-start retrieval on top of generated lists ``[N, k]``: after each listed
    item come the cold items whose first ``depth`` codes equal its own, until ``budget`` cold
    items are in; the list keeps its length (the last items drop out)."""
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    for item in cold.tolist():
        by_prefix.setdefault(tuple(ids.codes[item, :depth].tolist()), []).append(item)
    out = np.full_like(lists, PAD)
    for row, items in enumerate(lists):
        merged: list[int] = []
        added = 0
        for item in items[items != PAD].tolist():
            merged.append(item)
            for extra in by_prefix.get(tuple(ids.codes[item, :depth].tolist()), []):
                if added < budget and extra not in merged:
                    merged.append(extra)
                    added += 1
        merged = merged[: lists.shape[1]]
        out[row, : len(merged)] = merged
    return out


def ranks(lists: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its list, -1 when absent."""
    hits = lists == targets[:, None]
    return np.where(hits.any(1), hits.argmax(1), -1)


def generated(rec: GenerativeRecommender, cases: EvalSet, path: Path) -> dict[str, np.ndarray]:
    """The beam search's top-10 of every case (``items``, ``scores``) and the model's
    first-level log-probabilities (``first``), decoded once and kept in ``path``."""
    if path.is_file():
        with np.load(path) as saved:
            return dict(saved)
    parts = [
        rec.generate(torch.as_tensor(cases.histories[start : start + 1024]), max(KS))
        for start in range(0, len(cases), 1024)
    ]
    columns = zip(*parts, strict=True)
    out = {
        name: torch.cat(tensors).numpy()
        for name, tensors in zip(("items", "scores", "first"), columns, strict=True)
    }
    np.savez(path, **out)
    return out


def merged_ranks(
    decoded: dict[str, np.ndarray], candidates: np.ndarray, values: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """0-based rank of each target in the top-10 after merging cold ``candidates [N, s]``
    (best first, scores ``values [N, s]`` on the beam scale) into the generated lists: what
    ``ColdItems.merge`` returns, computed without re-sorting for a fast knob search."""
    items, scores = decoded["items"], decoded["scores"]
    # Warm target in the list at p: pushed down by every candidate scoring above it.
    listed = items == targets[:, None]
    at = np.where(listed.any(1), listed.argmax(1), -1)
    own = np.take_along_axis(scores, np.maximum(at, 0)[:, None], 1)
    warm = np.where(at >= 0, at + (values > own).sum(1), -1)
    # Cold target among the candidates at j: after every listed item scoring above it.
    chosen = candidates == targets[:, None]
    j = np.where(chosen.any(1), chosen.argmax(1), -1)
    value = np.take_along_axis(values, np.maximum(j, 0)[:, None], 1)
    cold = np.where(j >= 0, (scores > value).sum(1) + j, -1)
    rank = np.where(at >= 0, warm, cold)
    return np.where(rank < items.shape[1], rank, -1)


def search_knobs(
    scorer: ColdItems,
    decoded: dict[str, np.ndarray],
    cases: EvalSet,
    is_cold: np.ndarray,
    slack: float,
) -> tuple[ColdItemsConfig, list[dict]]:
    """The validation-chosen ``decode.cold`` knobs (see the module docstring) and every
    setting's validation Recall@10 on cold and warm targets."""
    histories = torch.as_tensor(cases.histories)
    items = torch.as_tensor(decoded["items"])
    first = torch.as_tensor(decoded["first"])[:, scorer.first_codes].clamp(min=-1e4)
    in_list = (items[:, :, None] == scorer.items[None, None, :]).any(1)  # [N, C]
    base = ranks(decoded["items"], cases.targets)
    floor = (1 - slack) * rates(base[~is_cold])["recall@10"]
    tried = []
    for recency in RECENCY:
        scorer.config = replace(scorer.config, recency=recency)
        similarity = scorer.similarity(histories)
        for text, prefix in itertools.product(TEXT_WEIGHT, PREFIX_WEIGHT):
            score = (text * similarity + prefix * first).masked_fill(in_list, -torch.inf)
            best, at = score.topk(max(SLOTS), dim=1)
            candidates = scorer.items[at].numpy()
            for slots, bias in itertools.product(SLOTS, BIAS):
                values = best[:, :slots].numpy() + bias
                rank = merged_ranks(decoded, candidates[:, :slots], values, cases.targets)
                knobs = {"recency": recency, "text_weight": text, "prefix_weight": prefix}
                knobs |= {"slots": slots, "bias": bias}
                cold, warm = rates(rank[is_cold]), rates(rank[~is_cold])
                tried.append(knobs | {"cold": cold["recall@10"], "warm": warm["recall@10"]})
    allowed = [t for t in tried if t["warm"] >= floor]
    best_knobs = max(allowed, key=lambda t: (t["cold"], t["warm"]))
    chosen = {k: v for k, v in best_knobs.items() if k not in ("cold", "warm")}
    return ColdItemsConfig(items="text", **chosen), tried


def merged_lists(scorer: ColdItems, decoded: dict[str, np.ndarray], cases: EvalSet) -> np.ndarray:
    """The top-10 lists ``decode.cold.items=text`` returns, by ``ColdItems.merge`` itself."""
    out = []
    for start in range(0, len(cases), 1024):
        rows = slice(start, start + 1024)
        items, _ = scorer.merge(
            torch.as_tensor(decoded["items"][rows]),
            torch.as_tensor(decoded["scores"][rows]),
            torch.as_tensor(cases.histories[rows]),
            torch.as_tensor(decoded["first"][rows]),
        )
        out.append(items.numpy())
    return np.concatenate(out)


def ended(epochs: int, best: int, recipe: Recipe) -> str:
    """How the training run ended, from its log."""
    if epochs >= recipe.train.epochs:
        return "all epochs"
    if (epochs - best) // recipe.train.eval_every >= recipe.train.patience:
        return "early stopping"
    return "stopped for time, best checkpoint so far"


TITLE = "Cold start: Beauty with 5% of items unseen in training (benchmarks/cold_start.py)"
TEXT = "+ cold items by text (decode.cold.items=text)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train further: evaluate the run's best checkpoint so far and report",
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="stop after training")
    parser.add_argument(
        "--slack",
        type=float,
        default=0.025,
        help="knob search: the warm-target validation Recall@10 a setting may lose (share)",
    )
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
    commit_config(run, recipe)  # its config.yaml, as a training run writes it
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
    if args.train_only:
        return
    model.eval()
    rec = as_recommender(model, recipe)
    assert isinstance(rec, GenerativeRecommender)
    decode_started = time.perf_counter()
    decoded = {
        name: generated(rec, cases, run.path / f"generated-{name}.npz")
        for name, cases in (("valid", split.valid), ("test", split.test))
    }
    decode_seconds = time.perf_counter() - decode_started

    # The mechanism's cold items come from the training data alone.
    untrained = untrained_items(warm_split.train, dataset.n_items)
    scorer = ColdItems(item_embeddings(dataset, progress=False), untrained, ids, ColdItemsConfig())
    valid_cold = np.isin(split.valid.targets, cold)
    chosen, tried = search_knobs(scorer, decoded["valid"], split.valid, valid_cold, args.slack)
    scorer.config = chosen
    valid_lists = merged_lists(scorer, decoded["valid"], split.valid)
    valid_rank = ranks(valid_lists, split.valid.targets)
    valid_base = ranks(decoded["valid"]["items"], split.valid.targets)
    valid_rates = {
        "generated lists": (rates(valid_base[valid_cold]), rates(valid_base[~valid_cold])),
        "+ cold items by text": (rates(valid_rank[valid_cold]), rates(valid_rank[~valid_cold])),
    }
    searched = next(t for t in tried if all(t[k] == v for k, v in asdict(chosen).items() if k in t))
    assert abs(searched["cold"] - valid_rates["+ cold items by text"][0]["recall@10"]) < 2e-3

    lists, targets = decoded["test"]["items"], split.test.targets
    is_cold = np.isin(targets, cold)
    policies = {"generated lists": lists}
    # The ID without its dedup token (as TIGER matched it), and one level shorter.
    for depth in (ids.n_levels - 1, ids.n_levels - 2):
        for epsilon in EPSILONS:
            budget = round(epsilon * max(KS))
            policies[f"+ cold items sharing {depth} codes, eps {epsilon}"] = with_cold_items(
                lists, ids, cold, depth, budget
            )
    policies[TEXT] = merged_lists(scorer, decoded["test"], split.test)
    groups, shares = {}, {}
    for policy, ranked in policies.items():
        rank = ranks(ranked, targets)
        groups[f"{policy}: cold targets"] = rates(rank[is_cold])
        groups[f"{policy}: warm targets"] = rates(rank[~is_cold])
        groups[f"{policy}: all targets"] = rates(rank)
        shares[policy] = float(np.isin(ranked[:, :10], cold).mean())
    log = run.epochs()
    summary = {
        "groups": groups,
        "cold_share_top10": shares,
        "epochs": len(log),
        "chosen": asdict(chosen),
        "valid": {p: {"cold": c, "warm": w} for p, (c, w) in valid_rates.items()},
        "untrained_items": int(untrained.sum()),
        "settings_tried": len(tried),
    }
    (run.path / "cold_start.json").write_text(json.dumps(summary, indent=2) + "\n")

    header = "| lists: test cases | n | " + " | ".join(
        f"{m}@{k}" for k in KS for m in ("recall", "ndcg")
    )
    lines = [header + " | cold share of top-10 |", "|---|---:|" + "---:|" * (2 * len(KS) + 1)]
    records = []
    for group, values in groups.items():
        cells = " | ".join(f"{values[f'{m}@{k}']:.4f}" for k in KS for m in ("recall", "ndcg"))
        policy = group.rsplit(":", 1)[0]
        lines.append(f"| {group} | {int(values['cases']):,} | {cells} | {shares[policy]:.2%} |")
        head = group.endswith("cold targets") and policy in ("generated lists", TEXT)
        records += [
            Record(
                "beauty, 5% of items held out",
                f"decoder-only, {group}",
                f"{m}@{k}",
                values[f"{m}@{k}"],
                protocol="test, full ranking",
                seeds=(args.seed,),
                headline=head and f"{m}@{k}" == "recall@10",
            )
            for k in KS
            for m in ("recall", "ndcg")
        ]
    train_seconds = sum(r.get("seconds", 0.0) + r.get("valid_seconds", 0.0) for r in log)
    best = max(log, key=lambda r: r.get("valid/ndcg@10", -1.0))
    base_cold, base_warm = valid_rates["generated lists"]
    text_cold, text_warm = valid_rates["+ cold items by text"]
    test_base = groups["generated lists: warm targets"]["recall@10"]
    test_cold = groups[f"{TEXT}: cold targets"]["recall@10"]
    test_warm = groups[f"{TEXT}: warm targets"]["recall@10"]
    met = test_cold >= 0.02 and test_warm >= 0.95 * test_base
    knobs = ", ".join(f"{k}={v}" for k, v in asdict(chosen).items())
    where = machine()
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"{where}; commit {source_commit()}; seed {args.seed}.",
            "",
            f"{len(cold):,} of {dataset.n_items:,} items ({args.fraction:.0%}, drawn at random) "
            "removed from the training sequences; RQ-VAE fitted on the other items' text, the "
            "held-out items given IDs from their text with the fitted quantizer "
            f"({ids.metadata.get('n_added', 0)} added; codebook sizes {ids.codebook_sizes}). "
            f"Decoder-only recipe of configs/decoder-only-beauty.yaml, capped at "
            f"{recipe.train.epochs} epochs: {len(log)} epochs "
            f"({ended(len(log), best['epoch'], recipe)}; best validation NDCG@10 at epoch "
            f"{best['epoch']}), {train_seconds / 60:.1f} min of training and validation"
            f"{f', IDs {ids_seconds:.0f} s' if ids_seconds > 1 else ''}; decoding validation "
            f"and test once, {decode_seconds / 60:.1f} min. Test split as in the standard "
            "protocol, full catalog, 20 beams, nothing excluded.",
            "",
            f"**Target {'met' if met else 'not met'}**: with `decode.cold.items=text` cold-target "
            f"test Recall@10 is {test_cold:.4f} (target >= 0.02; generated lists alone "
            f"{groups['generated lists: cold targets']['recall@10']:.4f}) and warm-target "
            f"Recall@10 {test_warm:.4f}, {test_warm / test_base - 1:+.1%} against the same "
            f"model without it ({test_base:.4f}; target: within -5%). The earlier 40-epoch "
            "model (33 epochs run, commit 8bb239b, 2 threads) had warm-target Recall@10 0.0440.",
            "",
            *lines,
            "",
            f"- '+ cold items by text': `decode.cold.items=text` (genrec.recommend.cold_items). "
            f"The {int(untrained.sum()):,} items with no training interaction (read from the "
            "training sequences) are scored per user as bias + text_weight x cosine(item text, "
            "recency-weighted mean of the history's texts) + prefix_weight x the model's "
            "log-probability of the item's first code, and at most `slots` of them are merged "
            "into the generated list by score. Knobs chosen on validation only "
            f"({len(tried):,} settings: the most cold-target Recall@10 with warm-target "
            f"Recall@10 >= {1 - args.slack:.1%} of the generated lists'): {knobs}. Validation "
            f"Recall@10 cold / warm: generated lists {base_cold['recall@10']:.4f} / "
            f"{base_warm['recall@10']:.4f}, with the cold items {text_cold['recall@10']:.4f} / "
            f"{text_warm['recall@10']:.4f}. Test was evaluated once, with these knobs.",
            "- '+ cold items sharing d codes, eps e' is TIGER's cold-start retrieval applied "
            f"to the generated top-{max(KS)}: after each listed item come the cold items whose "
            f"first d codes equal its own (d = {ids.n_levels - 1}: the ID without the dedup "
            f"token), up to round(e x {max(KS)}) per list, the list keeping its length.",
            "- Cold share: the share of all top-10 slots that hold a held-out item (they are "
            f"{args.fraction:.0%} of the catalog). The generated lists may hold them (they are "
            "in the trie) but the network, trained without them, ranks them low.",
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            "cold-start",
            body,
            records,
            title=TITLE,
            script="benchmarks/cold_start.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
