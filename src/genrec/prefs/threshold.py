"""Choosing the avoid-matching threshold on validation, never on test, and recording it.

The procedure: take every negative statement written for a user's validation step (the
second-to-last item of leave-one-out) and that step's target, the item the user went on to
choose. A statement that matched its own target would have removed something the user wanted,
so the share of such pairs is the false-exclusion rate the enforcement costs. The threshold is
the lowest cosine at which that rate stays within ``max_false_exclusion``: as strict as the
validation data allows at the chosen cost. Word and kind matches count toward the rate whatever
the threshold; if they alone exceed it, the threshold is 1 (match by meaning only near-duplicates).
Test steps are never read; the matcher itself only ever sees the statements and the catalog.

The choice is written as ``avoid.json`` (the ``MatchConfig`` to use plus what was measured),
which `genrec recommend --avoid-calibration` and ``RunRecommender`` read back. Matching reads
the item text of ``match.template``; ``ids`` takes the template a run's semantic IDs were built
from instead, so the threshold is chosen on the text the run knows its items by.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genrec.atomic import atomic_file
from genrec.config import bounded, configclass, load_config, to_dict
from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig
from genrec.errors import ConfigError, DataError
from genrec.prefs.matching import AvoidMatcher, MatchConfig
from genrec.prefs.statements import Statements
from genrec.prefs.store import read_record
from genrec.sid.semantic_ids import read_metadata
from genrec.text.template import ItemTemplate

FORMAT = "genrec-avoid/1"
CALIBRATION = "avoid.json"


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and what it does on the validation pairs it was chosen on."""

    threshold: float
    max_false_exclusion: float
    pairs: int  # (negative statement, validation target) pairs
    false_exclusion: float  # share of pairs whose target the statement excludes
    fixed_false_exclusion: float  # the part of it word and kind matching cause, at any threshold
    mean_excluded: float  # items a validation statement excludes, on average


def validation_pairs(dataset: Dataset, statements: Statements) -> tuple[list[str], np.ndarray]:
    """``(texts, targets [P])``: each negative statement of a validation step and that step's
    target. Only validation steps (second to last item, users with >= 3 items) are read."""
    seqs = dataset.sequences()
    lengths = seqs.lengths
    users = np.flatnonzero(lengths >= 3)
    steps = pl.DataFrame(
        {
            "user": users.astype(np.int32),
            "step": (lengths[users] - 2).astype(np.int32),
            "target": seqs.items[seqs.offsets[users] + lengths[users] - 2].astype(np.int64),
        }
    )
    pairs = statements.table.filter(pl.col("polarity") == "negative").join(
        steps, on=["user", "step"]
    )
    return pairs["text"].to_list(), pairs["target"].to_numpy()


def choose_threshold(
    matcher: AvoidMatcher,
    texts: list[str],
    targets: np.ndarray,
    max_false_exclusion: float,
    batch: int = 2048,
) -> ThresholdChoice:
    """The lowest threshold whose false exclusion on ``(texts, targets)`` is at most
    ``max_false_exclusion`` (deterministic: a pure function of its inputs)."""
    if not texts:
        raise DataError(
            "no negative statements at validation steps: generate statements with "
            "steps=leave_one_out (or all) for this dataset before choosing a threshold."
        )
    n = len(texts)
    own = np.empty(n, dtype=np.float32)  # cosine of each statement with its own target
    fixed = np.zeros(n, dtype=bool)  # by words or kind: whatever the threshold
    for start in range(0, n, batch):
        chunk, rows = texts[start : start + batch], slice(start, start + batch)
        own[rows] = matcher.similarity(chunk)[np.arange(len(chunk)), targets[rows]]
        fixed[rows] = matcher.fixed_match(chunk)[np.arange(len(chunk)), targets[rows]]
    budget = int(np.floor(max_false_exclusion * n)) - int(fixed.sum())
    free = np.sort(own[~fixed])[::-1]  # pairs the threshold alone decides, highest first
    if budget < 0 or len(free) == 0:
        threshold = 1.0
    elif budget >= len(free):
        threshold = -1.0
    else:
        # Everything strictly above the (budget+1)-th highest cosine may be excluded.
        threshold = float(min(1.0, np.nextafter(free[budget], np.float32(2))))
    excluded, total = 0, 0
    for start in range(0, n, batch):
        chunk = texts[start : start + batch]
        excluded += int(matcher.match(chunk, threshold).sum())
        total += len(chunk)
    false = (own >= threshold) | fixed
    return ThresholdChoice(
        threshold=threshold,
        max_false_exclusion=max_false_exclusion,
        pairs=n,
        false_exclusion=float(false.mean()),
        fixed_false_exclusion=float(fixed.mean()),
        mean_excluded=excluded / total,
    )


