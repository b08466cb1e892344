"""`genrec recommend`: a trained run's top items for one user or one history, with titles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from genrec.cli.console import note

if TYPE_CHECKING:  # the CLI starts without torch and the encoder
    from genrec.prefs.matching import MatchConfig
    from genrec.recipes.recommend import Avoided


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
    prefer: Annotated[
        list[str] | None,
        typer.Option(help="What the user wants, e.g. 'fragrance-free sunscreen' (repeatable)."),
    ] = None,
    avoid: Annotated[
        list[str] | None,
        typer.Option(
            help="What must not be recommended, e.g. 'glitter' or 'avoid strong fragrance' "
            "(repeatable); every item it matches is excluded."
        ),
    ] = None,
    enforce_avoid: Annotated[
        bool,
        typer.Option(
            "--enforce-avoid/--no-enforce-avoid",
            help="Exclude the items --avoid matches (off: the model only reads the statement).",
        ),
    ] = True,
    avoid_threshold: Annotated[
        float | None,
        typer.Option(
            min=-1.0,
            max=1.0,
            help="Cosine (statement vs item text) at or above which an item matches an --avoid "
            "statement by meaning (default: the run's avoid.json, else the packaged default).",
        ),
    ] = None,
    avoid_calibration: Annotated[
        Path | None,
        typer.Option(help="An avoid.json from `genrec prefs threshold` (or its folder)."),
    ] = None,
    explain_avoid: Annotated[
        bool,
        typer.Option(
            "--explain-avoid/--no-explain-avoid",
            help="Say what each --avoid excluded: how many items, and a few of them.",
        ),
    ] = True,
) -> None:
    """Print a user's recent items and the run's recommendations, with titles and scores:
    `genrec recommend RUN --user ID` or `genrec recommend RUN --history ITEM_ID ITEM_ID ...`,
    optionally with --prefer TEXT and --avoid TEXT (repeatable)."""
    if history == (user is not None) or bool(item_ids) != history:
        raise typer.BadParameter(
            "give either --user ID or --history ITEM_ID [ITEM_ID ...]",
            param_hint="--user/--history",
        )
    from genrec.prefs.preference import Preference
    from genrec.recipes.recommend import RunRecommender  # torch and the models: only when run

    preferences = [Preference(text, "positive") for text in prefer or []] + [
        Preference(text, "negative") for text in avoid or []
    ]
    recommender = RunRecommender(run_dir, match=_match(avoid_calibration, avoid_threshold))
    answer = recommender.recommend(
        user=user,
        history=item_ids if history else None,
        k=k,
        exclude_history=exclude_history,
        preferences=preferences,
        enforce_avoid=enforce_avoid,
    )
    recent = Table(
        "#", "item id", "title", title=f"recent items of user {user}" if user else "history"
    )
    for position, item in enumerate(answer.history, start=1):
        recent.add_row(str(position), escape(item.item_id), _title(item.title))
    top = Table("rank", "item id", "title", "score", title=f"top {k} from {run_dir}")
    for row in answer.items:
        top.add_row(str(row.rank), escape(row.item_id), _title(row.title), f"{row.score:.4f}")
    if prefer and not recommender.model.capabilities.reads_preferences:
        note(
            f"--prefer ignored: the model of {run_dir} was trained without preference statements "
            "and does not read them; the list is what it would be without them"
        )
    console = Console()
    console.print(recent)
    if answer.chain is not None:
        console.print(_chain_line(answer.chain, bool(answer.chain_truncated)))
    console.print(top)
    if avoid and explain_avoid:
        for avoided in answer.avoided:
            console.print(_avoided_line(avoided))
        if not answer.avoided:
            console.print("--avoid was not enforced (--no-enforce-avoid): nothing was excluded")


def _avoided_line(avoided: Avoided) -> str:
    """One --avoid statement's effect, in rich markup: how many items it excluded and which."""
    said = f"avoid {escape(repr(avoided.text))} (matched as {escape(repr(avoided.subject))})"
    if avoided.n_items == 0:
        return f"{said} excluded nothing: no item in the catalog matched it"
    shown = "; ".join(_title(item.title) or escape(item.item_id) for item in avoided.examples)
    count = "1 item" if avoided.n_items == 1 else f"{avoided.n_items} items"
    return f"{said} excluded {count}" + (f", e.g. {shown}" if shown else "")


def _match(calibration: Path | None, threshold: float | None) -> MatchConfig | None:
    """The avoid matching the options ask for; None leaves it to the run."""
    if calibration is None and threshold is None:
        return None
    from dataclasses import replace

    from genrec.prefs.matching import MatchConfig
    from genrec.prefs.threshold import read_calibration

    config = read_calibration(calibration)[0] if calibration is not None else MatchConfig()
    return config if threshold is None else replace(config, threshold=threshold)


def _chain_line(chain: str, truncated: bool) -> str:
    """The chain as rich markup, as written; one of blank space shows its characters, and one
    that used up its tokens before the answer says it was cut off."""
    if chain.strip():
        text = escape(chain)
    else:  # blank space would print as nothing
        text = f"[dim]({f'blank: {escape(repr(chain))}' if chain else 'empty'})[/]"
    cut = " [dim](cut off: it used up decode.chain_tokens before the answer)[/]"
    return f"reasoning: {text}{cut if truncated else ''}"


def _title(title: str | None) -> str:
    """A title as rich markup: brackets in titles are text, a missing title says so."""
    return escape(title) if title else "[dim]no title[/]"
