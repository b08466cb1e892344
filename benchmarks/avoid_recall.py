"""Benchmark: how much of a named kind "avoid <kind>" excludes, and how much else it takes along.

Catalog matching only (``genrec.prefs.matching``): no user, history or recommendation split is
read. Ground truth where it exists:
- Beauty (P5): every leaf category name; an item is of that kind when the name occurs anywhere
  in its category path (a name that is a leaf somewhere and a parent elsewhere, like "Makeup",
  names its whole subtree).
- ML-100K: every genre.
- Office (no categories): product kinds labelled by hand with the title regexes in
  ``OFFICE_KINDS`` below; titles the regexes call ambiguous (toner for "ink cartridges", a
  correction tape for "tape") count neither way.
- Beauty again with its category path hidden from the matcher (title only), as a catalog without
  categories would give it.
For each kind the statement is "avoid <kind>". Recall: share of the kind's items excluded;
collateral: share of the other items excluded. Reported as mean / median / worst over kinds
(every kind in the JSON) for the matcher before kind phrases (whole-text cosine 0.45 + words)
and after (``MatchConfig()`` defaults: words + kind phrases + whole-text cosine).

The two thresholds were chosen on these labels: kinds are split in halves by a hash of their
name; the kind threshold is set from the reported case (``KIND_SET``) and, with it, the cosine
threshold with the highest mean recall on the "tune" halves that adds at most
``ADDED_COLLATERAL`` mean collateral to words alone on every condition is picked; the
"held-out" halves are reported as the honest number.

    python benchmarks/avoid_recall.py     # ~10 minutes on 2 cores the first time (encoding)
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import torch
from results import Record, machine, write_experiment

from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset
from genrec.prefs.kinds import item_kinds
from genrec.prefs.matching import AvoidMatcher, MatchConfig, avoid_matcher
from genrec.text.cache import item_embeddings, text_embeddings
from genrec.text.encoder import TextEncoder
from genrec.text.template import ItemTemplate
from genrec.training.run_dir import source_commit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETUPS = {
    "beauty": DataConfig(format="p5", path=str(DATA / "amazon2014-beauty")),
    "ml-100k": DataConfig(format="recbole", path=str(DATA / "ml-100k")),
    "office": DataConfig(format="embedded", path="office"),
}
Thresholds = tuple[float | None, float | None]  # (whole-text cosine, kind phrase); None: off
BEFORE: Thresholds = (0.45, None)  # the matcher before kinds: cosine 0.45 + words
MEANING = (0.4, 0.45, 0.5, 0.55, 0.6, None)  # whole-text cosine thresholds tried
KIND = (0.6, 0.65, 0.7, 0.72, 0.75, 0.78, 0.8, None)  # kind-phrase thresholds shown
# The kind threshold is set from the reported case, not chosen on the grid: the tune halves hold
# no kind that words miss (Beauty and ML-100K carry the kind's name in the item text; Office's
# tune half is three word-matched kinds), so they cannot tell; "ink tank" scores 0.753 against
# "ink cartridges", "ink pens" 0.761, "ink refill" 0.753, "inkjet printer" 0.709.
KIND_SET = 0.75
# Mean collateral a grid point may add, on each tune half, to what words alone cost there (up to
# 1.3% on Office, where "paper" is in "Paper Mate"): the thresholds control only the addition.
ADDED_COLLATERAL = 0.005
HIDDEN = "beauty, category path hidden"
# The titles of the reported case: an ink tank and Canon ink packs the list still showed.
ISSUE_TITLES = r"PGI-9 Green Ink Tank|CLI-251 BK/CMY 4 PK|PG-240XL Office|CLI-226 4550B001"
TITLE = '"Avoid <kind>": recall and collateral exclusion of the avoid matcher'

# kind -> (positive, not positive, ambiguous): ambiguous wins, then "not", then positive.
# Written by reading the Office titles; the statement is "avoid <kind>".
OFFICE_KINDS: dict[str, tuple[str, str | None, str | None]] = {
    "ink cartridges": (
        r"\b(cartridges?|ink tanks?|ink cart)\b"
        r"|\bink\b.*\b(value pack|combo|\d+ ?-?(pack|pk)|tri-pk)\b|\b(value|combo) pack ink\b"
        r"|\b\d+ ?-?pack\b.*\bink$"
        r"|\b(non-oem|compatible|remanufactured|genuine|standard yield|high yield)\b.*\bink\b",
        r"\b(pens?|markers?|highlighters?|refills?|ballpoint|rollerball|labels?|stamps?)\b"
        r"|^(?!.*\b(cartridges?|ink tanks?)\b).*\bprinter\b(?!\s+lc)",
        r"\btoner\b|\btape cartridge|gloss optimizer|ppf print cartridge|cartridge technology"
        r"|fountain pen (ink|refill)|\blamy cartridges\b|\bbottle\b|pen ink cartridge|\bbottled\b"
        r"|\bink refill",
    ),
    "toner cartridges": (r"\btoner\b", r"\bprinter\b(?!\s+tn)", None),
    "tape": (
        r"\btapes?\b",
        r"\bno-tape\b|\btape (dispenser|measure)\b(?!.*\brolls?\b)|\bdesk(top)? tape dispenser\b",
        r"\blabel(ing)? tape\b|\bcorrection tape\b|\btape cartridge\b|\btape pen\b",
    ),
    "labels": (
        r"\blabels\b|\blabel (roll|pad|cassette)s?\b",
        r"\blabel ?(printer|maker)s?\b|\blabelwriter \d+ (thermal|turbo)|\blabel ?manager\b"
        r"|\bp-touch\b",
        r"\blabeling tape\b|label applicator|\bbadge",
    ),
    "pens": (
        r"\bpens?\b",
        r"pen[- ]style|\bhighlighters?\b|\bpointer\b|\bdetector\b|\bpen cup|\bholder\b"
        r"|\bpen ink\b|\bpencil/pen",
        r"(?=.*\b(pens?|ballpoint|rollerball|gel|ink)\b).*\brefills?\b|\bcorrection (tape )?pen\b"
        r"|\bmarkers?\b(?=.*\bpens?\b)|\bstylus pen\b|\bw/pen\b|\bconverter\b",
    ),
    "staplers": (r"\bstaplers?\b", r"^(?!.*\bstapler\b).*\bstaples\b", None),
    "paper": (
        r"\b(copy|printer|print|photo|inkjet|laser|multipurpose|printing|filler|notebook|resume"
        r"|wrapping|presentation|color|white|carbon|project|multi-use|laserjet|bright|everyday)"
        r"\s+(\w+\s+)?paper\b|\bpaper,|\bpaper \(",
        r"paper ?mate|paper ?clips?|shredder|trimmer|\blabels?\b|\bpaper trays?\b|\bprinter\b"
        r"|plain-paper|\bbinder\b|\bcuts paper",
        r"\bpaper\b.*\bcombo\b|\bcombo\b.*\bpaper\b|\bink paper set\b|\bcartridge\b.*\bpaper\b",
    ),
    "calculators": (r"\bcalculators?\b", r"\bcase\b|\bcover\b", None),
    "envelopes": (r"\benvelopes?\b", r"\bcards?\b|\bmoistener\b", None),
    "pencils": (
        r"\bpencils?\b",
        r"\bsharpeners?\b|\bpencil (cases?|cups?|holders?|grips?|pouch)\b|\bpencil/pen",
        r"\bleads?\b(?!.*pencils)|\bpen \+ pencil\b",
    ),
    "shredders": (r"\bshredders?\b", r"\boil\b|\bbags?\b|\blubricant\b", None),
}


def office_truth(titles: list[str], kind: str) -> np.ndarray:
    """int8 ``[n_items]``: 1 of ``kind``, 0 not, -1 ambiguous (by ``OFFICE_KINDS``)."""
    positive, negative, ambiguous = (
        re.compile(r, re.IGNORECASE) if r else None for r in OFFICE_KINDS[kind]
    )
    out = np.zeros(len(titles), dtype=np.int8)
    for i, title in enumerate(titles):
        if ambiguous is not None and ambiguous.search(title):
            out[i] = -1
        elif (negative is None or not negative.search(title)) and positive.search(title):
            out[i] = 1
    return out


def truth(name: str, dataset: Dataset) -> tuple[list[str], np.ndarray]:
    """The kinds of ``dataset`` and int8 ``[K, n_items]`` membership (1 / 0 / -1 ambiguous)."""
    items = dataset.items
    if name == "office":
        titles = items["title"].fill_null("").to_list()
        return list(OFFICE_KINDS), np.stack([office_truth(titles, k) for k in OFFICE_KINDS])
    paths = [set(p or []) for p in items["categories"].to_list()]
    kinds = sorted({p[-1] for p in items["categories"].to_list() if p})
    return kinds, np.array([[k in p for p in paths] for k in kinds], dtype=np.int8)


def held_out(kind: str) -> bool:
    """Half of the kinds, by a hash of the name: never used to choose thresholds."""
    return zlib.crc32(kind.encode()) % 2 == 1


def scores(matched: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per kind: recall (share of its items matched) and collateral (share of the others)."""
    inside, outside = gt == 1, gt == 0
    recall = (matched & inside).sum(1) / np.maximum(inside.sum(1), 1)
    return recall, (matched & outside).sum(1) / np.maximum(outside.sum(1), 1)


