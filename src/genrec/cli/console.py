"""Printing rich tables so that nothing in them is cut, on a terminal or through a pipe; notes
and warnings on stderr as one line each."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from rich.console import Console, RenderableType


def print_whole(console: Console, table: RenderableType) -> None:
    """Print ``table``; a pipe or file has no width to fit, so it gets the table's full width
    (rich would assume 80 columns and wrap or cut the cells)."""
    if not console.is_terminal:
        unbounded = console.options.update_width(10_000)
        console.width = max(console.width, console.measure(table, options=unbounded).maximum)
    console.print(table)


def note(text: str) -> None:
    """``text`` on stderr as one line ``note: ...``, out of the way of the output."""
    print(f"note: {' '.join(text.split())}", file=sys.stderr)


def warnings_as_notes() -> None:
    """Show warnings as ``note`` does: a user of the command needs the message, not the
    ``path:line: UserWarning:`` and source line Python prints by default. Only the format
    changes: code that records warnings (``catch_warnings``, pytest) still gets them."""

    def one_line(message: Warning | str, *_: Any, **__: Any) -> str:
        return f"note: {' '.join(str(message).split())}\n"

    warnings.formatwarning = one_line
