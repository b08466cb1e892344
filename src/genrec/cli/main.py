"""The `genrec` command: one thin sub-module per stage, assembled here."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from genrec.cli import bench, console, data, ids, prefs, quickstart, recommend, serve, train
from genrec.errors import GenrecError
from genrec.threads import ENV, check_threads, resolve_threads, set_process_threads

app = typer.Typer(
    help="genrec: generative recommendation with semantic IDs, plus strong baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's help: paragraphs rewrapped (docstring line breaks are not kept) and the option
    # help in a column as wide as the terminal allows (rich's table gave it ~20 characters).
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)


@app.callback()
def configure(
    threads: Annotated[
        int | None,
        typer.Option(
            help=f"CPU threads for torch and numpy (default: ${ENV}, the recipe's threads "
            "field, $OMP_NUM_THREADS, else half the cores, at most 4).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Settings that apply to every command."""
    console.warnings_as_notes()
    if threads is not None:  # through the variable, so recipes and child processes see it
        os.environ[ENV] = str(check_threads(threads, "--threads"))
    set_process_threads(resolve_threads())


app.add_typer(data.app, name="data", help="Download, import and inspect datasets.")
app.add_typer(ids.app, name="ids", help="Build and inspect semantic IDs of items.")
app.add_typer(prefs.app, name="prefs", help="Generate and inspect preference statements.")
app.add_typer(bench.app, name="bench", help="Benchmarks over finished runs.")
app.command("train")(train.train_command)
app.command("evaluate")(train.evaluate_command)
app.command("recommend")(recommend.recommend_command)
app.command("quickstart")(quickstart.quickstart_command)
app.command("serve")(serve.serve_command)


def main() -> None:
    """Entry point: genrec errors become one readable line and exit code 2, not a traceback."""
    try:
        app()
    except GenrecError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