class Signals:
    """One dataset's per-kind matcher scores, computed once, thresholded for every variant."""

    def __init__(self, matcher: AvoidMatcher, kinds: list[str]) -> None:
        statements = [f"avoid {k}" for k in kinds]
        self.meaning = matcher.similarity(statements)
        self.words = matcher.word_match(statements)
        self.kind = matcher.kind_similarity(statements)

    def match(self, threshold: float | None, kind_threshold: float | None) -> np.ndarray:
        out = self.words.copy()
        if threshold is not None:
            out |= self.meaning >= threshold
        if kind_threshold is not None:
            out |= self.kind >= kind_threshold
        return out


def title_only(dataset: Dataset, encoder: TextEncoder) -> AvoidMatcher:
    """The matcher as a catalog without categories would give it: title text, title heads."""
    template = ItemTemplate(fields=("title",))
    bare = replace(template, labels={"title": ""})
    items = dataset.items.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("categories"))
    config = MatchConfig()
    return AvoidMatcher(
        bare.render(dataset.items),
        item_embeddings(dataset, template, encoder=encoder, progress=False),
        lambda texts: encoder.encode(texts, progress=False),
        threshold=config.threshold,
        kinds=item_kinds(items, lambda texts: text_embeddings(texts, encoder, progress=False)),
        kind_threshold=config.kind_threshold,
    )


