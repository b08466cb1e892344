"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A training checkpoint is a folder holding ``model.safetensors`` (the weights a user may share)
and ``state.safetensors`` + ``state.json`` (optimizer, scheduler, RNG and loop counters, so a
killed run resumes exactly). Folders are written atomically: a kill mid-save never leaves a
half-written checkpoint behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genrec.atomic import atomic_dir
from genrec.errors import DataError
from genrec.training.sharding import load_full_weights

_TENSOR = "__tensor__"


def flatten_state(state: Any, tensors: dict[str, torch.Tensor], prefix: str = "s") -> Any:
    """Replace every tensor in a nested dict/list by a reference, collecting it in ``tensors``."""
    if isinstance(state, torch.Tensor):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = state.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(state, dict):
        # JSON keys are strings: remember int keys (optimizer state is keyed by param index).
        return {"__dict__": [[k, flatten_state(v, tensors, prefix)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [flatten_state(v, tensors, prefix) for v in state]
    return state


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``flatten_state``."""
    if isinstance(skeleton, dict) and _TENSOR in skeleton:
        return tensors[skeleton[_TENSOR]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def save_checkpoint(
    path: str | Path, weights: Mapping[str, torch.Tensor], state: dict[str, Any]
) -> Path:
    """Write a model's full ``weights`` (its ``state_dict()``, or ``sharding.full_weights``)
    and the resumable training ``state`` to folder ``path``."""
    with atomic_dir(path) as tmp:
        # clone: tied weights (output head = embeddings) share storage, which safetensors refuses
        copies = {k: v.detach().cpu().clone().contiguous() for k, v in weights.items()}
        save_file(copies, tmp / "model.safetensors")
        tensors: dict[str, torch.Tensor] = {}
        skeleton = flatten_state(state, tensors)
        save_file(tensors, tmp / "state.safetensors")
        (tmp / "state.json").write_text(json.dumps(skeleton))
    return Path(path)


def load_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Load ``model.safetensors`` from a checkpoint folder into ``model`` (strict; a model
    sharded across processes keeps its slice, and every process must call it)."""
    file = Path(path) / "model.safetensors"
    if not file.is_file():
        raise DataError(
            f"{file}: no weights here; is {path} a checkpoint folder of a finished run?"
        )
    try:
        weights = load_file(file)
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{file}: cannot read weights ({exc}); the file is corrupted.") from exc
    try:
        load_full_weights(model, weights)
    except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
        raise DataError(
            f"{file}: these weights do not fit the {type(model).__name__} the config builds "
            f"(its semantic IDs or sizes changed?): {exc}"
        ) from exc


def load_state(path: str | Path) -> dict[str, Any]:
    """The training state saved by ``save_checkpoint``; ``DataError`` names a file that is
    missing or corrupted."""
    path = Path(path)
    skeleton, tensors = path / "state.json", path / "state.safetensors"
    try:
        text = skeleton.read_text()
    except OSError as exc:
        raise DataError(f"{skeleton}: cannot read the training state ({exc})") from exc
    try:
        structure = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{skeleton}: not valid JSON ({exc}); the file is corrupted") from exc
    try:
        arrays = load_file(tensors)
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{tensors}: cannot read the training state ({exc})") from exc
    try:
        return unflatten_state(structure, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{skeleton}: does not match {tensors.name} ({exc!r})") from exc
