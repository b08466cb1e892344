"""What a generator must offer to be post-trained: decoding steps plus teacher-forced scores.

Rollouts are drawn through the ``StepModel`` protocol (the shared constrained sampler or beam
search); the update needs the log-probability of each emitted token with gradients, in one
teacher-forced pass: ``log_probs(histories, tokens)``. TIGER and the decoder-only generator
have both; a pretrained LLM backbone joins by offering the same.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from genrec.decoding.constraints import level_logprobs
from genrec.decoding.step_model import StepModel
from genrec.sid.semantic_ids import SemanticIds


@runtime_checkable
class Policy(StepModel, Protocol):
    ids: SemanticIds
    token_offset: int  # where the ID tokens start in the vocabulary

    def log_probs(self, histories: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``histories [B, L]`` and the first ``t < L'`` ID tokens ``[B, t]`` -> next-token
        log-probabilities ``[B, t + 1, V]`` (row ``j``: token ``j`` given ``tokens[:, :j]``)."""
        ...


def token_logprobs(
    policy: Policy, histories: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Log-probability of each ID token ``tokens [R, L']`` after ``histories [R, L]`` under the
    distribution the sampler draws from -> float32 ``[R, L']`` (differentiable).

    That is the constrained, tempered one (``level_logprobs``: softmax of ``logits /
    temperature`` over the codes that can still reach a real item), so the ratio to the
    sampling-time log-probabilities is exactly 1 before the first update and the gradient never
    spends mass on codes decoding can not emit.
    """
    ids = policy.ids
    offsets = ids.level_offsets(policy.token_offset).tolist()
    codes = tokens - torch.tensor(offsets, device=tokens.device)
    scores = policy.log_probs(histories, tokens[:, :-1])  # [R, L', V]
    out = []
    for level, size in enumerate(ids.codebook_sizes):  # levels, not rows
        allowed = ids.trie.allowed(codes[:, :level].to(ids.trie.device)).to(scores.device)
        logp = level_logprobs(scores[:, level], offsets[level], allowed.view(-1, size), temperature)
        out.append(logp.gather(1, codes[:, level : level + 1].to(scores.device)))
    return torch.cat(out, dim=1)