def summary(recall: np.ndarray, collateral: np.ndarray) -> str:
    """Table cells: recall mean / median / worst, collateral mean / median / worst."""
    return (
        f"{recall.mean():.3f} | {np.median(recall):.3f} | {recall.min():.3f} | "
        f"{collateral.mean():.4f} | {np.median(collateral):.4f} | {collateral.max():.4f}"
    )


def choose(conditions: dict[str, Condition]) -> tuple[Thresholds, list[str]]:
    """The grid over both thresholds (tune halves), and the cosine threshold that, with the kind
    threshold at ``KIND_SET``, has the best tune recall (averaged over conditions) adding at
    most ``ADDED_COLLATERAL`` mean collateral to words alone on every condition."""
    floor = [
        scores(c.signals.match(None, None)[c.tune], c.gt[c.tune])[1].mean()
        for c in conditions.values()
    ]
    rows, best, best_key = [], None, None
    for meaning in MEANING:
        for kind in KIND:
            per = [
                scores(c.signals.match(meaning, kind)[c.tune], c.gt[c.tune])
                for c in conditions.values()
            ]
            recall = float(np.mean([r.mean() for r, _ in per]))
            collateral = [float(c.mean()) for _, c in per]
            ok = all(c <= f + ADDED_COLLATERAL for c, f in zip(collateral, floor, strict=True))
            cells = " | ".join(f"{c:.4f}" for c in collateral)
            rows.append(
                f"| {meaning or 'off'} | {kind or 'off'} | {recall:.4f} | {cells} | "
                f"{'yes' if ok else 'no'} |"
            )
            key = (recall, -float(np.mean(collateral)))
            if kind == KIND_SET and ok and (best_key is None or key > best_key):
                best, best_key = (meaning, kind), key
    assert best is not None, f"no cosine threshold within the budget at kind {KIND_SET}"
    return best, rows


