"""Item text templates: which item fields become the text a sentence encoder reads, and how.

The rendered text is what the semantic IDs are built from (TIGER encodes "title, price, brand,
categories"), so the template is a recorded config: ``to_dict()`` goes into run manifests and
``fingerprint()`` identifies it. Rendering is a handful of polars expressions over the whole
item table, so a catalogue of a million items renders in about a second.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import field
from typing import Any

import numpy as np
import polars as pl

from genrec.config import bounded, configclass, to_dict
from genrec.errors import DataError

#: Bump when the rendering code changes what a given config produces (invalidates fingerprints).
RENDER_VERSION = 1

#: The item-table fields a template can name directly; ``attributes.<path>`` reads the JSON.
FIELDS = ("title", "brand", "categories", "description", "price")
_ATTR = "attributes."

# A JSON array of scalars (strings, numbers, booleans): rendered as "a, b, c". Nested arrays and
# objects stay compact JSON text, which is rare in item metadata and still readable.
_SCALAR = r'(?:"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false)'
_FLAT_ARRAY = rf"^\[\s*(?:{_SCALAR}\s*(?:,\s*{_SCALAR}\s*)*)?\]$"


@configclass
class ItemTemplate:
    """Which fields to render, in order, as ``"Label: value"`` joined by ``separator``.

    Default: ``"Title: ...; Brand: ...; Categories: a > b; Price: $12.99"``. Missing and empty
    fields are skipped, so an item without a brand reads ``"Title: ...; Categories: ..."``.
    An item with no text at all renders as ``"Item: <item_id>"``: an empty string would give
    every such item the same embedding (and the same semantic ID).
    """

    # TIGER's fields; description is opt-in since it is long and mostly marketing boilerplate.
    fields: tuple[str, ...] = ("title", "brand", "categories", "price")
    # Label overrides, e.g. {"title": "Name", "attributes.year": "Released"}; "" drops the label.
    # Not part of the hash (dicts are unhashable); equality and fingerprint() still include it.
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    separator: str = "; "
    label_separator: str = ": "
    category_separator: str = " > "  # categories are a path from general to specific
    list_separator: str = ", "  # JSON arrays from attributes
    # Descriptions are cut (at a word boundary, marked with "…") to this many characters:
    # MiniLM reads at most 256 word pieces and was trained on 128, so an uncut description would
    # crowd out, or push past the limit, the fields after it; 300 characters ~ 70 word pieces.
    max_description_chars: int | None = bounded(300, ge=1)
    price_prefix: str = "$"  # the Amazon datasets are in US dollars
    price_decimals: int = bounded(2, ge=0, le=6)

    def __post_init__(self) -> None:
        # Accept a list (hand-written code) but store a tuple, and own the labels: stay frozen.
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "labels", dict(self.labels))
        problems = []
        if not self.fields:
            problems.append("fields: empty; name at least one of " + ", ".join(FIELDS))
        for name in self.fields:
            if name not in FIELDS and not (name.startswith(_ATTR) and _attr_path(name)):
                problems.append(
                    f"fields: unknown field {name!r}; expected one of {', '.join(FIELDS)} or "
                    "attributes.<key> (e.g. attributes.year)"
                )
        if len(set(self.fields)) != len(self.fields):
            problems.append(f"fields: duplicates in {list(self.fields)}")
        unknown = sorted(set(self.labels) - set(self.fields))
        if unknown:
            problems.append(f"labels: {unknown} are not in fields {list(self.fields)}")
        if problems:
            raise ValueError("; ".join(problems))

    # ----------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for run manifests (``load_config(ItemTemplate, d)`` rebuilds it)."""
        return to_dict(self)

    def fingerprint(self) -> str:
        """Stable 16-hex id of what this template renders (config + rendering code version)."""
        payload = json.dumps({"render_version": RENDER_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def label(self, name: str) -> str:
        """The label shown before ``name``'s value ("Title", "Year" for attributes.year)."""
        if name in self.labels:
            return self.labels[name]
        leaf = _attr_path(name)[-1] if name.startswith(_ATTR) else name
        leaf = leaf.replace("_", " ").strip()
        return leaf[:1].upper() + leaf[1:]

    # ----------------------------------------------------------------- rendering
    def render(self, items: pl.DataFrame) -> list[str]:
        """One text per row of ``items`` (a Dataset's ``items`` table or any frame like it)."""
        return self._frame(items)["text"].to_list()

    def has_text(self, items: pl.DataFrame) -> np.ndarray:
        """``[n_items]`` bool: whether any field rendered (False = the item-id fallback)."""
        return self._frame(items)["has_text"].to_numpy()

    def _frame(self, items: pl.DataFrame) -> pl.DataFrame:
        needed = {"attributes" if f.startswith(_ATTR) else f for f in self.fields}
        missing = sorted(needed - set(items.columns))
        if missing:
            raise DataError(
                f"item table: missing column(s) {missing} named by the template fields "
                f"{list(self.fields)}; found {items.columns}. Drop those fields from the template "
                "or build the table with Dataset.from_frames, which adds every text column."
            )
        parts = []
        for name in self.fields:
            value = _non_empty(self._value(name, items.schema))
            label = self.label(name)
            parts.append(pl.lit(label + self.label_separator) + value if label else value)
        text = pl.concat_str(parts, separator=self.separator, ignore_nulls=True)
        has_text = pl.any_horizontal(p.is_not_null() for p in parts)
        if "item_id" in items.columns:
            fallback = pl.lit("Item" + self.label_separator) + pl.col("item_id").cast(pl.String)
            text = pl.when(has_text).then(text).otherwise(fallback)
        return items.select(text.fill_null("").alias("text"), has_text.alias("has_text"))

    def _value(self, name: str, schema: pl.Schema) -> pl.Expr:
        """A String expression for field ``name`` (null or "" where it is missing)."""
        if name.startswith(_ATTR):
            return _attribute(_attr_path(name), self.list_separator)
        dtype = schema[name]
        if name == "categories" and isinstance(dtype, pl.List):
            kept = pl.element().cast(pl.String).str.strip_chars()
            kept = kept.filter(kept.str.len_chars() > 0)
            return pl.col(name).list.eval(kept).list.join(self.category_separator)
        if name == "price" and dtype.is_numeric():
            return _price(pl.col(name).cast(pl.Float64), self.price_prefix, self.price_decimals)
        value = _clean(pl.col(name).cast(pl.String))
        if name == "description" and self.max_description_chars is not None:
            value = _truncate(value, self.max_description_chars)
        return value


def _attr_path(name: str) -> list[str]:
    """``attributes.details.Color`` -> ``["details", "Color"]`` (empty if malformed)."""
    keys = name[len(_ATTR) :].split(".")
    return keys if all(k and "'" not in k for k in keys) else []


def _clean(value: pl.Expr) -> pl.Expr:
    """Collapse runs of whitespace (newlines, tabs) to one space and trim the ends."""
    return value.str.replace_all(r"\s+", " ").str.strip_chars()


def _non_empty(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.len_chars() > 0).then(value)


def _truncate(value: pl.Expr, limit: int) -> pl.Expr:
    """Cut to ``limit`` characters at the last word boundary, marking the cut with "…"."""
    # Looking one character past the limit keeps a word that ends exactly at it; a single word
    # longer than the limit has no boundary and is cut hard.
    cut = value.str.slice(0, limit + 1).str.replace(r"\s+\S*$", "").str.slice(0, limit)
    return pl.when(value.str.len_chars() > limit).then(cut + pl.lit("…")).otherwise(value)


def _price(price: pl.Expr, prefix: str, decimals: int) -> pl.Expr:
    """Fixed-point price text ("$12.50"); NaN, infinite and negative prices count as missing."""
    scale = 10**decimals
    valid = pl.when(price.is_finite() & (price >= 0)).then(price)
    units = (valid * scale).round().cast(pl.Int64)
    if decimals == 0:
        return pl.lit(prefix) + units.cast(pl.String)
    fraction = (units % scale).cast(pl.String).str.zfill(decimals)
    return pl.lit(prefix) + pl.format("{}.{}", units // scale, fraction)


def _attribute(path: list[str], list_separator: str) -> pl.Expr:
    """Value at ``path`` in the ``attributes`` JSON; arrays of scalars joined by the separator."""
    json_path = "$" + "".join(f"['{key}']" for key in path)
    raw = pl.col("attributes").str.json_path_match(json_path)
    flat = raw.str.contains(_FLAT_ARRAY)
    joined = pl.when(flat).then(raw).str.json_decode(pl.List(pl.String)).list.join(list_separator)
    return _clean(pl.when(flat).then(joined).otherwise(raw))
