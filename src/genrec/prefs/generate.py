"""`genrec prefs generate`: a dataset and a generator config -> a statements folder."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Literal

from genrec.config import bounded, configclass
from genrec.data.prepare import DataConfig, load_dataset
from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
from genrec.prefs.statements import Generator, Statements
from genrec.prefs.steps import StepsName, select_steps


@configclass
class PrefsConfig:
    """Which dataset, which generator and settings, which steps, where to write."""

    data: DataConfig = field(default_factory=DataConfig)
    # "attributes" is the offline default; "llm" and "openai" come in later slices.
    generator: Literal["attributes"] = "attributes"
    attributes: AttributesConfig = field(default_factory=AttributesConfig)
    # leave_one_out: the validation and test target steps; all: every step (training data).
    steps: StepsName = "leave_one_out"
    # None: <dataset folder>/prefs/<generator> for a prepared folder, else
    # runs/prefs/<dataset name>/<generator>.
    out: str | None = None
    chunk_users: int = bounded(2000, ge=1)  # users per resumable chunk (~1 s of generation)
    progress: bool = True


def make_generator(config: PrefsConfig) -> Generator:
    """The generator ``config.generator`` names, with its settings."""
    return AttributesGenerator(config.attributes)


def default_out(config: PrefsConfig, dataset_name: str) -> Path:
    """Where statements go when ``out`` is not given: next to a prepared dataset, else runs/."""
    if config.out is not None:
        return Path(config.out)
    if config.data.format == "genrec":
        return Path(config.data.path) / "prefs" / config.generator
    return Path("runs") / "prefs" / dataset_name / config.generator


def generate(config: PrefsConfig, *, overwrite: bool = False) -> tuple[Statements, Path]:
    """Generate (or resume) the statements ``config`` describes; returns them and the folder."""
    from genrec.prefs.store import write_statements

    dataset = load_dataset(config.data)
    out = default_out(config, dataset.name)
    statements = write_statements(
        out,
        dataset,
        make_generator(config),
        select_steps(dataset, config.steps),
        steps_name=config.steps,
        chunk_users=config.chunk_users,
        overwrite=overwrite,
        progress=config.progress,
    )
    return statements, out
