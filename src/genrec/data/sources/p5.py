"""Reader for the P5 / IDGenRec layout (the Beauty / Sports / Toys benchmark splits).

Files in the folder, each plain or gzipped:

- ``user_sequence.txt``: ``<userID> <ASIN_1> ... <ASIN_n>``, one line per user, oldest item
  first. There are no timestamps or ratings: the order on the line *is* the chronology.
- ``item_keywords.txt``: ``<ASIN> <keyword phrase>``, one line per item.
- ``datamaps.json`` (optional): P5's integer ids, as ``user2id`` / ``item2id`` or (in some
  published copies only) the inverse ``id2user`` / ``id2item``; either direction is enough.
- ``item_attributes.json`` (optional): ``{ASIN: [brand?, category, subcategory, ...]}``.

Item text: the keyword phrase becomes ``title``. It is *not* the product title: IDGenRec's
ID generator derived it from title, brand and categories. The attribute list becomes
``categories`` exactly as published; its first entry is the brand when the brand was frequent
in the dataset, which cannot be told apart reliably, so ``brand`` stays null.

Order: with ``datamaps.json`` users and items are indexed in P5's integer-id order
(index = P5 id - 1), so results line up with published P5 artefacts; without it, in order of
first appearance in ``user_sequence.txt``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    check_known,
    check_unique,
    clean_text,
    fail,
    find_file,
    load_json,
    read_lines,
    require_file,
)
from genrec.errors import DataError

SEQUENCE_LINE = "`<userID> <ASIN_1> ... <ASIN_n>` per user"
KEYWORD_LINE = "`<ASIN> <keyword phrase>` per item"


def read_p5(
    path: str | Path,
    *,
    user_sequence: str | Path | None = None,
    item_keywords: str | Path | None = None,
    datamaps: str | Path | None = None,
    item_attributes: str | Path | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a P5 / IDGenRec folder; explicit file paths override the files found in it."""
    folder = Path(path)
    hint = "pass the P5 / IDGenRec dataset folder (or the file path explicitly)."
    seq_path = Path(user_sequence or require_file(folder, "user_sequence.txt", hint=hint))
    kw_path = Path(item_keywords or require_file(folder, "item_keywords.txt", hint=hint))
    maps_path = Path(datamaps) if datamaps else find_file(folder, "datamaps.json")
    attr_path = (
        Path(item_attributes) if item_attributes else find_file(folder, "item_attributes.json")
    )

    interactions = _read_sequences(seq_path)
    items = _read_keywords(kw_path)
    check_known(interactions, "item_id", items["item_id"], seq_path, kw_path)
    if attr_path is not None:
        items = items.join(
            _read_attributes(attr_path), on="item_id", how="left", maintain_order="left"
        )
    if maps_path is not None:
        interactions, items = _order_by_datamaps(interactions, items, seq_path, maps_path)
    else:  # first appearance, as P5 assigned its ids (the keyword file's order is arbitrary)
        first = interactions.select("item_id").unique(maintain_order=True).with_row_index("_at")
        items = items.join(first, on="item_id", how="left").sort("_at", nulls_last=True)
        items = items.drop("_at")

    files = [str(p) for p in (seq_path, kw_path, maps_path, attr_path) if p is not None]
    source = {
        "reader": "p5",
        "files": files,
        "item_text": "title holds IDGenRec keyword phrases, not the product titles",
    }
    return Dataset.from_frames(
        name or folder.resolve().name,
        interactions.select("user_id", "item_id"),
        items,
        source=source,
    )


def _read_sequences(path: Path) -> pl.DataFrame:
    """One row per interaction ``[line, user_id, item_id]``, in file order."""
    lines = read_lines(path, SEQUENCE_LINE)
    tokens = lines.select(
        "line",
        pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars().str.split(" ").alias("t"),
    ).select(
        "line",
        pl.col("t").list.first().alias("user_id"),
        pl.col("t").list.slice(1).alias("item_id"),
    )
    empty = tokens.filter(pl.col("item_id").list.len() == 0)
    if empty.height:
        row = empty.row(0, named=True)
        raise fail(
            path, row["line"], f"user {row['user_id']!r} has no items; expected {SEQUENCE_LINE}."
        )
    check_unique(tokens, "user_id", path, "user")
    return tokens.explode("item_id")


def _read_keywords(path: Path) -> pl.DataFrame:
    """``[item_id, title]`` from ``<ASIN> <keyword phrase>`` lines (blank phrase -> null)."""
    lines = read_lines(path, KEYWORD_LINE)
    parts = lines.select(
        "line", pl.col("text").str.strip_chars_start().str.splitn(" ", 2).alias("p")
    ).unnest("p")
    parts = parts.rename({"field_0": "item_id", "field_1": "title"})
    check_unique(parts, "item_id", path, "item")
    return parts.with_columns(clean_text("title")).select("item_id", "title")


def _read_attributes(path: Path) -> pl.DataFrame:
    """``[item_id, categories]`` from ``{ASIN: [name, ...]}``."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object {{ASIN: [names]}}, found {type(data)}.")
    for asin, names in data.items():
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise DataError(
                f"{path}: field {asin!r} should be a list of names, found {names!r}; fix it."
            )
    return pl.DataFrame(
        {"item_id": list(data), "categories": list(data.values())},
        schema={"item_id": pl.String, "categories": pl.List(pl.String)},
    )


def _order_by_datamaps(
    interactions: pl.DataFrame, items: pl.DataFrame, seq_path: Path, maps_path: Path
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reorder users and items by their P5 integer ids (stable within a user)."""
    maps = load_json(maps_path)
    if not isinstance(maps, dict):
        raise DataError(f"{maps_path}: expected a JSON object with user2id and item2id; fix it.")
    ranks: dict[str, pl.DataFrame] = {}
    for what, column in (("user", "user_id"), ("item", "item_id")):
        key, mapping = _id_map(maps, what, maps_path)
        frame = pl.DataFrame(
            {column: list(mapping), "p5_id": [str(v) for v in mapping.values()]},
            schema={column: pl.String, "p5_id": pl.String},
        )
        parsed = frame["p5_id"].cast(pl.Int64, strict=False)
        if parsed.null_count():
            bad = frame.filter(parsed.is_null()).row(0)
            raise DataError(
                f"{maps_path}: {key}: {what} {bad[0]!r} has P5 id {bad[1]!r}, which is not an "
                "integer; fix it."
            )
        ranks[column] = frame.with_columns(p5_id=parsed)
        check_known(interactions, column, frame[column], seq_path, f"{maps_path} ({key})")
    interactions = (
        interactions.with_row_index("_row")
        .join(ranks["user_id"], on="user_id", how="left")
        .sort("p5_id", "_row")
        .drop("p5_id", "_row")
    )
    items = items.join(ranks["item_id"], on="item_id", how="left").sort(
        "p5_id", nulls_last=True, maintain_order=True
    )
    return interactions, items.drop("p5_id")


def _id_map(maps: dict[str, object], what: str, maps_path: Path) -> tuple[str, dict[str, object]]:
    """``(key, {string id: P5 id})`` from ``<what>2id``, or inverted from ``id2<what>``:
    published copies carry one direction or both, and either is enough."""
    forward, inverse = maps.get(f"{what}2id"), maps.get(f"id2{what}")
    if isinstance(forward, dict):
        return f"{what}2id", forward
    if isinstance(inverse, dict):
        return f"id2{what}", {str(v): k for k, v in inverse.items()}
    raise DataError(
        f"{maps_path}: neither {what}2id nor id2{what} is an object; the file needs one of them."
    )
