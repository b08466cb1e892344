"""Benchmark: RL post-training (GREAM's SRPO, arXiv 2510.20815) of a supervised generative
run, SRPO vs GRPO.

Starts from the run in the recipe's ``init_from`` (configs/srpo-office.yaml: the decoder-only
Office run of configs/decoder-only-office.yaml, which must be trained first) and post-trains
it as SRPO (prefix credit + Pass@k bonus, the recipe as it is) and as GRPO (exact-match reward,
no bonus), once per ``--seeds`` seed (the RL seed: which users each step draws, and the
rollouts), with each of SRPO's two parts alone (ablations, the first seed only), and with
MiniOneRec's rank-aware reward for beam rollouts (the first seed only). The rewards are named
from the registry (``rl.reward``, ``genrec.rl.rewards``). Reports
test Recall/NDCG@5/10 of the start and of each run (chosen on validation NDCG@10) with the
paired change over the start, how the runs went (steps, best step, exact hits, zero-variance
groups, KL) and their speed from the per-step logs: rollouts per second, time per RL step and
the share spent sampling vs updating. Writes the experiment benchmarks/results/rl.md and rl.json
(Office), or the one ``--section`` names.

Beside every RL run is its cross-entropy control (``rl.objective=cross_entropy``): the same
loop on the same users per step, steps, mini-batches and learning rate, minimising the targets'
negative log-likelihood with no rollout and no policy gradient. It reads none of the RL
settings the variants differ in (reward, bonus, rollouts), so the variants of one seed share
one control (``ce-<dataset>-s<seed>``). Each run's test NDCG@10 is compared per user, paired
bootstrap 95% CI (``genrec.eval.metrics.paired_bootstrap``), with its start and with its
seed's control: RL helps only where it beats both. Seeds default to three (the recipe's
``train.seed`` and the next two).

Run directories sit beside the recipe's ``run_dir`` as ``<variant>-<dataset>`` (``srpo-office``,
``grpo-office``, ``srpo-nobonus-office``, ``srpo-nocredit-office``, ``rank-aware-office``), with
``-s<seed>`` appended to SRPO's and GRPO's when several seeds are asked for; the controls as
``ce-<dataset>-s<seed>``. (GRPO runs trained
before ``rl.reward`` existed spelled it ``rl.prefix_credit=[]``: the same reward, but another
config, so such a run directory is reported with ``--report-only``, not resumed.)

    python benchmarks/rl.py                      # trains (or resumes) all, then reports
    python benchmarks/rl.py --report-only        # reports what the runs hold now
    python benchmarks/rl.py --config configs/srpo-beauty.yaml --seeds 42 43 44 \
        --section rl-beauty --title "RL post-training on Beauty" --note "..." --report-only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
from results import Record, machine, write_experiment
from runs import run_status, train_or_report

from genrec.config import load_config
from genrec.eval import EvalResult
from genrec.eval.metrics import paired_bootstrap, per_user_metrics
from genrec.recipes.recipe import Recipe
from genrec.training.run_dir import RunDir, source_commit

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
#: The variants: name -> (run directory prefix, overrides of the SRPO recipe, every seed?).
VARIANTS = {
    "GRPO (exact reward, no bonus)": ("grpo", ["rl.reward=exact", "rl.pass_at_k=null"], True),
    "SRPO (prefix credit + Pass@4 bonus)": ("srpo", [], True),
    "ablation: prefix credit, no bonus": ("srpo-nobonus", ["rl.pass_at_k=null"], False),
    "ablation: bonus, exact reward": ("srpo-nocredit", ["rl.reward=exact"], False),
    "MiniOneRec (rank-aware reward, no bonus)": (
        "rank-aware",
        ["rl.reward=rank_aware", "rl.rollout=beam", "rl.pass_at_k=null"],
        False,
    ),
}


#: Settings of the recipe that the cross-entropy control does not read: variants that differ
#: only in them share their seed's control.
RL_ONLY = (
    *("rl.reward", "rl.prefix_credit", "rl.pass_at_k", "rl.rollout", "rl.rollouts"),
    *("rl.temperature", "rl.clip", "rl.kl_beta", "rl.refill", "rl.anchor", "rl.mode"),
)
CONTROL = "cross-entropy control"
#: What the tables say of the two splits: the gate chose on one, the gain is read on the other.
SELECTION = (
    "The validation gate chose each row's checkpoint on validation NDCG@10, so validation is "
    "the selection set, not evidence of a gain: a gain is read on test only, which neither "
    "training, the gate nor the tuning read. RL helps where it beats both its start and its "
    "cross-entropy control (the same users, steps and learning rate without a policy "
    "gradient) on test."
)


def control_overrides(overrides: list[str]) -> tuple[list[str], str]:
    """The control of a variant with ``overrides``: its overrides that the control reads plus
    ``rl.objective=cross_entropy``, and a run directory prefix shared by the variants whose
    control is the same run."""
    kept = [o for o in overrides if not o.split("=", 1)[0].startswith(RL_ONLY)]
    tag = hashlib.sha1(" ".join(kept).encode()).hexdigest()[:6] if kept else ""
    return [*kept, "rl.objective=cross_entropy"], "ce" + (f"-{tag}" if tag else "")


#: How configs/srpo-office.yaml was chosen: short SRPO runs from the same start, compared on
#: validation NDCG@10 only (start: 0.0493 on the 2,000-user sample, 0.0471 on all users).
TUNING = """\
Tuning (validation NDCG@10 only; each a short SRPO run from the same start):
- 64 users/step, sampled rollouts, lr 1e-5: best 0.0502 on the 2,000-user sample at step 20
  (start 0.0493), all validation users 0.0474 (start 0.0471); stopped at step 70.