def load(encoder: TextEncoder) -> dict[str, Condition]:
    """Every condition: the three catalogs as the matcher reads them by default, and Beauty
    with its category path hidden."""
    after, out = MatchConfig(), {}
    for name, config in SETUPS.items():
        dataset = load_dataset(config)
        kinds, gt = truth(name, dataset)
        keep = (gt == 1).sum(1) > 0  # a kind with no item names nothing to measure
        kinds, gt = [k for k, f in zip(kinds, keep, strict=True) if f], gt[keep]
        matcher = avoid_matcher(dataset, after, encoder=encoder)
        out[name] = Condition(dataset, matcher, kinds, gt)
        # The real code path gives what the signals give.
        sample = [f"avoid {k}" for k in kinds[:5]]
        expected = out[name].signals.match(after.threshold, after.kind_threshold)[:5]
        assert (matcher.match(sample) == expected).all()
    beauty = out["beauty"]
    out[HIDDEN] = Condition(
        beauty.dataset, title_only(beauty.dataset, encoder), beauty.kinds, beauty.gt
    )
    return out


class Condition:
    """One catalog as the matcher sees it, its kinds, their ground truth and matcher scores."""

    def __init__(self, dataset: Dataset, matcher: AvoidMatcher, kinds: list[str], gt: np.ndarray):
        self.dataset, self.matcher, self.kinds, self.gt = dataset, matcher, kinds, gt
        self.tune = np.array([not held_out(k) for k in kinds])
        self.signals = Signals(matcher, kinds)


def report(
    name: str, condition: Condition, label: str, thresholds: Thresholds
) -> tuple[list[str], list[Record]]:
    """Table rows (all, tune, held-out) and records (summary and per kind) of one matcher."""
    gt, kinds, tune = condition.gt, condition.kinds, condition.tune
    recall, collateral = scores(condition.signals.match(*thresholds), gt)
    lines = [
        f"| {name} | {label} | {split} | {len(recall[rows])} | "
        f"{summary(recall[rows], collateral[rows])} |"
        for split, rows in (("all", slice(None)), ("tune", tune), ("held-out", ~tune))
    ]
    model, records, after = label, [], label.startswith("after")
    for metric, values in (("recall", recall), ("collateral", collateral)):
        worst = values.min() if metric == "recall" else values.max()
        for stat, value in (
            ("mean", values.mean()),
            ("median", np.median(values)),
            ("worst", worst),
        ):
            records.append(
                Record(name, model, f"{metric} {stat}", float(value), "avoid <kind>, all kinds")
            )
        records.append(
            Record(
                name,
                model,
                f"{metric} mean, held-out half",
                float(values[~tune].mean()),
                "avoid <kind>, kinds not used to choose thresholds",
                headline=after and name != HIDDEN,
            )
        )
    if after and name != HIDDEN:
        before = scores(condition.signals.match(*BEFORE), gt)
        for i, k in enumerate(kinds):
            protocol = f"avoid {k!r}, {'tune' if tune[i] else 'held-out'} half"
            notes = (
                f"{(gt[i] == 1).sum()} items of the kind; before (recall / collateral): "
                f"{before[0][i]:.4f} / {before[1][i]:.4f}"
            )
            records.append(
                Record(name, model, f"recall: {k}", float(recall[i]), protocol, notes=notes)
            )
            records.append(
                Record(name, model, f"collateral: {k}", float(collateral[i]), protocol, notes=notes)
            )
    if after:
        order = np.argsort(recall - collateral)[:5]
        lines.append(
            f"<!-- {name}: worst five by recall - collateral: "
            + "; ".join(f"{kinds[i]} {recall[i]:.3f} / {collateral[i]:.4f}" for i in order)
            + " -->"
        )
    return lines, records


