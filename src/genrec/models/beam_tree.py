"""Beams that share their user's cached prompt: the decoding state of the causal generators.

A causal generator (the decoder-only transformer, a pretrained LLM with ID tokens) prefills a
user's prompt once. The beams of that user then share its cache row: each step appends a block
of ``W`` beam tokens to it, ``path`` records which token of every block is an ancestor of each
beam, and a tree-shaped attention mask lets every beam see the prompt and its own ancestors
only. So the cache is ``W`` times smaller than one row per beam, and beam selection
(``reorder``) copies no keys or values at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from genrec.models.kv_cache import KV
from genrec.models.step_model import beams_kept


@dataclass(frozen=True)
class BeamTreeState:
    """Decoding state of ``B`` users x ``W`` beams; immutable (steps and ``reorder`` return new
    states, so an old state stays valid)."""

    kv: KV  # per layer (keys, values) [B, heads, T + s * W, d]: prompt, then s beam blocks
    mask: torch.Tensor  # [B, T] long, 1 = real prompt token
    next_position: torch.Tensor  # [B] position of the next token (real tokens so far)
    first: torch.Tensor  # [B * W, V] log-probabilities of the first ID token (the prefill's)
    path: torch.Tensor  # [B, W, s] slot of each beam's ancestor in each block fed so far
    widths: tuple[int, ...] = ()  # tokens per block fed so far (the beam count when fed)

    @property
    def beams(self) -> int:
        return self.path.shape[1]

    @property
    def fed(self) -> int:
        """Beam blocks fed so far (ID tokens emitted)."""
        return self.path.shape[2]


def start_state(kv: KV, mask: torch.Tensor, first: torch.Tensor, beams: int) -> BeamTreeState:
    """The state after prefilling prompts with padding ``mask [B, T]``: their cache ``kv`` and
    the first ID token's log-probabilities ``first [B, V]`` (one row per user)."""
    return BeamTreeState(
        kv=kv,
        mask=mask.long(),
        next_position=mask.long().sum(1),
        first=first.repeat_interleave(beams, dim=0),
        path=torch.zeros(len(mask), beams, 0, dtype=torch.long, device=mask.device),
    )


def tree_inputs(
    state: BeamTreeState, tokens: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What one step feeds the network for the beams' new tokens ``tokens [B * W]``:
    ``(tokens [B, W], additive attention mask [B, 1, W, T + fed blocks + W], positions [B, W])``.

    Each beam sees the prompt's real tokens, its ancestor's slot in every earlier block, and
    itself (the diagonal of the new block); masked entries are ``dtype``'s most negative value.
    """
    n_users, beams, _ = state.path.shape
    device = state.mask.device
    tokens = tokens.view(n_users, beams).to(device, torch.long)
    prompt = state.mask.shape[1]
    widths = (*state.widths, beams)
    seen = torch.zeros(n_users, beams, prompt + sum(widths), dtype=torch.bool, device=device)
    seen[:, :, :prompt] = state.mask.bool()[:, None, :]
    block_starts = prompt + torch.tensor([0, *widths[:-1]], device=device).cumsum(0)
    seen.scatter_(2, block_starts + _slots(state), True)
    bias = torch.zeros(seen.shape, dtype=dtype, device=device)
    bias = bias.masked_fill(~seen, torch.finfo(dtype).min)[:, None]
    positions = state.next_position[:, None].expand(-1, beams)
    return tokens, bias, positions


def advanced(state: BeamTreeState, kv: KV) -> BeamTreeState:
    """The state after a step fed one block of ``W`` beam tokens, ``kv`` the grown cache."""
    return replace(
        state,
        kv=kv,
        next_position=state.next_position + 1,
        path=_slots(state),
        widths=(*state.widths, state.beams),
    )


def reordered(state: BeamTreeState, rows: torch.Tensor, model: str) -> BeamTreeState:
    """Keep beams ``rows [B * W']``; row ``b * W' + j`` must be one of user ``b``'s beams
    (beam selection): the users' shared cache stays as it is, only the lineage moves."""
    n_users, beams, fed = state.path.shape
    rows = rows.to(state.mask.device, torch.long)
    width = beams_kept(rows, n_users, beams, model)
    path = state.path.reshape(n_users * beams, fed)[rows].reshape(n_users, width, fed)
    return replace(state, first=state.first.index_select(0, rows), path=path)


def _slots(state: BeamTreeState) -> torch.Tensor:
    """``path`` extended by each beam's own slot in the block being fed: ``[B, W, s + 1]``."""
    n_users, beams, _ = state.path.shape
    own = torch.arange(beams, device=state.path.device).expand(n_users, -1)[:, :, None]
    return torch.cat([state.path, own], dim=2)
