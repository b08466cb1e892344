"""bfloat16 only where the hardware computes it.

Recipes ask for bfloat16 (``train.mixed_precision: bf16``, ``decode.precision: bfloat16``)
because it about halves the time on GPUs and on CPUs with AVX512-BF16 or AMX. A CPU without
them (AVX2 only, common on cloud VMs) emulates it: a bfloat16 matrix product measured 80x
slower than float32 on one (benchmarks/results/serving.md), which turned a 3-minute recipe into
hours. There the request falls back to float32, with a note; the numbers differ only by
rounding.
"""

from __future__ import annotations

import functools
import warnings

import torch


@functools.cache
def native_bfloat16(device_type: str) -> bool:
    """Whether devices of ``device_type`` ("cpu", "cuda", ...) compute bfloat16 natively."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return True  # other accelerators (mps, xpu): trust the recipe


def usable_mixed_precision(requested: str, device_type: str) -> str:
    """``train.mixed_precision`` as it can run on ``device_type``: "bf16" becomes "no" where
    bfloat16 is emulated."""
    if requested == "bf16" and not native_bfloat16(device_type):
        _fallback("train.mixed_precision=bf16", device_type)
        return "no"
    return requested


def usable_dtype(requested: torch.dtype, device_type: str) -> torch.dtype:
    """``decode.precision`` as it can run on ``device_type``: bfloat16 becomes float32 where it
    is emulated."""
    if requested == torch.bfloat16 and not native_bfloat16(device_type):
        _fallback("decode.precision=bfloat16", device_type)
        return torch.float32
    return requested


@functools.cache
def _fallback(setting: str, device_type: str) -> None:
    """Say once per process and setting that it runs in float32 instead."""
    warnings.warn(
        f"{setting}: this {device_type} has no native bfloat16 (AVX512-BF16 or AMX on a CPU), "
        "where it runs many times slower than float32; using float32 instead",
        stacklevel=3,
    )
