"""bfloat16 falls back to float32 where the hardware only emulates it."""

from __future__ import annotations

import pytest
import torch

from genrec.training import precision


def test_emulated_bfloat16_runs_in_float32_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True})
    precision.native_bfloat16.cache_clear()
    precision._fallback.cache_clear()
    try:
        with pytest.warns(UserWarning, match="no native bfloat16"):
            assert precision.usable_dtype(torch.bfloat16, "cpu") == torch.float32
        with pytest.warns(UserWarning, match="train.mixed_precision=bf16"):
            assert precision.usable_mixed_precision("bf16", "cpu") == "no"
        assert precision.usable_dtype(torch.float32, "cpu") == torch.float32
        assert precision.usable_mixed_precision("no", "cpu") == "no"
    finally:
        precision.native_bfloat16.cache_clear()
        precision._fallback.cache_clear()


def test_native_bfloat16_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    precision.native_bfloat16.cache_clear()
    try:
        assert precision.usable_dtype(torch.bfloat16, "cpu") == torch.bfloat16
        assert precision.usable_mixed_precision("bf16", "cpu") == "bf16"
    finally:
        precision.native_bfloat16.cache_clear()
