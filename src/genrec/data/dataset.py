"""The canonical Dataset: the one form every reader produces and every later stage reads.

Vocabulary (as in LensKit): ``user_id`` / ``item_id`` are the source's string ids, kept for
output; ``user`` / ``item`` are contiguous integer indices starting at 0, used everywhere else.

On disk a Dataset is a folder with ``interactions.parquet``, ``items.parquet``,
``users.parquet`` and ``manifest.json``; ``Dataset.load(Dataset.save(path))`` gives back an
equal Dataset (same fingerprint).
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genrec.atomic import atomic_dir
from genrec.errors import DataError

#: Item-table text columns every Dataset carries (null where the source has no value).
ITEM_TEXT_COLUMNS: dict[str, pl.DataType] = {
    "title": pl.String(),
    "brand": pl.String(),
    "categories": pl.List(pl.String()),
    "description": pl.String(),
    "price": pl.Float64(),
    # Any further source fields, as a JSON object string (keeps the schema fixed).
    "attributes": pl.String(),
}

#: How sources write "no value" in a text field (compared stripped and lower-cased): e.g. 3 Office
#: items are titled "Unknown" and 498 have brand "Unknown". A placeholder read as a value would
#: be rendered, embedded and shown as one (498 items sharing the "brand" Unknown).
PLACEHOLDERS = ("", "unknown", "n/a", "none", "null", "nan")

#: The free-text item columns placeholders are removed from and HTML entities are decoded in.
PLACEHOLDER_COLUMNS = ("title", "brand", "description")

#: Optional per-interaction columns a reader may supply.
OPTIONAL_INTERACTION_COLUMNS: dict[str, pl.DataType] = {
    "timestamp": pl.Int64(),
    "rating": pl.Float32(),
    "review": pl.String(),
    # The reviewer's one-line headline (Amazon's ``summary``), also the first line of ``review``;
    # kept apart because it is the item's name in the reviewer's words (see review_text.py).
    "summary": pl.String(),
}

FILES = ("interactions.parquet", "items.parquet", "users.parquet", "manifest.json")


@dataclass(frozen=True)
class Sequences:
    """Per-user chronological item sequences in CSR form.

    ``items[offsets[u]:offsets[u + 1]]`` is user ``u``'s sequence, oldest first.
    """

    offsets: np.ndarray  # [n_users + 1] int64
    items: np.ndarray  # [n_interactions] int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user] : self.offsets[user + 1]]

    @property
    def lengths(self) -> np.ndarray:
        """[n_users] number of items per user."""
        return np.diff(self.offsets)


@dataclass(frozen=True)
class Dataset:
    """An immutable set of users, items and chronologically ordered interactions.

    Tables (polars DataFrames, treat them as read-only):
      - ``interactions``: ``user``, ``item`` (Int32 indices) plus optional ``timestamp``
        (Int64 seconds), ``rating`` (Float32), ``review`` and ``summary`` (String); rows
        grouped by user and in chronological order within a user (ties keep source order).
      - ``items``: ``item``, ``item_id`` and the text columns of ``ITEM_TEXT_COLUMNS``.
      - ``users``: ``user``, ``user_id``.
    ``manifest`` records the source, counts, preprocessing steps and a content fingerprint.
    """

    name: str
    interactions: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_frames(
        cls,
        name: str,
        interactions: pl.DataFrame,
        items: pl.DataFrame,
        *,
        source: dict[str, Any],
        keep_unused_items: bool = False,
    ) -> Dataset:
        """Build a Dataset from string-keyed frames, as every reader does.

        ``interactions`` needs ``user_id`` and ``item_id`` (strings) and may carry the optional
        interaction columns; its row order is taken as chronological unless ``timestamp`` is
        given, in which case rows are sorted by it with row order as the stable tie-break.
        ``items`` needs ``item_id`` and may carry any text column. ``source`` (reader name,
        files) goes into the manifest and into error messages.
        """
        where = source.get("files") or source.get("reader", name)
        _require_columns(interactions, ["user_id", "item_id"], f"interactions from {where}")
        _require_columns(items, ["item_id"], f"items from {where}")
        if interactions.height == 0:
            raise DataError(f"{where}: no interactions were read; check the file is not empty.")

        interactions = interactions.with_columns(
            pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)
        )
        items = _canonical_item_table(items.with_columns(pl.col("item_id").cast(pl.String)))
        dup = items.filter(pl.col("item_id").is_duplicated())["item_id"].unique()
        if dup.len():
            raise DataError(
                f"{where}: item ids appear more than once in the item table "
                f"(e.g. {dup.head(3).to_list()}); each item needs exactly one row."
            )
        unknown = interactions.join(items.select("item_id"), on="item_id", how="anti")
        if unknown.height:
            raise DataError(
                f"{where}: {unknown['item_id'].n_unique()} item id(s) in the interactions have no "
                f"row in the item table (e.g. {unknown['item_id'].head(3).to_list()}); add them "
                "to the item file or drop those interactions."
            )
        if not keep_unused_items:
            items = items.join(interactions.select("item_id").unique(), on="item_id", how="semi")
        items = items.with_row_index("item").with_columns(pl.col("item").cast(pl.Int32))

        users = (
            interactions.select("user_id")
            .unique(maintain_order=True)
            .with_row_index("user")
            .with_columns(pl.col("user").cast(pl.Int32))
        )
        frame = (
            interactions.with_row_index("_row")
            .join(users, on="user_id")
            .join(items.select("item_id", "item"), on="item_id")
        )
        keep = ["user", "item"] + [
            c for c in OPTIONAL_INTERACTION_COLUMNS if c in interactions.columns
        ]
        frame = _sort_chronologically(frame).select(keep)
        frame = frame.with_columns(
            pl.col(c).cast(t) for c, t in OPTIONAL_INTERACTION_COLUMNS.items() if c in keep
        )
        manifest = {"name": name, "source": source, "steps": []}
        return cls._with_manifest(
            name, frame, items.select(["item", "item_id", *ITEM_TEXT_COLUMNS]), users, manifest
        )

    @classmethod
    def _with_manifest(
        cls,
        name: str,
        interactions: pl.DataFrame,
        items: pl.DataFrame,
        users: pl.DataFrame,
        manifest: dict[str, Any],
    ) -> Dataset:
        """Attach fresh counts and fingerprint to ``manifest`` and build the Dataset."""
        ds = cls(name, interactions, items, users, {})
        manifest = {
            **manifest,
            "counts": {
                "users": ds.n_users,
                "items": ds.n_items,
                "interactions": ds.n_interactions,
            },
            "fingerprint": ds._compute_fingerprint(),
        }
        return cls(name, interactions, items, users, manifest)

    def derive(
        self,
        step: dict[str, Any],
        interactions: pl.DataFrame,
        *,
        keep_unused_items: bool = False,
    ) -> Dataset:
        """A new Dataset from a filtered or reordered ``interactions`` table (same indices).

        Users and (unless ``keep_unused_items``) items that no longer occur are dropped and
        the remaining ones re-indexed contiguously, keeping their relative order. ``step`` is
        appended to the manifest's preprocessing steps.
        """
        if interactions.height == 0:
            raise DataError(
                f"{self.name}: no interactions are left after {step.get('step', step)}; "
                "loosen the filter (e.g. a smaller k for k-core)."
            )
        users = self.users.join(interactions.select("user").unique(), on="user", how="semi")
        items = self.items
        if not keep_unused_items:
            items = items.join(interactions.select("item").unique(), on="item", how="semi")
        user_map = users.select(pl.col("user"), pl.int_range(pl.len(), dtype=pl.Int32).alias("_u"))
        item_map = items.select(pl.col("item"), pl.int_range(pl.len(), dtype=pl.Int32).alias("_i"))
        interactions = (
            interactions.join(user_map, on="user", maintain_order="left")
            .join(item_map, on="item", maintain_order="left")
            .with_columns(user=pl.col("_u"), item=pl.col("_i"))
            .drop("_u", "_i")
        )
        users = users.join(user_map, on="user").with_columns(user=pl.col("_u")).drop("_u")
        items = items.join(item_map, on="item").with_columns(item=pl.col("_i")).drop("_i")
        manifest = {**self.manifest, "steps": [*self.manifest.get("steps", []), step]}
        return Dataset._with_manifest(self.name, interactions, items, users, manifest)

    def with_items(self, step: dict[str, Any], items: pl.DataFrame) -> Dataset:
        """A new Dataset whose item table is ``items`` (same items in the same order, e.g. with
        text filled in); ``step`` is appended to the manifest's preprocessing steps."""
        if items.columns != self.items.columns or not items["item"].equals(self.items["item"]):
            raise DataError(
                f"{self.name}: with_items needs the same items, in order, with columns "
                f"{self.items.columns}; found columns {items.columns}."
            )
        manifest = {**self.manifest, "steps": [*self.manifest.get("steps", []), step]}
        return Dataset._with_manifest(self.name, self.interactions, items, self.users, manifest)

    # ----------------------------------------------------------------- accessors
    @property
    def n_users(self) -> int:
        return self.users.height

    @property
    def n_items(self) -> int:
        return self.items.height

    @property
    def n_interactions(self) -> int:
        return self.interactions.height

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def has(self, column: str) -> bool:
        """Whether interactions carry the optional ``column`` (timestamp, rating, review, ...)."""
        return column in self.interactions.columns

    def sequences(self) -> Sequences:
        """Per-user chronological item sequences (CSR)."""
        users = self.interactions["user"].to_numpy()
        counts = np.bincount(users, minlength=self.n_users)
        offsets = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Sequences(offsets, self.interactions["item"].to_numpy().astype(np.int64))

    def item_titles(self) -> list[str]:
        """Display name per item index: the title, else the item id."""
        return self.items.select(pl.coalesce("title", "item_id"))[:, 0].to_list()

    def summary(self) -> dict[str, Any]:
        """Counts and shape statistics, for reports and the CLI."""
        lengths = self.sequences().lengths
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
            "mean_sequence_length": float(lengths.mean()),
            "items_with_title": int(self.items["title"].is_not_null().sum()),
            "optional_columns": [c for c in OPTIONAL_INTERACTION_COLUMNS if self.has(c)],
        }

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the Dataset folder atomically (a crash leaves no half-written folder)."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.interactions.write_parquet(tmp / "interactions.parquet")
            self.items.write_parquet(tmp / "items.parquet")
            self.users.write_parquet(tmp / "users.parquet")
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Read a folder written by ``save``; verifies the content fingerprint."""
        path = Path(path)
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise DataError(
                f"{path}: not a genrec dataset folder (missing {', '.join(missing)}); create one "
                "with `genrec data prepare` or Dataset.save."
            )
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            ds = cls(
                manifest["name"],
                pl.read_parquet(path / "interactions.parquet"),
                pl.read_parquet(path / "items.parquet"),
                pl.read_parquet(path / "users.parquet"),
                manifest,
            )
        except (OSError, ValueError, KeyError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"{path}: cannot read dataset ({exc}); re-create it.") from exc
        if ds._compute_fingerprint() != manifest.get("fingerprint"):
            raise DataError(
                f"{path}: content does not match the fingerprint in manifest.json; the folder "
                "was modified or corrupted. Re-create it from the source files."
            )
        return ds

    def _compute_fingerprint(self) -> str:
        """sha256 over the content (not the Parquet bytes, which vary across writers)."""
        h = hashlib.sha256()
        for frame in (self.interactions, self.items, self.users):
            h.update(",".join(f"{c}:{t}" for c, t in frame.schema.items()).encode())
            for column in frame.columns:
                series = frame[column]
                if series.dtype.is_numeric():
                    h.update(series.fill_null(-1).to_numpy().tobytes())
                    h.update(series.is_null().to_numpy().tobytes())
                else:
                    h.update(json.dumps(series.to_list(), ensure_ascii=False).encode())
        return h.hexdigest()[:16]


def _require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {missing}; found {frame.columns}. Map the source's "
            "columns to these names (see the reader's column mapping)."
        )


def _canonical_item_table(items: pl.DataFrame) -> pl.DataFrame:
    """Cast known text columns, add missing ones as nulls, fold unknown ones into attributes;
    HTML entities in titles, brands and descriptions are decoded (Amazon writes ``Scotch&reg;``,
    ``12&quot;``) and placeholder values (``PLACEHOLDERS``) become null, whichever reader
    produced them."""
    known = {"item_id", *ITEM_TEXT_COLUMNS}
    extra = [c for c in items.columns if c not in known]
    if extra and "attributes" not in items.columns:
        items = items.with_columns(
            pl.struct(extra)
            .map_elements(
                lambda s: json.dumps(s, ensure_ascii=False, default=str), return_dtype=pl.String
            )
            .alias("attributes")
        )
    items = items.drop(extra).with_columns(
        pl.col(c).cast(t) if c in items.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in ITEM_TEXT_COLUMNS.items()
    )
    return (
        items.with_columns(_unescape_html(items[c]) for c in PLACEHOLDER_COLUMNS)
        .with_columns(_unescape_html_lists(items["categories"]))
        .with_columns(
            pl.when(pl.col(c).str.strip_chars().str.to_lowercase().is_in(PLACEHOLDERS))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in PLACEHOLDER_COLUMNS
        )
        .select(["item_id", *ITEM_TEXT_COLUMNS])
    )


def _unescape_html(column: pl.Series) -> pl.Series:
    """``column`` with HTML entities decoded (``&amp;`` -> ``&``), twice: some sources escaped
    their text twice (an Office brand reads ``&amp;reg;``). Only the rows that contain an ``&``
    go through ``html.unescape`` (190 of 2420 Office titles)."""
    rows = column.str.contains("&", literal=True).fill_null(False).arg_true()
    if rows.len() == 0:
        return column
    decoded = [html.unescape(html.unescape(text)) for text in column.gather(rows).to_list()]
    return column.clone().scatter(rows, decoded)


def _unescape_html_lists(column: pl.Series) -> pl.Series:
    """``_unescape_html`` for a list-of-strings column (categories: 697 Beauty items carry
    ``L&#39;Oreal Paris`` or ``WEN&reg;`` there); only the lists holding an ``&`` are decoded."""
    has = column.list.eval(pl.element().str.contains("&", literal=True)).list.any()
    rows = has.fill_null(False).arg_true()
    if rows.len() == 0:
        return column
    decoded = [
        [None if text is None else html.unescape(html.unescape(text)) for text in values]
        for values in column.gather(rows).to_list()
    ]
    index = pl.int_range(column.len(), dtype=pl.UInt32, eager=True)
    kept = pl.DataFrame({"i": index, column.name: column}).filter(~index.is_in(rows.implode()))
    fixed = pl.DataFrame({"i": rows, column.name: pl.Series(decoded, dtype=column.dtype)})
    return pl.concat([kept, fixed]).sort("i")[column.name]


def _sort_chronologically(frame: pl.DataFrame) -> pl.DataFrame:
    """Group rows by user; order by timestamp when present, source row order breaking ties."""
    keys = ["user", "timestamp", "_row"] if "timestamp" in frame.columns else ["user", "_row"]
    return frame.sort(keys, nulls_last=True)
