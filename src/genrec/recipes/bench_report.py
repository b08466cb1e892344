"""The preference benchmark's reports as markdown tables (``genrec.recipes.bench_prefs``): the
five axes under one protocol, the protocols side by side, and exposure (@10; @5 and NDCG are in
the JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def markdown(report: dict[str, Any]) -> str:
    """The table of one report, by its ``section``."""
    render = {"axes": _axes, "protocols": _protocols, "exposure": _exposure}
    return render[report["section"]](report)


def _axes(report: dict[str, Any]) -> str:
    counts = report["counts"]
    if not report["rows"]:
        return (
            f"Protocol `{report['protocol']}`: {counts['cases']} of the benchmark's cases told a "
            "statement; too few to measure.\n"
        )
    head = (
        "| run | model | statements | avoid | pref R@10 | pref N@10 | sentiment combined R@10 "
        "(pos / neg R@10) | fine R@10 (chance) | coarse R@10 (chance) | consolidation R@10 "
        "(single) | violations@10 |"
    )
    lines = [
        f"Protocol `{report['protocol']}` (statements about {_ABOUT[report['about']]}"
        f"{'; it looks at the target: an upper bound' if report['sees_target'] else ''}): "
        f"{counts['cases']} of {counts['test_cases']} test cases told a statement, "
        f"{counts['without_statement']} of the benchmark's cases without one; sentiment: "
        f"{_SENTIMENT[report['sentiment']]} ({counts['sentiment_cases']} cases); avoid "
        f"threshold {report['avoid_threshold']:.3f}.",
        "",
        head,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        m = row["metrics"]
        s, f, c, h = m["sentiment"], m["fine"], m["coarse"], m["consolidation"]
        lines.append(
            f"| {Path(row['run']).name} | {row['model']} | {row['statements']} | "
            f"{'on' if row['avoid'] else 'off'} | {m['preference']['recall@10']:.4f} | "
            f"{m['preference']['ndcg@10']:.4f} | {s['combined_recall@10']:.4f} "
            f"({s['positive_recall@10']:.4f} / {s['negative_recall@10']:.4f}) | "
            f"{f['recall@10']:.4f} ({f['chance_recall@10']:.4f}) | "
            f"{c['recall@10']:.4f} ({c['chance_recall@10']:.4f}) | "
            f"{h['recall@10']:.4f} ({h['single_recall@10']:.4f}) | "
            f"{m.get('violations@10', float('nan')):.4f} |"
        )
    return "\n".join(lines) + "\n"


_ABOUT = {"history": "the user's history", "next": "the item wanted next"}
_SENTIMENT = {
    "rated_low": "Mender's, items rated <= 2 stars with a negative statement of their window",
    "twin": "the protocol's first statement and its negative twin",
}


def _protocols(report: dict[str, Any]) -> str:
    names = list(report["sees_target"])
    first = report["rows"][0]["protocols"]
    lines = [
        f"Recall@10 on the same {report['cases']} test cases without statements and under each "
        "protocol; in brackets the paired per-user difference to the same model without "
        "statements [95% bootstrap interval]. Protocols marked * look at the target (upper "
        "bounds, beside the leak-free numbers). Cases a protocol tells nothing: "
        + ", ".join(f"{n} {first[n]['without_statement']}" for n in names)
        + ".",
        "",
        "| run | model | none | " + " | ".join(_star(n, report) for n in names) + " |",
        "|---|---|---:|" + "---:|" * len(names),
    ]
    for row in report["rows"]:
        entries = [row["protocols"][name] for name in names]
        measured = [e for e in entries if "recall@10" in e]
        none = f"{measured[0]['none_recall@10']:.4f}" if measured else "-"
        cells = [
            f"{e['recall@10']:.4f} ({_delta(e['delta_recall@10'])})" if "recall@10" in e else "-"
            for e in entries
        ]
        lines.append(
            f"| {Path(row['run']).name} | {row['model']} | {none} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def _star(name: str, report: dict[str, Any]) -> str:
    return f"{name}{'*' if report['sees_target'][name] else ''}"


def _delta(delta: list[float]) -> str:
    diff, low, high = delta
    return f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]"


def _exposure(report: dict[str, Any]) -> str:
    if not report["rows"]:
        return "Exposure: the catalog has no categories of at least 20 items; nothing measured.\n"
    sizes = report["categories"]
    lines = [
        f"Exposure over {report['cases']} cases: share of the top 10 inside one drawn category "
        f"per case ({sizes['common']} common, {sizes['niche']} niche categories), without a "
        'statement, with "Looking for <category>" and with "Avoid <category>" (difference '
        "to none [95% bootstrap interval]).",
        "",
        "| run | model | common none | common looking for | common avoid | niche none | "
        "niche looking for | niche avoid |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        cells = []
        for kind in ("common", "niche"):
            entry = row[kind]
            cells.append(f"{entry['none']:.4f}")
            for say in ("looking_for", "avoid"):
                cells.append(f"{entry[say]:.4f} ({_delta(entry[f'delta_{say}'])})")
        lines.append(f"| {Path(row['run']).name} | {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
