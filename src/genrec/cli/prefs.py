"""`genrec prefs`: generate preference statements for a dataset, and inspect them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genrec.cli.arguments import DatasetArgument, dataset_recipe

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
def generate_command(
    dataset: DatasetArgument,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value overrides, e.g. generator=attributes out=DIR steps=all "
            "attributes.include_brand=true; generator=llm llm.model=smollm2 (or a model folder, "
            "GGUF file or cached hub name) llm.batch_size=8; generator=openai "
            "openai.url=http://127.0.0.1:8000/v1 openai.model=NAME openai.concurrency=4"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace statements written with other settings.")
    ] = False,
) -> None:
    """Write preference statements per user step (resumes a killed run where it stopped)."""
    from genrec.config import load_config
    from genrec.prefs.generate import PrefsConfig, generate
    from genrec.prefs.store import read_manifest

    config = load_config(PrefsConfig, dataset_recipe(dataset, overrides or []), overrides or [])
    statements, out = generate(config, overwrite=overwrite)
    manifest = read_manifest(out)
    typer.echo(
        f"wrote {out}: {len(statements)} statements for {manifest['counts']['steps']} steps "
        f"({manifest['counts']['positive']} positive, {manifest['counts']['negative']} negative); "
        f"skipped: {statements.skipped or 'none'}"
    )


@app.command("inspect")
def inspect_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `genrec prefs generate`.")],
    examples: Annotated[int, typer.Option(help="Examples shown per polarity.")] = 3,
) -> None:
    """Counts, mean length and examples per polarity, and a PNG of statement lengths."""
    from genrec.prefs.report import plot_lengths, summary
    from genrec.prefs.store import load_statements, read_manifest

    statements = load_statements(folder)
    manifest = read_manifest(folder)
    info = summary(statements, examples)
    _print(info, f"{folder} ({manifest['dataset']['name']}, {manifest['generator']['name']})")
    typer.echo(f"length plot: {plot_lengths(statements, folder / 'lengths.png')}")


@app.command("threshold")
def threshold_command(
    dataset: Annotated[
        str,
        typer.Argument(help="The dataset the statements were written for (as for `generate`)."),
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value overrides, e.g. statements=DIR max_false_exclusion=0.02 "
            "ids=RUN_IDS (match with the item text the run's semantic IDs read) or "
            "match.template.fields=[title,description], out=RUN/avoid.json"
        ),
    ] = None,
) -> None:
    """Choose the avoid-matching threshold on the validation steps (never test) and write it
    as avoid.json: the lowest cosine at which at most max_false_exclusion of the validation
    targets would be excluded by their user's own negative statements."""
    from genrec.config import load_config
    from genrec.prefs.threshold import ThresholdConfig, select_threshold

    config = load_config(ThresholdConfig, dataset_recipe(dataset, overrides or []), overrides or [])
    choice, match, out = select_threshold(config)
    typer.echo(
        f"wrote {out}: threshold {choice.threshold:.4f} from {choice.pairs} validation pairs "
        f"(false exclusion {choice.false_exclusion:.4f} of at most {choice.max_false_exclusion}, "
        f"{choice.mean_excluded:.0f} items excluded per statement), matching item text "
        f"fields {', '.join(match.template.fields)}"
    )


def _print(info: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("polarity", "statements", "mean characters", "examples", title=title)
    for p in ("positive", "negative"):
        part = info[p]
        table.add_row(
            p, str(part["count"]), f"{part['mean_chars']:.1f}", "\n".join(part["examples"])
        )
    console.print(table)
    for key in ("statements", "steps", "users", "per_step", "kinds", "skipped"):
        console.print(f"{key}: {info[key]}")
