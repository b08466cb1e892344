"""`genrec bench`: benchmarks over finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genrec.errors import ConfigError

app = typer.Typer(no_args_is_help=True)
SETTINGS = ("protocol", "statements", "same_cases", "users", "out")


@app.command("prefs")
def prefs_command(
    arguments: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN... [key=value...]",
            help="Finished runs on one dataset and split (e.g. popularity, SASRec and a "
            "generator trained with prefs.statements), then settings: protocol=NAME (one of "
            "oracle, leak_free, describes_target, category; default all), statements=DIR "
            "(default: the runs' prefs.statements), users=N (the first N test cases with "
            "statements), same_cases=DIR[,DIR] (only the test cases whose step also has a "
            "positive statement in these folders: two generators on the same cases), "
            "out=DIR (default: FIRST_RUN/bench).",
        ),
    ],
) -> None:
    """The five preference axes of Mender (arXiv 2412.08604): preference-based recommendation,
    sentiment following, fine- and coarse-grained steering, history consolidation; Recall and
    NDCG@5/10 per model and the statement-only baseline, with and without statements and avoid
    enforcement, under each protocol; the protocols side by side (paired differences to no
    statement); SteerEval's category exposure. Writes prefs-<protocol>.json and .md,
    prefs-protocols and prefs-exposure (docs/preferences.md)."""
    runs = [a for a in arguments if "=" not in a]
    settings = dict(a.split("=", 1) for a in arguments if "=" in a)
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown or not runs:
        raise ConfigError(
            f"bench prefs: unknown setting {unknown[0]!r}; expected {', '.join(SETTINGS)}"
            if unknown
            else "bench prefs: give at least one run directory"
        )
    protocol = settings.get("protocol")
    users = settings.get("users")
    if users is not None and not users.isdigit():
        raise ConfigError(f"bench prefs: users={users}: expected a whole number of test cases")
    from genrec.prefs.protocols import PROTOCOLS
    from genrec.recipes.bench_prefs import run_benchmark, write_reports
    from genrec.recipes.bench_report import markdown

    reports = run_benchmark(
        runs,
        PROTOCOLS if protocol is None else (protocol,),
        statements=settings.get("statements"),
        users=None if users is None else int(users),
        same_cases=[f for f in settings.get("same_cases", "").split(",") if f],
    )
    out = Path(settings.get("out") or Path(runs[0]) / "bench")
    for path in write_reports(reports, out):
        typer.echo(f"wrote {path}")
    for report in reports.values():
        typer.echo(markdown(report))
