"""Statements on disk: ``statements.parquet`` plus ``manifest.json``, resumable while written.

Generation runs in chunks of users; each finished chunk is written atomically to
``chunks/NNNNN.parquet`` (its skip counts in the Parquet metadata), so a killed run restarts
at the first missing chunk. The manifest is written first and names the dataset fingerprint,
the generator identity and the steps: resuming with anything else is refused unless
``overwrite``. When every chunk is done they are joined into ``statements.parquet`` and the
manifest is marked complete, each atomically.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genrec.atomic import atomic_file
from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.statements import SCHEMA, Generator, Statements, check_table
from genrec.prefs.steps import Steps

FORMAT = "genrec-prefs/1"
MANIFEST, TABLE, CHUNKS = "manifest.json", "statements.parquet", "chunks"


def write_statements(
    out: str | Path,
    dataset: Dataset,
    generator: Generator,
    steps: Steps,
    *,
    steps_name: str,
    chunk_users: int = 2000,
    overwrite: bool = False,
    progress: bool = True,
) -> Statements:
    """Generate (or finish generating) the statements of ``steps`` into ``out``. A new folder
    whose generation fails before its first chunk is removed again (nothing worth resuming)."""
    out = Path(out)
    settings = {
        "format": FORMAT,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint},
        "generator": generator.identity(),
        "steps": steps_name,
        "chunk_users": chunk_users,
    }
    existed = out.exists()
    _prepare(out, settings, overwrite)
    if read_manifest(out).get("complete"):
        return load_statements(out, dataset)
    try:
        return _generate(out, settings, dataset, generator, steps, chunk_users, progress)
    except BaseException:
        if not list(out.glob(f"{CHUNKS}/*.parquet")):  # failed before any result: no trace
            shutil.rmtree(out / CHUNKS, ignore_errors=True)
            (out / MANIFEST).unlink(missing_ok=True)
            if not existed and not any(out.iterdir()):
                out.rmdir()
        raise


def _generate(
    out: Path,
    settings: dict[str, Any],
    dataset: Dataset,
    generator: Generator,
    steps: Steps,
    chunk_users: int,
    progress: bool,
) -> Statements:
    """The chunks of ``write_statements`` still missing, then the table and the manifest."""
    from tqdm.auto import tqdm

    users = np.unique(steps.users)
    chunks = [users[i : i + chunk_users] for i in range(0, len(users), chunk_users)]
    started = time.perf_counter()
    bar = tqdm(
        total=len(users), unit="user", desc=f"{generator.name} statements", disable=not progress
    )
    for index, chunk in enumerate(chunks):
        path = out / CHUNKS / f"{index:05d}.parquet"
        if not path.is_file():
            part = generator.generate(dataset, steps.of_users(chunk))
            with atomic_file(path) as tmp:
                part.table.write_parquet(tmp, metadata={"skipped": json.dumps(dict(part.skipped))})
        bar.update(len(chunk))
    bar.close()
    parts = [out / CHUNKS / f"{i:05d}.parquet" for i in range(len(chunks))]
    table = pl.concat([pl.read_parquet(p) for p in parts]) if parts else _empty()
    skipped: Counter[str] = Counter()
    for p in parts:
        skipped.update(json.loads(pl.read_parquet_metadata(p).get("skipped", "{}")))
    statements = Statements(table, dict(sorted(skipped.items())))
    with atomic_file(out / TABLE) as tmp:
        table.write_parquet(tmp)
    manifest = {
        **settings,
        "complete": True,
        "counts": counts(statements, len(steps)),
        "skipped": statements.skipped,
        "seconds_last_run": round(time.perf_counter() - started, 2),
    }
    _write_manifest(out, manifest)
    shutil.rmtree(out / CHUNKS, ignore_errors=True)
    return statements


def load_statements(path: str | Path, dataset: Dataset | None = None) -> Statements:
    """Read a complete statements folder; with ``dataset``, check it was written for it."""
    path = Path(path)
    manifest = read_manifest(path)
    if not manifest.get("complete"):
        raise DataError(
            f"{path}: generation has not finished; run `genrec prefs generate` again to resume."
        )
    if dataset is not None and manifest["dataset"]["fingerprint"] != dataset.fingerprint:
        raise DataError(
            f"{path}: statements of dataset {manifest['dataset']['name']} (fingerprint "
            f"{manifest['dataset']['fingerprint']}), not of {dataset.name} "
            f"({dataset.fingerprint}); generate statements for this dataset."
        )
    try:
        table = pl.read_parquet(path / TABLE)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"{path / TABLE}: cannot read ({exc}); generate again.") from exc
    check_table(table, str(path / TABLE))
    return Statements(table, manifest.get("skipped", {}))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a statements folder (an error naming the folder if there is none)."""
    return read_record(
        Path(path) / MANIFEST,
        FORMAT,
        missing=f"{path}: not a statements folder (no {MANIFEST}); create one with "
        "`genrec prefs generate`.",
        redo="generate again with --overwrite",
    )


def read_record(file: Path, fmt: str, *, missing: str, redo: str) -> dict[str, Any]:
    """A JSON record of format ``fmt`` that genrec wrote (a manifest, a calibration): a
    DataError saying ``missing`` when there is none, naming the file and ``redo`` otherwise."""
    if not file.is_file():
        raise DataError(missing)
    try:
        record = json.loads(file.read_text())
    except ValueError as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); {redo}.") from exc
    if record.get("format") != fmt:
        raise DataError(f"{file}: format {record.get('format')!r}, expected {fmt!r}.")
    return record


def counts(statements: Statements, n_steps: int) -> dict[str, int]:
    """Statement, step and polarity counts, for the manifest and `genrec prefs inspect`."""
    table = statements.table
    return {
        "steps": n_steps,
        "steps_with_statements": table.select("user", "step").n_unique() if table.height else 0,
        "users": table["user"].n_unique(),
        "statements": table.height,
        **{p: int((table["polarity"] == p).sum()) for p in ("positive", "negative")},
    }


def _prepare(out: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Start a fresh folder, or check that the one there was started with these settings."""
    if (out / MANIFEST).is_file():
        found = read_manifest(out)
        differ = _differences(found, settings)
        if not overwrite and not differ:
            return  # resume
        if not overwrite:
            raise DataError(
                f"{out}: holds statements written with other settings ({'; '.join(differ)}); "
                "pass --overwrite to replace them, or choose another out=."
            )
        for name in (MANIFEST, TABLE, CHUNKS):
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    elif out.exists() and any(out.iterdir()):
        raise DataError(
            f"{out}: exists and is not a statements folder; choose an empty or new out= folder."
        )
    _write_manifest(out, {**settings, "complete": False})


def _differences(found: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key: found X, now Y"`` for every setting that differs (nested keys dotted)."""
    out = []
    for key, value in wanted.items():
        old = found.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out += _differences(old, value, f"{prefix}{key}.")
        elif old != value:
            out.append(f"{prefix}{key}: found {old!r}, now {value!r}")
    return out


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    with atomic_file(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)