def main() -> None:
    torch.set_num_threads(1)
    began = time.perf_counter()
    encoder = TextEncoder()
    conditions = load(encoder)
    chosen, grid = choose(conditions)
    after = MatchConfig()
    variants = {
        "before (cosine 0.45 + words)": BEFORE,
        f"after (cosine {after.threshold} + words + kind {after.kind_threshold})": (
            after.threshold,
            after.kind_threshold,
        ),
    }
    lines, records, worst = [], [], []
    for name, condition in conditions.items():
        for label, thresholds in variants.items():
            rows, found = report(name, condition, label, thresholds)
            lines += [r for r in rows if not r.startswith("<!--")]
            worst += [f"- {r[5:-4]}" for r in rows if r.startswith("<!--")]
            records += found
    office = conditions["office"]
    ink = ink_report(office)
    where, commit = machine(), source_commit()
    names = " | ".join(conditions)
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"Measured on {where} (other jobs running); commit {commit}; OMP_NUM_THREADS=1; "
            "encoder all-MiniLM-L6-v2; item text: the default template (title, brand, "
            "categories, price). `python benchmarks/avoid_recall.py` "
            f"({time.perf_counter() - began:.0f} s with the embeddings cached).",
            "",
            "| dataset | matcher | kinds | n | recall mean | median | worst | collateral mean "
            "| median | worst |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *lines,
            "",
            "- Data: Beauty (P5 files), every leaf category name, an item counting as of the "
            "kind when the name is anywhere in its category path; ML-100K, every genre; Office "
            "(no categories), 11 product kinds labelled by hand with the title regexes in "
            "`benchmarks/avoid_recall.py` (ambiguous titles count neither way). Statement: "
            '"avoid <kind>". Recall: share of the kind\'s items excluded; collateral: share of '
            "the other items excluded. Per kind: avoid-recall.json.",
            f"- {HIDDEN}: the matcher reads the title only (text, words and title heads), as a "
            "catalog without categories would give it; P5's titles are keyword phrases that "
            "rarely name the leaf category, so recall stays low there.",
            "- Thresholds chosen on these labels: kinds are split in halves by a hash of their "
            f'name. The kind threshold, {KIND_SET}, was set from the reported case ("ink tank" '
            'scores 0.753 against "ink cartridges"), not on the grid: the tune halves hold no '
            "kind that words miss. With it, the cosine threshold with the highest mean tune "
            f"recall over the four conditions that adds at most {ADDED_COLLATERAL:.1%} mean "
            "collateral to what words alone cost on each tune half (the thresholds control only "
            f"that addition) is {chosen[0]}; the defaults are cosine {after.threshold}, kind "
            f"{after.kind_threshold}. The held-out rows are kinds never used to choose the "
            'cosine; Office\'s "ink cartridges" (held out by the hash) informed the kind '
            "threshold, so it is not a clean held-out number.",
            "- Beauty and ML-100K carry the kind's name in the item text (categories are in the "
            "template): words alone reach recall 1 there, and what the thresholds change is the "
            "collateral.",
            *worst,
            "",
            '#### "avoid ink cartridges" on Office',
            "",
            *ink,
            "",
            "#### Threshold grid (tune halves)",
            "",
            f"| cosine | kind | mean recall | collateral: {names} | within budget |",
            "|---:|---:|---:|" + "---:|" * len(conditions) + "---|",
            *grid,
        ]
    )
    write_experiment(
        "avoid-recall",
        body,
        records,
        title=TITLE,
        script="benchmarks/avoid_recall.py",
        commit=commit or "",
        machine=where,
    )


def ink_report(condition: Condition) -> list[str]:
    """What "avoid ink cartridges" excludes on Office, after and before: the issue's titles,
    the misses and the collateral."""
    titles = condition.dataset.items["title"].fill_null("").to_list()
    gt = condition.gt[condition.kinds.index("ink cartridges")]
    matched = condition.matcher.match(["avoid ink cartridges"])[0]
    before = condition.signals.match(*BEFORE)[condition.kinds.index("ink cartridges")]
    issue = [i for i, t in enumerate(titles) if re.search(ISSUE_TITLES, t)]
    missed = np.flatnonzero(~matched & (gt == 1))
    extra = np.flatnonzero(matched & (gt == 0))

    def count(m: np.ndarray) -> str:
        return (
            f"{int(m.sum())} items: {int((m & (gt == 1)).sum())} of the {int((gt == 1).sum())} "
            f"ink cartridges, {int((m & (gt == -1)).sum())} ambiguous (toner, pen cartridges, "
            f"ink bottles), {int((m & (gt == 0)).sum())} others"
        )

    return [
        f"- after: excluded {count(matched)}; before: {count(before)}.",
        "- the titles of the report, after / before: "
        + "; ".join(f"{titles[i]} ({_kept(matched[i])} / {_kept(before[i])})" for i in issue),
        "- missed after: " + ("; ".join(titles[i] for i in missed) or "none"),
        "- others excluded after: " + ("; ".join(titles[i] for i in extra) or "none"),
    ]


def _kept(excluded: bool) -> str:
    return "excluded" if excluded else "kept"


if __name__ == "__main__":
    main()