@configclass
class ThresholdConfig:
    """`genrec prefs threshold`: which dataset and statements, what cost, where to record."""

    data: DataConfig = field(default_factory=DataConfig)
    # A statements folder with validation steps; None: the attributes generator's default
    # folder for this dataset (<dataset folder>/prefs/attributes).
    statements: str | None = None
    match: MatchConfig = field(default_factory=MatchConfig)
    # A semantic-IDs folder (the run's ``ids``): match with the item template it was built from.
    ids: str | None = None
    # Share of validation targets the enforcement may exclude: the Recall it may cost.
    max_false_exclusion: float = bounded(0.05, gt=0, lt=1)
    out: str | None = None  # None: <statements>/avoid.json
    progress: bool = True


def ids_match(match: MatchConfig, ids: str | Path) -> MatchConfig:
    """``match`` reading the item text the semantic IDs in ``ids`` were built from. A template
    given explicitly that differs from theirs is an error: one of the two is a mistake."""
    recorded = read_metadata(ids).get("template")
    if recorded is None:
        raise ConfigError(
            f"ids={ids}: these semantic IDs record no item template; give "
            "match.template.fields instead."
        )
    template = load_config(ItemTemplate, recorded)
    if match.template not in (ItemTemplate(), template):
        raise ConfigError(
            f"match.template.fields={list(match.template.fields)} differs from the template "
            f"ids={ids} was built with ({list(template.fields)}); give only one of them."
        )
    return replace(match, template=template)


def select_threshold(config: ThresholdConfig) -> tuple[ThresholdChoice, MatchConfig, Path]:
    """Choose the threshold ``config`` describes and write it (``CALIBRATION``); returns the
    choice, the matching it applies to and the file."""
    from genrec.data.prepare import load_dataset
    from genrec.prefs.generate import PrefsConfig, default_out
    from genrec.prefs.matching import avoid_matcher
    from genrec.prefs.store import load_statements

    dataset = load_dataset(config.data)
    folder = Path(config.statements or default_out(PrefsConfig(data=config.data), dataset.name))
    statements = load_statements(folder, dataset)
    match = config.match if config.ids is None else ids_match(config.match, config.ids)
    matcher = avoid_matcher(dataset, match, progress=config.progress)
    texts, targets = validation_pairs(dataset, statements)
    choice = choose_threshold(matcher, texts, targets, config.max_false_exclusion)
    out = Path(config.out) if config.out else folder / CALIBRATION
    record = {
        "format": FORMAT,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint},
        "statements": str(folder),
        "match": to_dict(replace(match, threshold=choice.threshold)),
        "choice": asdict(choice),
    }
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return choice, replace(match, threshold=choice.threshold), out


def read_calibration(path: str | Path) -> tuple[MatchConfig, dict[str, Any]]:
    """The ``MatchConfig`` recorded in ``path`` (an ``avoid.json`` or a folder holding one)
    and the whole record."""
    path = Path(path)
    file = path / CALIBRATION if path.is_dir() else path
    record = read_record(
        file,
        FORMAT,
        missing=f"{file}: no avoid calibration there; write one with `genrec prefs threshold`.",
        redo="run `genrec prefs threshold` again",
    )
    return load_config(MatchConfig, record["match"]), record
