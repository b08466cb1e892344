"""The shared transformer layers: LiGR's gated block beside the standard one."""

from __future__ import annotations

import torch
from torch import nn

from genrec.models.layers import LiGRBlock, SwiGLU, attention_mask

B, L, D = 3, 5, 8


def block(**gates: float) -> LiGRBlock:
    """A seeded LiGR block in eval mode; ``gates`` set a gate's bias (weights zeroed), so its
    value is the constant ``sigmoid(bias)``."""
    torch.manual_seed(0)
    layer = LiGRBlock(D, heads=2, ff_dim=16, dropout=0.1).eval()
    with torch.no_grad():
        for name, bias in gates.items():
            gate: nn.Linear = getattr(layer, name)
            gate.weight.zero_()
            gate.bias.fill_(bias)
    return layer


def causal(x: torch.Tensor) -> torch.Tensor:
    return attention_mask(torch.ones(x.shape[:2], dtype=torch.bool), causal=True)


def test_ligr_keeps_the_shape_and_its_feed_forward_has_no_bias() -> None:
    x = torch.randn(B, L, D)
    assert block()(x, causal(x)).shape == (B, L, D)
    assert all(linear.bias is None for linear in (block().ff.gate, block().ff.up, block().ff.down))


def test_closed_gates_pass_the_input_through_and_open_ones_add_each_branch() -> None:
    x = torch.randn(B, L, D)
    allowed = causal(x)
    closed = block(gate1=-1e4, gate2=-1e4)
    torch.testing.assert_close(closed(x, allowed), x)
    # Fully open gates: the plain pre-norm residual sum of both branches.
    opened = block(gate1=1e4, gate2=1e4)
    mid = x + opened.attn(opened.norm1(x), allowed)
    torch.testing.assert_close(opened(x, allowed), mid + opened.ff(opened.norm2(mid)))
    # A half-open attention gate halves that branch; the feed-forward gate reads its own input.
    half = block(gate1=0.0)
    mid = x + 0.5 * half.attn(half.norm1(x), allowed)
    ff_gate = torch.sigmoid(half.gate2(mid))
    torch.testing.assert_close(half(x, allowed), mid + ff_gate * half.ff(half.norm2(mid)))


def test_ligr_gates_depend_on_the_input() -> None:
    layer = block()
    x = torch.randn(B, L, D)
    gate = torch.sigmoid(layer.gate1(x))
    assert gate.std() > 0.01 and ((gate > 0) & (gate < 1)).all()


def test_later_items_leave_earlier_outputs_unchanged() -> None:
    layer = block()
    x = torch.randn(B, L, D)
    changed = x.clone()
    changed[:, 3:] = torch.randn(B, L - 3, D)
    before, after = layer(x, causal(x)), layer(changed, causal(changed))
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_swiglu_is_silu_gate_times_up_projection() -> None:
    torch.manual_seed(0)
    ff = SwiGLU(D, 12, dropout=0.0)
    x = torch.randn(B, D)
    hidden = torch.nn.functional.silu(x @ ff.gate.weight.T) * (x @ ff.up.weight.T)
    expected = hidden @ ff.down.weight.T
    torch.testing.assert_close(ff(x), expected)
