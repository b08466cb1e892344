"""`genrec quickstart`: the whole pipeline on the embedded Office dataset, in a few minutes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def quickstart_command(
    run_dir: Annotated[Path, typer.Option(help="Parent folder of the two run directories.")] = Path(
        "runs/quickstart"
    ),
    epochs: Annotated[
        int, typer.Option(help="Maximum SASRec epochs (early stopping ends sooner).")
    ] = 100,
    examples: Annotated[int, typer.Option(help="Example users to show.")] = 3,
) -> None:
    """Prepare the embedded Office dataset, train SASRec and popularity, evaluate, show examples."""
    from genrec.cli.console import print_whole
    from genrec.eval import EvalResult
    from genrec.eval.report import PUBLISHED_COLUMNS, rich_table
    from genrec.recipes.recipe import Recipe, TrainConfig
    from genrec.recipes.train import train

    console = Console()
    console.print(
        "[bold]genrec quickstart[/]: Amazon 2014 Office Products (embedded), "
        "leave-one-out, full ranking over all items"
    )
    base = Recipe(train=TrainConfig(epochs=epochs, patience=5))
    runs = {
        "popularity": train(
            dataclasses.replace(base, model="popularity", run_dir=str(run_dir / "popularity"))
        ),
        "sasrec": train(dataclasses.replace(base, run_dir=str(run_dir / "sasrec"))),
    }
    results = {name: EvalResult.load(run.eval_dir("test")) for name, run in runs.items()}
    print_whole(
        console,
        rich_table(results, columns=PUBLISHED_COLUMNS, title="test split (published protocol)"),
    )
    _show_examples(runs["sasrec"].path, examples, console)
    console.print(f"run directories: {run_dir}/popularity, {run_dir}/sasrec")


def _show_examples(run_path: Path, n: int, console: Console) -> None:
    """A few test users: recent history, the held-out item and SASRec's top 5, by title."""
    import torch
    from rich.markup import escape

    from genrec.recipes.evaluate import load_run

    _, dataset, split, model = load_run(run_path)
    titles = [escape(title) for title in dataset.item_titles()]  # "[Pack of 2]" is no markup
    cases = split.test
    rows = torch.linspace(0, len(cases) - 1, n).long().tolist()
    top, _ = model.recommend(torch.as_tensor(cases.histories[rows]), k=5)
    for row, items in zip(rows, top.tolist(), strict=True):
        table = Table(
            title=f"user {dataset.users['user_id'][int(cases.users[row])]}",
            show_header=False,
            title_justify="left",
        )
        recent = [titles[i] for i in cases.histories[row] if i >= 0][-3:]
        table.add_row("recent history", "\n".join(recent))
        table.add_row("held-out next item", titles[cases.targets[row]])
        table.add_row(
            "top 5",
            "\n".join(
                ("[green]* " if i == cases.targets[row] else "  ") + titles[i] for i in items
            ),
        )
        console.print(table)
