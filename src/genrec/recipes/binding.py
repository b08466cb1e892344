"""What a trained model is bound to: the semantic IDs it learned to emit and the split it
learned from.

A generator's weights mean something only with the IDs it was trained on: its run records their
fingerprint when training starts and refuses to resume or be evaluated once its IDs folder holds
others (the same codes decoded as other items would be silently wrong results). A model trained
on one split has seen another split's held-out targets (a temporal split trains on most
leave-one-out test items, and the reverse), so a distillation teacher, the run that gives
collaborative embeddings and the IDs built from it must share the student's data and split.
"""

from __future__ import annotations

from dataclasses import dataclass

from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig
from genrec.errors import ConfigError
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.run_dir import RunDir


@dataclass(frozen=True)
class TrainedOn:
    """The interactions a model learned from: the dataset's content fingerprint and the split
    (``data.split``; the temporal cutoffs are fixed fractions of that dataset)."""

    dataset: str
    split: str

    @classmethod
    def of(cls, dataset: Dataset, data: DataConfig) -> TrainedOn:
        return cls(dataset.fingerprint, data.split)

    def __str__(self) -> str:
        return f"dataset {self.dataset} with split {self.split}"


def check_trained_on(what: str, theirs: TrainedOn, against: str, ours: TrainedOn, fix: str) -> None:
    """Refuse ``what`` (a run, or a subject ending in "which"), trained on ``theirs``, where
    ``ours`` is in use (``against`` names it); the message ends with ``fix``."""
    if theirs == ours:
        return
    why = (
        "other data"
        if theirs.dataset != ours.dataset
        else f"a model trained with split {theirs.split} has seen test targets of split "
        f"{ours.split}"
    )
    raise ConfigError(f"{what} was trained on {theirs}, but {against} {ours} ({why}); {fix}")


def ids_record(path: str, ids: SemanticIds) -> dict[str, str]:
    """The manifest's ``ids`` entry of a run trained on ``ids`` (the folder ``path``)."""
    return {"path": path, "fingerprint": ids.fingerprint}


def check_ids(run: RunDir, path: str, ids: SemanticIds) -> None:
    """Refuse ``ids`` for ``run`` unless they are the IDs it was trained with. Runs written
    before IDs had fingerprints recorded none: there is nothing to compare, they load."""
    recorded = run.read_manifest().get("ids") or {}
    trained = recorded.get("fingerprint")
    if trained is None or trained == ids.fingerprint:
        return
    raise ConfigError(
        f"ids: {path} now holds other semantic IDs (fingerprint {ids.fingerprint}) than run "
        f"{run.path} was trained with ({trained}), e.g. rebuilt over by `genrec ids build`; "
        f"rebuild the run's IDs with their old settings into another folder and set `ids:` "
        f"in {run.config} to it, or retrain the run on the new IDs (--overwrite)."
    )
