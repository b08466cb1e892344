"""Reader for generic CSV / TSV / Parquet tables with a column mapping.

``mapping`` maps Dataset names to the file's columns, e.g. ``{"user_id": "uid", "item_id":
"sku", "timestamp": "ts", "rating": "stars"}``; keys it leaves out default to the same name
(``user_id``, ``item_id``) or are absent (``timestamp``, ``rating``, ``review``). An optional
item table has its own ``item_mapping`` (``item_id``, ``title``, ``brand``, ``categories``,
``description``, ``price``); its unmapped columns go into ``attributes``.

Formats by suffix: ``.parquet`` / ``.pq``; ``.tsv`` (tab); anything else is CSV (``separator``),
each optionally gzipped. CSV values are read as text and parsed here so that a bad value is
reported by line (1 = header; counts assume no newlines inside quoted fields); Parquet values
are reported by row. Timestamps may be integer seconds, floats or ISO date-times; categories
may be lists or strings split on ``category_separator``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from genrec.data.dataset import ITEM_TEXT_COLUMNS, OPTIONAL_INTERACTION_COLUMNS, Dataset
from genrec.data.sources.rawfiles import (
    check_known,
    check_unique,
    clean_text,
    fail,
    numbered_lines,
    parse_number,
    require_values,
)
from genrec.errors import DataError

INTERACTION_KEYS = ("user_id", "item_id", *OPTIONAL_INTERACTION_COLUMNS)
ITEM_KEYS = ("item_id", *(c for c in ITEM_TEXT_COLUMNS if c != "attributes"))


def read_tabular(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    items: str | Path | None = None,
    item_mapping: Mapping[str, str] | None = None,
    separator: str = ",",
    category_separator: str = "|",
    name: str | None = None,
) -> Dataset:
    """Read an interaction table (and optionally an item table) through column mappings."""
    path = Path(path)
    if len(separator) != 1:
        raise DataError(f"separator={separator!r}: expected one character, e.g. ',' or ';'.")
    mapping = _full_mapping(mapping, INTERACTION_KEYS, "mapping")
    frame = _read_table(path, mapping, separator)
    require_values(frame, ["user_id", "item_id"], path)
    columns = [pl.col("line"), pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)]
    if "rating" in frame.columns:
        where = _column(mapping, "rating")
        columns.append(parse_number(frame, "rating", pl.Float32(), path, field=where))
    if "timestamp" in frame.columns:
        columns.append(_seconds(frame, path, _column(mapping, "timestamp")).alias("timestamp"))
    if "review" in frame.columns:
        columns.append(pl.col("review").cast(pl.String))
    interactions = frame.select(columns)

    files = [str(path)]
    if items is None:
        item_frame = interactions.select("item_id").unique(maintain_order=True)
    else:
        items = Path(items)
        item_frame = _read_items(items, item_mapping, separator, category_separator)
        check_known(interactions, "item_id", item_frame["item_id"], path, items)
        files.append(str(items))
    return Dataset.from_frames(
        name or path.name.split(".")[0],
        interactions.drop("line"),
        item_frame.drop("line", strict=False),
        source={"reader": "tabular", "files": files, "mapping": dict(mapping)},
    )


def _full_mapping(
    mapping: Mapping[str, str] | None, allowed: tuple[str, ...], what: str
) -> dict[str, str]:
    """The mapping, id columns defaulting to their own names; unknown keys are errors."""
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise DataError(f"{what}: unknown key(s) {unknown}; the keys are Dataset names {allowed}.")
    ids = {k: k for k in ("user_id", "item_id") if k in allowed}
    return {**ids, **mapping}


def _read_table(
    path: Path, mapping: dict[str, str], separator: str, *, keep_unmapped: bool = False
) -> pl.DataFrame:
    """The mapped columns renamed to Dataset names, plus ``line`` (CSV) or ``row`` labels.

    With ``keep_unmapped`` the other columns come along under their own names, except those
    that would clash with a Dataset name.
    """
    name = path.name.removesuffix(".gz")
    is_parquet = name.endswith((".parquet", ".pq"))
    sep = "\t" if name.endswith(".tsv") else separator
    try:
        # CSV is read whole: a projected read would silently skip rows with extra fields.
        table = pl.read_parquet(path) if is_parquet else _read_csv(path, sep)
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{path}: the file is empty; expected a header and rows.") from exc
    except (OSError, pl.exceptions.PolarsError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        raise DataError(f"{path}: cannot read as {kind} ({exc}).") from exc
    found = table.columns
    missing = {k: v for k, v in mapping.items() if v not in found}
    if missing:
        pairs = ", ".join(f"{k} -> {v!r}" for k, v in missing.items())
        raise DataError(
            f"{path}: mapped column(s) not in the file ({pairs}); the file has columns "
            f"{found}. Fix the mapping."
        )
    reserved = {*INTERACTION_KEYS, *ITEM_TEXT_COLUMNS, *mapping.values(), "line"}
    other = [c for c in found if keep_unmapped and c not in reserved]
    frame = table.select(*(pl.col(v).alias(k) for k, v in mapping.items()), *other)
    if frame.height == 0:
        raise DataError(f"{path}: the file has no rows; expected a header and rows.")
    nested = [k for k in mapping if k != "categories" and frame[k].dtype.is_nested()]
    if nested:
        where = _column(mapping, nested[0])
        raise DataError(
            f"{path}: {where} holds {frame[nested[0]].dtype} values; map a column "
            "of text or numbers."
        )
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    label = pl.format("row {}", index + 1) if is_parquet else index + 2
    return frame.with_columns(label.alias("line"))


def _read_csv(path: Path, separator: str) -> pl.DataFrame:
    """All columns as text; a row with too many fields is located with the csv module."""
    try:
        return pl.read_csv(path, separator=separator, infer_schema=False)
    except pl.exceptions.ComputeError:
        # Every line, blank ones included, so that ``line_num`` is the file's line number.
        rows = csv.reader((text for _, text in numbered_lines(path)), delimiter=separator)
        try:
            width = len(next(rows, []))
            for row in rows:
                if len(row) > width:
                    raise fail(
                        path,
                        rows.line_num,
                        f"{len(row)} fields but the header has {width}; fix this row.",
                    ) from None
        except csv.Error as exc:  # e.g. a lone carriage return inside a field
            raise fail(path, rows.line_num, f"not valid CSV ({exc}); fix this row.") from None
        raise


def _column(mapping: Mapping[str, str], key: str) -> str:
    """How errors name a mapped column: ``column 'ts' (timestamp)``."""
    return f"column {mapping[key]!r} ({key})"


def _seconds(frame: pl.DataFrame, path: Path, where: str) -> pl.Series:
    """``timestamp`` as Int64 seconds from ints, floats, date-times or their text."""
    column = frame["timestamp"]
    if column.dtype == pl.Datetime or column.dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.epoch("s")
    if column.dtype.is_numeric():
        parsed = column.cast(pl.Float64).round().cast(pl.Int64, strict=False)
    elif column.dtype == pl.String:
        text = column.str.strip_chars()
        parsed = text.cast(pl.Float64, strict=False).round().cast(pl.Int64, strict=False)
        # Date-times are inferred from the first value that is not a number.
        dates = pl.select(pl.when(parsed.is_null()).then(text)).to_series()
        try:
            seconds = dates.str.to_datetime(strict=False, time_unit="us").dt.epoch("s")
        except pl.exceptions.PolarsError:  # no format fits that first value: all are bad
            seconds = pl.repeat(None, len(dates), dtype=pl.Int64, eager=True)
        parsed = parsed.fill_null(seconds)
    else:
        raise DataError(
            f"{path}: {where} holds {column.dtype} values; expected seconds or date-times."
        )
    bad = frame.filter(parsed.is_null() & column.is_not_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise fail(
            path,
            row["line"],
            f"{where} = {row['timestamp']!r} is neither seconds nor an ISO date-time; fix the "
            "value or map another column to timestamp.",
        )
    return parsed


def _read_items(
    path: Path, mapping: Mapping[str, str] | None, separator: str, category_separator: str
) -> pl.DataFrame:
    """Item table in Dataset names; unmapped columns are kept for ``attributes``."""
    mapping = _full_mapping(mapping, ITEM_KEYS, "item_mapping")
    frame = _read_table(path, mapping, separator, keep_unmapped=True)
    require_values(frame, ["item_id"], path)
    frame = frame.with_columns(pl.col("item_id").cast(pl.String))
    check_unique(frame, "item_id", path, "item")
    if "price" in mapping:
        price = parse_number(frame, "price", pl.Float64(), path, field=_column(mapping, "price"))
        frame = frame.with_columns(price)
    if "categories" in mapping and frame["categories"].dtype == pl.String:
        parts = pl.element().str.strip_chars()
        frame = frame.with_columns(
            pl.col("categories").str.split(category_separator).list.eval(parts.filter(parts != ""))
        )
    text = [c for c in ("title", "brand", "description") if c in mapping]
    return frame.with_columns(pl.col(c).cast(pl.String) for c in text).with_columns(
        clean_text(*text)
    )
