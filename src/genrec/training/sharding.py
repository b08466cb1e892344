"""Models that ``accelerate`` shards across processes (FSDP2, ``fully_shard``): their full
weights and optimizer state for checkpoints, and their gathered parameters for decoding.

A sharded model holds only its slice of every parameter on each process, so the loop cannot
read or write ``model.state_dict()`` as it does under DDP. These functions are the one place
that knows: every process calls them together (they all-gather), and a checkpoint holds the
same full, unsharded tensors whichever way its run was launched (the optimizer state keyed by
parameter index, as ``Optimizer.state_dict`` keys it), so a run saved under DDP resumes under
FSDP and the other way round. On an unsharded model they are the plain calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from accelerate import Accelerator, DistributedType
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import FSDPModule

from genrec.errors import ConfigError

#: Full tensors, on the CPU (rank 0 writes them; the others get an empty dict).
_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
#: Every process passes the full tensors it read; each keeps its slice.
_SCATTER = StateDictOptions(full_state_dict=True)


def check_distribution(accelerator: Accelerator, decode_precision: str) -> None:
    """Refuse the ways ``accelerate`` may launch a run that the loop does not support, naming
    the key (of the accelerate config file, or of the recipe) to change."""
    kind = accelerator.distributed_type
    if kind == DistributedType.FSDP and not accelerator.is_fsdp2:
        raise ConfigError(
            "fsdp_config.fsdp_version: 1 in the accelerate config: genrec's loop supports "
            "FSDP2 only (fully_shard); set fsdp_version: 2 (see configs/accelerate/fsdp.yaml)"
        )
    mixed = accelerator.mixed_precision
    bf16_both = mixed == "bf16" and decode_precision == "bfloat16"
    if kind == DistributedType.FSDP and mixed != "no" and not bf16_both:
        # Its mixed-precision policy gathers the weights in the training precision, and a
        # sharded model cannot be copied into another one to decode.
        raise ConfigError(
            f"decode.precision={decode_precision} with train.mixed_precision={mixed} under "
            "FSDP: validation decodes the weights FSDP gathers in the training precision; use "
            "train.mixed_precision=bf16 with decode.precision=bfloat16 (or mixed_precision=no)"
        )
    if kind in (DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM):
        raise ConfigError(
            f"distributed_type: {kind.value} in the accelerate config is not supported by "
            "genrec's loop; use configs/accelerate/fsdp.yaml (FSDP2) to shard a model, or "
            "configs/accelerate/ddp.yaml"
        )


def shards(model: nn.Module) -> list[FSDPModule]:
    """The FSDP units of ``model`` (none when it is not sharded), the root first."""
    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def full_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s full state dict (on rank 0; empty elsewhere when sharded). Every process
    calls it."""
    if not shards(model):
        return model.state_dict()
    return get_model_state_dict(model, options=_GATHER)


def load_full_weights(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Load full ``weights`` into ``model`` (strict; each process keeps its slice when
    sharded). Every process calls it with the same weights."""
    if not shards(model):
        model.load_state_dict(weights)
        return
    expected = model.state_dict().keys()
    if expected != weights.keys():  # as strict as load_state_dict
        raise RuntimeError(
            f"missing keys {sorted(expected - weights.keys())}, "
            f"unexpected keys {sorted(weights.keys() - expected)}"
        )
    # A tied parameter (LoRA's token rows, shared by the embeddings and the head) once, by
    # the name that owns it: torch scatters only that one.
    owned = {name for name, _ in model.named_parameters()}
    owned |= {name for name, _ in model.named_buffers()}
    kept = {k: v for k, v in weights.items() if k in owned}
    set_model_state_dict(model, kept, options=StateDictOptions(full_state_dict=True, strict=False))


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()`` with full tensors, keyed by parameter index (rank 0). Every
    process calls it."""
    if not shards(model):
        return optimizer.state_dict()
    named = get_optimizer_state_dict(model, optimizer, options=_GATHER)
    if not named:  # not rank 0
        return {}
    index = {name: i for i, name in enumerate(_parameter_names(model))}
    return {
        "state": {index[name]: value for name, value in named["state"].items()},
        "param_groups": [
            {**group, "params": [index[name] for name in group["params"]]}
            for group in named["param_groups"]
        ],
    }


def load_full_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, state: Mapping[str, Any]
) -> None:
    """Load what ``full_optimizer_state`` returned into ``optimizer``. Every process calls it
    with the same state."""
    if not shards(model):
        optimizer.load_state_dict(dict(state))
        return
    names = _parameter_names(model)
    named = {
        "state": {names[int(i)]: value for i, value in state["state"].items()},
        "param_groups": [
            {**group, "params": [names[int(i)] for i in group["params"]]}
            for group in state["param_groups"]
        ],
    }
    set_optimizer_state_dict(model, optimizer, named, options=_SCATTER)


def _parameter_names(model: nn.Module) -> list[str]:
    """The names of ``model.parameters()`` in order (the optimizer's indices), as FSDP2 keeps
    them."""
    return [name for name, _ in model.named_parameters()]


@contextmanager
def gathered(model: nn.Module) -> Iterator[None]:
    """Decode with ``model``'s full parameters on every process (each decodes the same users),
    then shard them again. Methods other than ``forward`` (a beam search's ``step``) read the
    weights directly, which are only slices outside this block."""
    units = shards(model)
    for unit in units:
        unit.unshard()
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()


def gather(model: nn.Module) -> None:
    """Leave ``model``'s full parameters on every process for good (after training: the final
    evaluation decodes it as an unsharded model)."""
    for unit in shards(model):
        unit.set_reshard_after_forward(False, recurse=False)
        unit.unshard()
