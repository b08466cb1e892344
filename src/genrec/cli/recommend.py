"""`genrec recommend`: a trained run's top items for one user or one history, with titles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def recommend_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `genrec train`.")],
    item_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ITEM_ID", help="The history for --history, oldest first."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="A user id of the run's dataset: their history as of their test case."),
    ] = None,
    history: Annotated[
        bool,
        typer.Option("--history", help="Recommend for the item ids given after it instead."),
    ] = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many items to list.")] = 10,
    exclude_history: Annotated[
        bool | None,
        typer.Option(
            "--exclude-history/--keep-history",
            help="Remove history items from the list (default: the recipe's setting).",
        ),
    ] = None,
) -> None:
    """Print a user's recent items and the run's recommendations, with titles and scores:
    `genrec recommend RUN --user ID` or `genrec recommend RUN --history ITEM_ID ITEM_ID ...`."""
    if history == (user is not None) or bool(item_ids) != history:
        raise typer.BadParameter(
            "give either --user ID or --history ITEM_ID [ITEM_ID ...]",
            param_hint="--user/--history",
        )
    from genrec.recipes.recommend import RunRecommender  # torch and the models: only when run

    answer = RunRecommender(run_dir).recommend(
        user=user, history=item_ids if history else None, k=k, exclude_history=exclude_history
    )
    recent = Table(
        "#", "item id", "title", title=f"recent items of user {user}" if user else "history"
    )
    for position, item in enumerate(answer.history, start=1):
        recent.add_row(str(position), escape(item.item_id), _title(item.title))
    top = Table("rank", "item id", "title", "score", title=f"top {k} from {run_dir}")
    for row in answer.items:
        top.add_row(str(row.rank), escape(row.item_id), _title(row.title), f"{row.score:.4f}")
    console = Console()
    console.print(recent)
    console.print(top)


def _title(title: str | None) -> str:
    """A title as rich markup: brackets in titles are text, a missing title says so."""
    return escape(title) if title else "[dim]no title[/]"