- 64 users/step, beam rollouts, lr 3e-5: best 0.0505 on the sample at step 20, all users 0.0477.
- 256 users/step, sampled, lr 3e-5 (validated on all users): 0.0476, 0.0477, 0.0476, 0.0473 at
  steps 10-40 (start 0.0471); stopped by hand.
- 256 users/step, beam, lr 1e-4 (all users): 0.0486 at step 10, then 0.0482, 0.0462 as the KL
  grew (0.01 -> 0.03); stopped by hand. Chosen, validated every 5 steps.
The printed final results of the first two runs included their test metrics; the choice above
was made on validation, and those runs are not reported.

Reading: every variant gains about +0.0015 validation NDCG@10 within 5-20 steps and loses it
again as the KL grows, and none carries a gain to test (paired changes -0.0004 to -0.0016, all
CIs across 0). The variants share seeds, users and start, so they are one trajectory family,
not four pieces of evidence, and the kept checkpoint is the best of 5-8 validations: the
validation gain is partly that selection. With beam rollouts (distinct items) an exact-match
group holds at most one hit, and for c = 1 the Pass@4 bonus is the z-score times a constant
(1.41 at n = 10), which Adam's scaling all but cancels: bonus-only and GRPO ran alike. Prefix
credit gave more groups a signal (46% without one vs 56%) but no better checkpoint.
"""


def summary(name: str, run: RunDir, recipe: Recipe) -> tuple[str, str]:
    """(how the run went, its speed) as two markdown lines, from its per-step log."""
    steps = run.epochs()
    control = recipe.rl.objective == "cross_entropy"
    rl = [r for r in steps if ("nll" if control else "reward") in r]
    valid = [r for r in steps if "valid/ndcg@10" in r]
    best = max(valid, key=lambda r: r["valid/ndcg@10"])
    mean = lambda key: statistics.fmean(r[key] for r in rl)  # noqa: E731
    stopped = "" if run_status(run) == "finished" else " (STOPPED early)"
    if control:
        went = (
            f"- {name}: {len(rl)} steps{stopped}, best validation NDCG@10 "
            f"{best['valid/ndcg@10']:.4f} at step {best['step']} (start "
            f"{valid[0]['valid/ndcg@10']:.4f}); targets' NLL {rl[0]['nll']:.3f} at the first "
            f"step, {rl[-1]['nll']:.3f} at the last"
        )
        update = mean("update_seconds")
        return went, f"- {name}: {update:.2f} s per step (no rollouts)"
    went = (
        f"- {name}: {len(rl)} steps{stopped}, best validation NDCG@10 {best['valid/ndcg@10']:.4f}"
        f" at step {best['step']} (start {valid[0]['valid/ndcg@10']:.4f}); mean reward "
        f"{mean('reward'):.3f}, exact hits {mean('exact'):.1%} of rollouts, zero-variance "
        f"groups {mean('zero_variance'):.0%} (dropped), KL at the last step {rl[-1]['kl']:.4f}"
    )
    sample, update = mean("sample_seconds"), mean("update_seconds")
    per_step = recipe.rl.users_per_step * recipe.rl.rollouts
    valid_s = statistics.fmean(r["valid_seconds"] for r in valid)
    speed = (
        f"- {name}: {sample + update:.2f} s per RL step ({per_step} rollouts: "
        f"{per_step / (sample + update):.0f} rollouts/s in all, {per_step / sample:.0f}/s "
        f"sampling), {sample / (sample + update):.0%} sampling / "
        f"{update / (sample + update):.0%} updating; a validation "
        f"({recipe.eval.valid_users or 'all'} users, beam search) {valid_s:.1f} s"
    )
    return went, speed


def row(
    name: str,
    result: EvalResult,
    start: EvalResult | None = None,
    control: EvalResult | None = None,
) -> str:
    """A table row; with ``start`` (and ``control``) the paired change of NDCG@10 over the
    same users from it."""
    cells = [f"{result.metrics[k]:.4f}" for k in COLUMNS]
    changes = [paired_change(result, other) if other else "" for other in (start, control)]
    return f"| {name} | " + " | ".join([*cells, *changes]) + " |"


def per_user_ndcg(result: EvalResult, other: EvalResult) -> tuple[np.ndarray, np.ndarray]:
    """NDCG@10 per user of ``result`` and ``other`` over their common users, in one order."""
    pair = result.per_user.select("user", "rank").join(
        other.per_user.select("user", "rank"), on="user", suffix="_other"
    )
    ndcg = per_user_metrics(pair["rank"].to_numpy(), [10])["ndcg@10"]
    return ndcg, per_user_metrics(pair["rank_other"].to_numpy(), [10])["ndcg@10"]


def paired_change(result: EvalResult, other: EvalResult) -> str:
    """Mean per-user change of NDCG@10 from ``other`` with its paired bootstrap 95% CI (the
    same users in both, so the CI is far narrower than that of either mean)."""
    diff, low, high = paired_bootstrap(*per_user_ndcg(result, other))
    return f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]"


def over_seeds(name: str, pairs: list[tuple[EvalResult, EvalResult]], against: str) -> str | None:
    """One line: the paired test NDCG@10 change of a variant from ``against`` on each seed
    (``pairs``: the run's and the other's test results), and on how many its CI is above 0."""
    if len(pairs) < 2:
        return None
    found = [paired_bootstrap(*per_user_ndcg(mine, theirs)) for mine, theirs in pairs]
    above = sum(low > 0 for _, low, _ in found)
    below = sum(high < 0 for _, _, high in found)
    each = ", ".join(f"{d:+.4f}" for d, _, _ in found)
    return (
        f"- {name} vs {against}: test NDCG@10 change {each} over {len(pairs)} seeds (mean "
        f"{statistics.fmean(d for d, _, _ in found):+.4f}); CI above 0 on {above}, below 0 on "
        f"{below}"
    )


def verdict(
    runs: dict[str, tuple[RunDir, Recipe]],
    start: RunDir,
    dataset: str,
    control_of: dict[str, str],
) -> str:
    """The target: SRPO raises test NDCG@10 over its start, and over its cross-entropy
    control (paired CI above 0), on every seed."""
    test = lambda name: EvalResult.load(runs[name][0].eval_dir("test"))  # noqa: E731
    before = EvalResult.load(start.eval_dir("test")).metrics["ndcg@10"]
    srpo = [name for name in runs if name.startswith("SRPO")]
    after = [test(name).metrics["ndcg@10"] for name in srpo]
    met = "met" if after and all(a > before for a in after) else "NOT met"
    seeds = f"{len(after)} seed{'s' * (len(after) != 1)}"
    controlled = [name for name in srpo if control_of.get(name) in runs]
    beats = [
        paired_bootstrap(*per_user_ndcg(test(name), test(control_of[name])))[1] > 0
        for name in controlled
    ]
    against = (
        f" SRPO above its cross-entropy control (paired 95% CI above 0) on every seed: "
        f"{'met' if beats and all(beats) else 'NOT met'} ({sum(beats)} of {len(controlled)})."
        if controlled
        else " No cross-entropy control has been run."
    )
    return (
        f"Target, SRPO raises test NDCG@10 over its supervised start on every seed: {met} on "
        f"{dataset} ({', '.join(f'{a:.4f}' for a in after)} vs {before:.4f}, {seeds})." + against
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "srpo-office.yaml"))
    parser.add_argument("--init-from", default=None, help="another start than the recipe's")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="RL seeds (default: 3 from train.seed)"
    )
    parser.add_argument("--section", default="rl", help="the experiment to write")
    parser.add_argument("--title", default=None, help="the experiment's title")
    parser.add_argument("--note", default=None, help="how the runs ran (machine load, start)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, write no results")
    args = parser.parse_args()

    extra = [f"init_from={args.init_from}"] if args.init_from else []
    base = load_config(Recipe, args.config, extra)
    seeds = args.seeds or [base.train.seed + i for i in range(3)]
    dataset = Path(base.run_dir).name.removeprefix("srpo-")
    start = RunDir(Path(str(base.init_from)))
    runs: dict[str, tuple[RunDir, Recipe]] = {}
    seed_of: dict[str, int] = {}
    control_of: dict[str, str] = {}  # an RL run's label -> its control's
    every: dict[str, list[str]] = {}  # a variant run on every seed -> its runs' labels
    tried: set[str] = set()

    def run_one(label: str, overrides: list[str], folder: str, seed: int) -> None:
        run_dir = Path(base.run_dir).parent / folder
        seeded = [*extra, *overrides, f"train.seed={seed}", f"run_dir={run_dir}"]
        run = train_or_report(load_config(Recipe, args.config, seeded), args.report_only)
        tried.add(label)
        if run is not None:
            runs[label] = (run, load_config(Recipe, run.config))
            seed_of[label] = seed

    for name, (prefix, overrides, every_seed) in VARIANTS.items():
        for seed in seeds if every_seed else seeds[:1]:
            folder = f"{prefix}-{dataset}" + (f"-s{seed}" if every_seed and len(seeds) > 1 else "")
            label = f"{name}, seed {seed}" if len(seeds) > 1 else name
            run_one(label, overrides, folder, seed)
            if every_seed:
                every.setdefault(name, []).append(label)
            ce_overrides, ce_prefix = control_overrides(overrides)
            tag = "" if ce_prefix == "ce" else f" ({ce_prefix})"
            ce_label = f"{CONTROL}{tag}, seed {seed}"
            if ce_label not in tried:
                run_one(ce_label, ce_overrides, f"{ce_prefix}-{dataset}-s{seed}", seed)
            control_of[label] = ce_label
    table, records = [], []
    for split in ("test", "valid"):
        before = EvalResult.load(start.eval_dir(split))
        evaluated = {f"supervised start ({start.path.name})": before}
        evaluated |= {name: EvalResult.load(run.eval_dir(split)) for name, (run, _) in runs.items()}
        records += [
            Record(
                dataset,
                name,
                metric,
                result.metrics[metric],
                protocol=f"{split}, full ranking",
                seeds=(seed_of[name],) if name in seed_of else (),
                headline=split == "test" and metric == "ndcg@10",
            )
            for name, result in evaluated.items()
            for metric in COLUMNS
        ]
        role = "the gate's selection set" if split == "valid" else "held out from every choice"
        table += [
            f"| {split} ({before.n_users:,} users; {role}) | Recall@5 | NDCG@5 | Recall@10 | "
            "NDCG@10 | NDCG@10 change from the start (paired bootstrap 95% CI) | "
            "NDCG@10 change from its cross-entropy control |",
            "|---|---|---|---|---|---|---|",
            row(f"supervised start ({start.path.name})", before),
            *(
                row(
                    name,
                    evaluated[name],
                    before,
                    evaluated.get(control_of.get(name, "")),
                )
                for name in runs
            ),
            "",
        ]
    tested = {name: EvalResult.load(run.eval_dir("test")) for name, (run, _) in runs.items()}
    start_test = EvalResult.load(start.eval_dir("test"))
    seeded_lines = []
    for name, labels in every.items():
        done = [label for label in labels if label in tested]
        seeded_lines.append(over_seeds(name, [(tested[x], start_test) for x in done], "start"))
        paired = [(tested[x], tested[control_of[x]]) for x in done if control_of[x] in tested]
        seeded_lines.append(over_seeds(name, paired, "its cross-entropy control"))
    lines = [summary(name, run, recipe) for name, (run, recipe) in runs.items()]
    manifest = json.loads(start.manifest.read_text())
    trained_at = {json.loads(run.manifest.read_text()).get("commit") for run, _ in runs.values()}
    office = args.section == "rl"
    note = args.note or (
        "One thread per run (`--threads 1`, OMP_NUM_THREADS=1) on 2 cores shared with other "
        "helpers' jobs (an LLM generating preference statements, test suites) and up to 3 other "
        "runs of this benchmark (load 5-6)."
    )
    title = args.title or "RL post-training (SRPO vs GRPO) on the embedded Office dataset"
    where = machine()
    body = "\n".join(
        [
            f"## {title}",
            "",
            f"Machine: {where}. Seeds {', '.join(map(str, seeds))}. {note} Start: "
            f"`{start.path.name}` (trained at commit {manifest.get('commit')}); "
            f"RL recipe `{Path(args.config).name}`, runs trained at commit "
            f"{', '.join(sorted(map(str, trained_at)))}, reported at {source_commit()}. "
            "Each row is the checkpoint chosen on validation NDCG@10 (the start included). "
            f"Reported with `python benchmarks/rl.py --config {Path(args.config).name} "
            f"--seeds {' '.join(map(str, seeds))} --report-only`.",
            "",
            SELECTION,
            "",
            *table,
            verdict(runs, start, dataset, control_of),
            "",
            *([line for line in seeded_lines if line] and ["Over seeds (test):"]),
            *(line for line in seeded_lines if line),
            "",
            "Runs:",
            *(went for went, _ in lines),
            "",
            "Speed (means over steps; RL prompts, 1 thread):",
            *(speed for _, speed in lines),
            "",
            *([TUNING] if office else []),
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            args.section,
            body,
            records,
            title=title,
            script="benchmarks/rl.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
