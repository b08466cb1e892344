"""The `genrec` command: one thin sub-module per stage, assembled here."""

from __future__ import annotations

import typer

from genrec.cli import data, ids, quickstart, recommend, train
from genrec.errors import GenrecError

app = typer.Typer(
    help="genrec: generative recommendation with semantic IDs, plus strong baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data", help="Download, import and inspect datasets.")
app.add_typer(ids.app, name="ids", help="Build and inspect semantic IDs of items.")
app.command("train")(train.train_command)
app.command("evaluate")(train.evaluate_command)
app.command("recommend")(recommend.recommend_command)
app.command("quickstart")(quickstart.quickstart_command)


def main() -> None:
    """Entry point: genrec errors become one readable line and exit code 2, not a traceback."""
    try:
        app()
    except GenrecError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
