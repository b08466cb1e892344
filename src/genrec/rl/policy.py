"""What a generator must offer to be post-trained: the decoding steps, nothing more.

Rollouts and their scores go through the same ``StepModel`` protocol that beam search uses:
``start`` encodes each history once for its ``n`` rollouts, and ``L'`` ``step`` calls feed the
rollouts' ID tokens (teacher forcing). Taken with gradients, those steps give each emitted
token's log-probability at the cost of one history pass per user, not one per rollout, and
for any generator: TIGER, the decoder-only one, and an LLM backbone that implements the
protocol. It needs ``start`` and ``step`` to be differentiable (no ``no_grad`` inside, as in
both models here) and the model in ``eval()`` mode (see ``genrec.rl.srpo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from genrec.decoding.constraints import level_logprobs
from genrec.models.step_model import StepModel
from genrec.sid.semantic_ids import SemanticIds


@runtime_checkable
class Policy(StepModel, Protocol):
    ids: SemanticIds
    token_offset: int  # where the ID tokens start in the vocabulary


def token_logprobs(
    policy: Policy, histories: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Log-probability of each ID token of ``tokens [B, n, L']`` (``n`` outputs per history of
    ``histories [B, L]``) under the distribution the sampler draws from -> float32
    ``[B, n, L']``, differentiable.

    That is the constrained, tempered one (``level_logprobs``: softmax of ``logits /
    temperature`` over the codes that can still reach a real item), so the ratio to the
    sampling-time log-probabilities is exactly 1 before the first update and the gradient never
    spends mass on codes decoding cannot emit.
    """
    n_users, n, n_levels = tokens.shape
    flat = tokens.reshape(n_users * n, n_levels)
    state = policy.start(histories, n)
    logits, state = policy.step(state, None)
    levels = [logits]
    for level in range(n_levels - 1):
        logits, state = policy.step(state, flat[:, level].to(logits.device))
        levels.append(logits)
    logp = id_logprobs(policy.ids, policy.token_offset, flat, levels, temperature)
    return logp.view(n_users, n, n_levels)


def target_nll(policy: Policy, histories: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the items ``targets [B]`` after ``histories [B, L]``: the mean over
    their ID tokens of the negative constrained log-probability (``token_logprobs`` at
    temperature 1, the distribution beam search ranks by) -> a differentiable scalar. The
    supervised anchor and the cross-entropy control of RL (``genrec.rl.srpo``) minimise it."""
    table = np.asarray(policy.ids.tokens(offset=policy.token_offset), dtype=np.int64)
    tokens = torch.from_numpy(table).to(targets.device)[targets][:, None]  # [B, 1, L']
    return -token_logprobs(policy, histories, tokens).mean()


def id_logprobs(
    ids: SemanticIds,
    token_offset: int,
    tokens: torch.Tensor,
    logits: Sequence[torch.Tensor],
    temperature: float = 1.0,
) -> torch.Tensor:
    """Constrained, tempered log-probability of each ID token of ``tokens [R, L']`` from the
    ``logits`` that predicted each level (``L'`` tensors ``[R, V]``) -> float32 ``[R, L']``."""
    offsets = ids.level_offsets(token_offset).tolist()
    codes = tokens - torch.tensor(offsets, device=tokens.device)
    out = []
    for level, size in enumerate(ids.codebook_sizes):  # levels, not rows
        rows = logits[level]
        allowed = ids.trie.allowed(codes[:, :level].to(ids.trie.device)).to(rows.device)
        logp = level_logprobs(rows, offsets[level], allowed.view(-1, size), temperature)
        out.append(logp.gather(1, codes[:, level : level + 1].to(rows.device)))
    return torch.cat(out, dim=1)
