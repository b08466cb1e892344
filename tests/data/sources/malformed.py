"""Malformed variants of the raw fixtures, for the property tests and benchmarks/reader_fuzz.py.

``variants(fmt)`` is a hypothesis strategy of edit lists; ``apply`` writes them over a copy of
``tests/fixtures/raw/<fmt>`` and ``outcome`` reads the result with the format's reader. The
property every reader must hold: a malformed file gives a Dataset or a ``GenrecError``, never
any other exception. Edits work on the decompressed bytes (re-gzipped where the file was) so
that they reach the parser, except truncation, which also cuts the gzip stream itself.

Edits, 1 to 3 per variant, each on one of the reader's files: truncate (text or gzip stream),
insert random or non-UTF-8 bytes, empty the file, delete it, drop / repeat / swap lines, and per
format either field edits (replace, drop or add a field of a separated line) or structural JSON
edits (replace a node by a value of another type, drop a key, add a key).
"""

from __future__ import annotations

import ast
import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from genrec.data.dataset import Dataset
from genrec.data.sources import read_dataset
from genrec.errors import GenrecError

RAW = Path(__file__).resolve().parents[2] / "fixtures" / "raw"

JSON, JSONL, PYLINES = "json", "jsonl", "python-literal lines"  # other kinds: a separator


@dataclass(frozen=True)
class Case:
    """A reader and the fixture files it is fuzzed from (file name -> kind)."""

    fmt: str
    files: dict[str, str]
    path: str = ""  # what the reader is given, relative to the copied folder
    options: dict[str, Any] = field(default_factory=dict)


CASES = {
    "p5": Case(
        "p5",
        {
            "user_sequence.txt.gz": " ",
            "item_keywords.txt.gz": " ",
            "datamaps.json.gz": JSON,
            "item_attributes.json.gz": JSON,
        },
    ),
    "lcrec": Case(
        "lcrec",
        {
            "Toy.inter.json.gz": JSON,
            "Toy.item.json.gz": JSON,
            "Toy.item_index.json.gz": JSON,
            "Toy.user_index.json.gz": JSON,
        },
    ),
    "recbole": Case("recbole", {"toy.inter.gz": "\t", "toy.item.gz": "\t"}),
    # with_meta: a deleted meta file is an error to locate (read alone, it is a warned success).
    "amazon2014": Case(
        "amazon2014",
        {"reviews_Toy_5.json.gz": JSONL, "meta_Toy.json.gz": PYLINES},
        options={"with_meta": True},
    ),
    "amazon2023": Case("amazon2023", {"Toy.jsonl": JSONL, "meta_Toy.jsonl.gz": JSONL}),
    "movielens": Case("movielens", {"ratings.dat": "::", "movies.dat": "::"}),
    "tabular": Case(
        "tabular",
        {"interactions.csv": ",", "items.csv": ","},
        path="interactions.csv",
        options={
            "mapping": {"user_id": "uid", "item_id": "sku", "timestamp": "ts", "rating": "stars"},
            "items": "items.csv",
            "item_mapping": {"item_id": "sku", "title": "name", "categories": "tags"},
        },
    ),
}

# Text that tends to break parsers: separators, quotes, brackets, numbers, non-ASCII.
TOKENS = st.one_of(
    st.text(alphabet=st.sampled_from(" \t:,|\"'{}[]\\\r\n0123456789.-eé€\x00"), max_size=6),
    st.sampled_from(["", "-1", "1e400", "nan", "NaN", "null", "true", "yesterday", "2024-13-45"]),
    st.integers(-(2**70), 2**70).map(str),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)

Edit = Callable[[bytes, st.DrawFn], bytes | None]  # None deletes the file


# ----------------------------------------------------------------------------- edits
def _truncate(data: bytes, draw: st.DrawFn) -> bytes:
    return data[: draw(st.integers(0, max(0, len(data) - 1)))]


def _insert_bytes(data: bytes, draw: st.DrawFn) -> bytes:
    at = draw(st.integers(0, len(data)))
    junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\x80\x80", b"\x00"]) | st.binary(max_size=4))
    return data[:at] + junk + data[at:]


