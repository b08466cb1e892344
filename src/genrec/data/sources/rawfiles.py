"""Finding, opening and parsing raw source files: the pieces every reader shares.

Each reader turns one published layout into a ``Dataset``. What they have in common is
locating files that may or may not be gzipped, splitting text into numbered lines, and raising
a ``DataError`` that names ``file:line`` (or the field) and says how to fix the input. Keeping
those pieces here makes an error from any reader read the same way.

Line-oriented helpers return polars frames with a ``line`` column (1-based) so that checks stay
vectorised and only the error path looks at single rows.
"""

from __future__ import annotations

import ast
import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from genrec.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


def fail(path: str | Path, line: object, message: str) -> DataError:
    """A DataError located at ``path:line`` (``line`` may also read e.g. ``row 3``)."""
    return DataError(f"{path}:{line}: {message}")


# ----------------------------------------------------------------------------- locating
def find_file(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` (plain or ``.gz``) that exists in ``folder``, else None."""
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def require_file(folder: Path, *names: str, hint: str) -> Path:
    """Like ``find_file`` but a missing file is a DataError that lists what was looked for."""
    found = find_file(folder, *names)
    if found is None:
        looked = ", ".join(f"{n}(.gz)" for n in names)
        raise DataError(f"{folder}: found no {looked}; {hint}")
    return found


def glob_one(
    folder: Path, pattern: str, what: str, hint: str, *, exclude_prefix: str | None = None
) -> Path:
    """The single file in ``folder`` matching ``pattern`` (plain or ``.gz``)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; pass the folder that holds the {what}.")
    matches = sorted({*folder.glob(pattern), *folder.glob(f"{pattern}.gz")})
    if exclude_prefix:
        matches = [m for m in matches if not m.name.startswith(exclude_prefix)]
    if not matches:
        raise DataError(f"{folder}: no {what} ({pattern}[.gz]) found; {hint}")
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise DataError(f"{folder}: several {what} found ({names}); {hint}")
    return matches[0]


def locate_file(
    path: Path,
    pattern: str,
    what: str,
    hint: str,
    *,
    name: str | None = None,
    exclude_prefix: str | None = None,
) -> tuple[Path, Path]:
    """``(file, folder)`` for a reader given a file or the folder that holds it: ``path``
    itself when it is a file; else, in the folder ``path``, the file ``name`` (plain or ``.gz``,
    see ``require_file``) when given, or the single match of ``pattern`` (see ``glob_one``)."""
    if path.is_file():
        return path, path.parent
    if name is not None:
        return require_file(path, name, hint=hint), path
    return glob_one(path, pattern, what, hint, exclude_prefix=exclude_prefix), path


def strip_suffixes(path: Path, *suffixes: str) -> str:
    """File name without ``.gz`` and then the first matching suffix (``x.inter.gz`` -> ``x``)."""
    name = path.name.removesuffix(".gz")
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ----------------------------------------------------------------------------- opening
TRUNCATED = "the file is truncated or corrupt; download it again"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name).

    Broken gzip data is reported at the first line that cannot be read whole.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc}).") from exc
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        for _ in binary_lines(path):  # raises the located error
            pass
        raise DataError(f"{path}: cannot read ({exc}); {TRUNCATED}.") from exc


def decode(path: Path, data: bytes, encoding: str) -> str:
    """Decode ``data``; an undecodable byte is reported with its line number."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(
            path, line, f"not valid {encoding} text ({exc.reason}); pass the file's encoding="
        ) from exc
    except LookupError as exc:
        raise DataError(f"encoding={encoding!r}: {exc}; pass e.g. 'utf-8' or 'latin-1'.") from exc


def binary_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Stream ``(line number, bytes)`` of every line of a maybe-gzipped file.

    Only ``b"\\n"`` ends a line, as in ``read_lines`` and polars, so line numbers agree; a
    truncated or corrupt gzip stream is reported at the line it cuts.
    """
    try:
        with path.open("rb") as probe:
            gzipped = probe.read(2) == GZIP_MAGIC
        # The ``with`` below closes it.
        stream = gzip.open(path, "rb") if gzipped else path.open("rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc}).") from exc
    number = 0
    with stream:
        try:
            for number, data in enumerate(stream, start=1):  # noqa: B007 (used in except)
                yield number, data
        except (OSError, EOFError, zlib.error) as exc:
            raise fail(path, number + 1, f"cannot read ({exc}); {TRUNCATED}.") from exc


def numbered_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Stream ``(line number, text)`` of every line, each decoded on its own so that an
    undecodable byte is reported on its true line (a decoding stream fails a whole chunk
    ahead of the lines it has handed out)."""
    for number, data in binary_lines(path):
        try:
            yield number, data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise fail(
                path, number, f"not valid {encoding} text ({exc.reason}); fix or remove the line."
            ) from exc


# ----------------------------------------------------------------------------- lines
def read_lines(path: Path, expected: str, encoding: str = "utf-8") -> pl.DataFrame:
    """Non-blank lines as a frame ``[line: Int64 (1-based), text: String]``.

    ``expected`` describes one line of the format; it goes into the empty-file error.
    """
    text = decode(path, read_bytes(path), encoding)
    frame = (
        pl.DataFrame({"text": text.split("\n")})
        .with_row_index("line", offset=1)
        .with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_suffix("\r"))
        .filter(pl.col("text").str.strip_chars() != "")
    )
    if frame.height == 0:
        raise DataError(f"{path}: the file is empty; expected {expected}.")
    return frame


def split_fields(
    lines: pl.DataFrame, path: Path, separator: str, names: Sequence[str], expected: str
) -> pl.DataFrame:
    """Split each line's text on ``separator`` into exactly ``names`` (plus ``line``)."""
    parts = lines.select("line", pl.col("text").str.split(separator).alias("_parts"))
    bad = parts.filter(pl.col("_parts").list.len() != len(names))
    if bad.height:
        row = bad.row(0, named=True)
        raise fail(
            path,
            row["line"],
            f"expected {len(names)} fields separated by {separator!r} ({expected}), found "
            f"{len(row['_parts'])}; fix or remove this line.",
        )
    return parts.select(
        "line", *(pl.col("_parts").list.get(i).alias(name) for i, name in enumerate(names))
    )


def parse_record(text: str, path: Path, line: int, *, literal: bool = False) -> dict[str, Any]:
    """One JSON object; with ``literal``, also a Python dict literal (never ``eval``)."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        if not literal:
            raise fail(path, line, f"not a JSON object ({exc.msg}); fix this line.") from exc
        try:
            record = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc2:
            # literal_eval's ValueError names an AST node (``<ast.Name object at 0x...>``),
            # which says nothing to a reader of the file.
            if isinstance(exc2, SyntaxError):
                why = f"{exc2.msg} at column {exc2.offset}"
            else:
                why = "it holds a name or an expression, not only values"
            raise fail(
                path,
                line,
                f"neither JSON nor a Python dict literal ({why}); "
                f"{_not_gzip(path) or 'fix this line.'}",
            ) from exc2
    if not isinstance(record, dict):
        raise fail(path, line, f"expected an object {{...}}, found {type(record).__name__}.")
    return record


def _not_gzip(path: Path) -> str | None:
    """What to say when ``path`` is named ``.gz`` but does not hold gzip data (a page saved
    under the archive's name, an unpacked file renamed), else None."""
    if not path.name.endswith(".gz"):
        return None
    with path.open("rb") as file:
        if file.read(2) == GZIP_MAGIC:
            return None
    return (
        "the file is named .gz but is not gzip-compressed: it is not the published file; "
        "download it again."
    )


def iter_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Stream ``(line number, text)`` of non-blank lines; DataError when there are none."""
    found = False
    for number, text in numbered_lines(path, encoding):
        if text.strip():
            found = True
            yield number, text
    if not found:
        raise DataError(f"{path}: the file is empty; expected one record per line.")


def read_json_lines(
    path: Path,
    schema: dict[str, pl.DataType],
    required: Sequence[str],
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Read the ``schema`` fields of a JSON-lines file with polars (vectorised).

    Fields missing from a line read as null; fields not in ``schema`` are ignored; a
    ``pl.String`` field that holds an object or array is kept as its JSON text. ``_row`` is
    the 0-based index of the record (see ``line_of_row``). ``where``
    filters rows before they are collected (rows lacking a required field are kept so they
    are reported). When polars rejects the file, or a ``required`` field is null, the file is
    scanned again line by line so the error can name ``file:line``.
    """
    try:
        lazy = pl.scan_ndjson(path, schema=schema, row_index_name="_row")
        if where is not None:
            lazy = lazy.filter(where | pl.any_horizontal(pl.col(required).is_null()))
        frame = lazy.collect()
    except (OSError, pl.exceptions.PolarsError) as exc:  # OSError: a broken gzip stream
        _locate_json_problem(path, schema, required)
        raise DataError(f"{path}: cannot read as JSON lines ({exc}); fix the file.") from exc
    if frame.height == 0 and where is None:
        raise DataError(f"{path}: the file is empty; expected one JSON object per line.")
    if frame.height == 0:  # nothing matched `where`; still an error when the file is empty
        lines = iter_lines(path)
        next(lines, None)
        lines.close()
    if any(frame[c].null_count() for c in required):
        _locate_json_problem(path, schema, required)
    return frame


def _locate_json_problem(
    path: Path, schema: dict[str, pl.DataType], required: Sequence[str]
) -> None:
    """Raise the first line-level problem (bad JSON, missing field, non-numeric number)."""
    numeric = [name for name, dtype in schema.items() if dtype.is_numeric()]
    for line, text in iter_lines(path):
        record = parse_record(text, path, line)
        for name in required:
            if record.get(name) is None:
                raise fail(
                    path, line, f"missing required field {name!r}; every line needs {required}."
                )
        for name in numeric:
            value = record.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise fail(path, line, f"field {name!r} = {value!r} is not a number.")


def load_json(path: Path) -> Any:
    """A whole-file JSON document; a syntax error names ``file:line``."""
    text = decode(path, read_bytes(path), "utf-8")
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a JSON document.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            path, exc.lineno, f"invalid JSON ({exc.msg}, column {exc.colno}); fix the file."
        ) from exc


# ----------------------------------------------------------------------------- frame checks
def clean_text(*columns: str) -> list[pl.Expr]:
    """Strip surrounding whitespace; blank strings become null (no text, not empty text)."""
    return [
        pl.col(c).str.strip_chars().replace("", None).alias(c)  # type: ignore[arg-type]
        for c in columns
    ]


def parse_number(
    frame: pl.DataFrame, column: str, dtype: pl.DataType, path: Path, *, field: str | None = None
) -> pl.Series:
    """``column`` cast to ``dtype``; a value that is not a number names its ``line`` and
    ``field`` (how the file calls the column; default ``field 'column'``)."""
    try:
        parsed = frame[column].cast(dtype, strict=False)
    except pl.exceptions.PolarsError:  # a type with no cast to numbers (lists, structs)
        parsed = pl.repeat(None, frame.height, dtype=dtype, eager=True)
    bad = frame.filter(parsed.is_null() & frame[column].is_not_null())
    if bad.height:
        row = bad.row(0, named=True)
        where = field or f"field {column!r}"
        raise fail(path, row["line"], f"{where} = {row[column]!r} is not a number.")
    return parsed


def require_values(frame: pl.DataFrame, fields: Sequence[str], path: Path) -> None:
    """``fields`` must be non-null on every row (``frame`` has ``line``)."""
    for field in fields:
        empty = frame.filter(pl.col(field).is_null())
        if empty.height:
            raise fail(path, empty["line"][0], f"field {field!r} is empty; every row needs it.")


def check_unique(frame: pl.DataFrame, column: str, path: Path, what: str) -> None:
    """Each ``column`` value on one line only; else name the lines that repeat it."""
    dup = frame.filter(pl.col(column).is_duplicated())
    if dup.height:
        first = dup[column][0]
        lines = dup.filter(pl.col(column) == first)["line"].to_list()
        raise fail(
            path,
            lines[1],
            f"{what} {first!r} is defined again (also at line {lines[0]}); keep one line per "
            f"{what}.",
        )


def check_known(
    frame: pl.DataFrame, column: str, known: pl.Series, path: Path, known_path: Path | str
) -> None:
    """Every ``column`` value of ``frame`` (with ``line``) must be in ``known``."""
    unknown = frame.filter(~pl.col(column).is_in(known.implode()))
    if unknown.height:
        row = unknown.row(0, named=True)
        count = unknown[column].n_unique()
        raise fail(
            path,
            row["line"],
            f"{column} {row[column]!r} is not in {known_path} ({count} unknown in all); add it "
            "there or remove it from this file.",
        )


def whole_numbers(
    frame: pl.DataFrame, values: pl.Series, path: Path, field: str, what: str
) -> pl.Series:
    """``values`` (floats, already rounded; one per ``frame`` row) as Int64; NaN, infinity or
    a value beyond Int64 is reported at its line (``frame``'s ``line``, else ``_row``)."""
    parsed = values.cast(pl.Int64, strict=False)
    bad = frame.filter(parsed.is_null() & values.is_not_null())
    if bad.height:
        row = bad.row(0, named=True)
        line = row["line"] if "line" in row else line_of_row(path, row["_row"])
        raise fail(path, line, f"field {field!r} = {row[field]!r} is not a valid {what}.")
    return parsed


def line_of_row(path: Path, row: int) -> int:
    """Line number of the ``row``-th (0-based) non-blank line, as polars counts records."""
    for index, (line, _) in enumerate(iter_lines(path)):
        if index == row:
            return line
    raise DataError(f"{path}: has no record {row + 1}; was the file changed while it was read?")


def find_line(path: Path, needle: str) -> int | None:
    """Number of the first line containing ``needle`` (for errors found after a bulk read)."""
    for line, text in iter_lines(path):
        if needle in text:
            return line
    return None


def add_items_without_text(
    interactions: pl.DataFrame,
    items: pl.DataFrame,
    *,
    strict: bool,
    reviews_path: Path,
    meta_path: Path | None,
) -> tuple[pl.DataFrame, int]:
    """Items that occur in reviews but have no metadata row: a null-text row each.

    Review dumps and their metadata dumps are crawled separately, so a few reviewed items
    lack metadata; dropping their interactions would change the benchmark, so by default
    they are kept without text and counted. ``strict`` makes the first one an error instead.
    """
    missing = (
        interactions.select("item_id")
        .unique(maintain_order=True)
        .join(items.select("item_id"), on="item_id", how="anti", maintain_order="left")
    )
    if missing.height and strict:
        item = missing["item_id"][0]
        line = find_line(reviews_path, f'"{item}"')
        raise fail(
            reviews_path,
            line if line is not None else "?",
            f"item {item!r} has no row in {meta_path} ({missing.height} such items); add the "
            "metadata or read with strict=False to keep them without text.",
        )
    return pl.concat([items, missing], how="diagonal_relaxed"), missing.height
