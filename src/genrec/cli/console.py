"""Printing rich tables so that nothing in them is cut, on a terminal or through a pipe."""

from __future__ import annotations

from rich.console import Console, RenderableType


def print_whole(console: Console, table: RenderableType) -> None:
    """Print ``table``; a pipe or file has no width to fit, so it gets the table's full width
    (rich would assume 80 columns and wrap or cut the cells)."""
    if not console.is_terminal:
        unbounded = console.options.update_width(10_000)
        console.width = max(console.width, console.measure(table, options=unbounded).maximum)
    console.print(table)