def _lines(data: bytes, draw: st.DrawFn) -> bytes:
    lines = data.split(b"\n")
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["drop", "repeat", "swap", "blank"]))
    if op == "drop":
        del lines[i]
    elif op == "repeat":
        lines.insert(j, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines.insert(i, b"   ")
    return b"\n".join(lines)


def _fields(separator: str) -> Edit:
    """Replace, drop or add one field of one line."""
    sep = separator.encode()

    def edit(data: bytes, draw: st.DrawFn) -> bytes:
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        parts = lines[i].split(sep)
        k = draw(st.integers(0, len(parts) - 1))
        token = draw(TOKENS).encode()
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        if op == "replace":
            parts[k] = token
        elif op == "drop" and len(parts) > 1:
            del parts[k]
        else:
            parts.insert(k, token)
        lines[i] = sep.join(parts)
        return b"\n".join(lines)

    return edit


def _mutate_node(doc: Any, draw: st.DrawFn) -> Any:
    """``doc`` with one node replaced by another value, or one key dropped or added."""
    nodes: list[tuple[Any, Any]] = [(None, None)]  # (container, key); (None, None) = the root

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            nodes.append((node, key))
            if isinstance(child, dict | list):
                walk(child)

    if isinstance(doc, dict | list):
        walk(doc)
    container, key = nodes[draw(st.integers(0, len(nodes) - 1))]
    op = draw(st.sampled_from(["replace", "drop", "add"]))
    if container is None:
        return draw(JSON_VALUES) if op == "replace" or not isinstance(doc, dict) else doc
    if op == "replace":
        container[key] = draw(JSON_VALUES)
    elif op == "drop":
        del container[key]
    elif isinstance(container, dict):
        container[draw(st.text(max_size=4))] = draw(JSON_VALUES)
    else:
        container.insert(key, draw(JSON_VALUES))
    return doc


def _json_document(data: bytes, draw: st.DrawFn) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:  # an earlier edit broke it: nothing structural left to edit
        return data
    return json.dumps(_mutate_node(doc, draw)).encode()


def _record_lines(dump: Callable[[Any], str], load: Callable[[str], Any]) -> Edit:
    """Structural edit of one record of a one-record-per-line file."""

    def edit(data: bytes, draw: st.DrawFn) -> bytes:
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        try:
            record = load(lines[i].decode())
        except (ValueError, SyntaxError, UnicodeDecodeError):
            return data
        lines[i] = dump(_mutate_node(record, draw)).encode()
        return b"\n".join(lines)

    return edit


def _format_edit(kind: str) -> Edit:
    if kind == JSON:
        return _json_document
    if kind == JSONL:
        return _record_lines(json.dumps, json.loads)
    if kind == PYLINES:
        return _record_lines(repr, ast.literal_eval)
    return _fields(kind)


# ----------------------------------------------------------------------------- variants
@st.composite
def variants(draw: st.DrawFn, fmt: str) -> list[tuple[str, str, bytes | None]]:
    """1 to 3 edits as ``(file, edit name, new content)``, applied in order by ``apply``."""
    case = CASES[fmt]
    contents = {name: _read(RAW / fmt / name) for name in case.files}
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(case.files)))
        what = draw(
            st.sampled_from(
                ["format", "format", "format", "lines", "truncate", "bytes", "empty", "delete"]
            )
        )
        data = contents[name]
        if data is None:
            continue
        if what == "truncate" and name.endswith(".gz") and draw(st.booleans()):
            what = "truncate-gzip"  # cut the compressed stream itself
            new = _truncate(gzip.compress(data, mtime=0), draw)
        elif what == "delete":
            new = None
        elif what == "empty":
            new = b""
        else:
            edit = {
                "format": _format_edit(case.files[name]),
                "lines": _lines,
                "truncate": _truncate,
                "bytes": _insert_bytes,
            }[what]
            new = edit(data, draw)
        edits.append((name, what, new))
        contents[name] = None if new is None or what == "truncate-gzip" else new
    return edits


def apply(fmt: str, edits: list[tuple[str, str, bytes | None]], folder: Path) -> Path:
    """Copy the fixture to ``folder`` and write the edited files (gzipped where they were)."""
    shutil.copytree(RAW / fmt, folder)
    for name, what, new in edits:
        path = folder / name
        if new is None:
            path.unlink(missing_ok=True)
        elif what == "truncate-gzip" or not name.endswith(".gz"):
            path.write_bytes(new)
        else:
            path.write_bytes(gzip.compress(new, mtime=0))
    return folder


def outcome(fmt: str, folder: Path) -> str:
    """Read ``folder``: "accepted" or "located" (a GenrecError naming a file in ``folder``);
    "unlocated" for a GenrecError that names none. Any other exception propagates."""
    case = CASES[fmt]
    options = {k: str(folder / v) if k == "items" else v for k, v in case.options.items()}
    try:
        dataset = read_dataset(fmt, folder / case.path, **options)
    except GenrecError as exc:
        return "located" if str(folder) in str(exc) else "unlocated"
    assert isinstance(dataset, Dataset) and dataset.n_interactions > 0
    dataset.summary()
    return "accepted"


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data
