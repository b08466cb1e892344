"""Constrained ancestral sampling of semantic IDs: ``n`` independent items per user.

For policy-gradient rollouts (a group of ``n`` answers per prompt) the generator must propose
items by its own distribution, not by rank. Each of the ``B x n`` rows walks the ID levels
once; at each level the code is drawn from the constrained, tempered distribution (softmax of
``logits / temperature`` over the codes that can still reach a permitted item, the same
constraint as beam search), so every sample is a real, non-excluded item. Rows never swap
lineage, so the model's ``reorder`` is not needed.

Draws use the Gumbel-max trick (``argmax(logp + Gumbel noise)`` is an exact sample of
``softmax(logp)``): one ``torch.rand`` per level for all rows, no renormalisation, and masked
codes (-inf) can never win. ``generator`` makes runs reproducible.
"""

from __future__ import annotations

import math

import torch

from genrec.data.windows import PAD
from genrec.decoding.constraints import check_logits, level_logprobs, start_decoding
from genrec.models.step_model import StepModel
from genrec.sid.semantic_ids import SemanticIds


@torch.no_grad()
def sample(
    model: StepModel,
    ids: SemanticIds,
    histories: torch.Tensor,
    n: int,
    *,
    temperature: float = 1.0,
    exclude: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    token_offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` constrained samples per history: ``(items [B, n] int64, logprobs [B, n] float32)``.

    Samples are independent (with replacement: a likely item may appear several times).
    ``logprobs`` is each sample's log-probability under the distribution it was drawn from:
    the sum over its ID levels of the constrained log-softmax of ``logits / temperature``
    (at temperature 1 this equals the item's ``beam_search`` score). ``temperature`` must be
    > 0; small values approach greedy decoding. ``exclude [B, E]`` (``PAD``-padded) items are
    never drawn; a user with no permitted item left gets ``PAD`` / ``-inf`` in every column.
    ``generator`` (on the model's device) seeds the draws; ``token_offset`` is as in
    ``beam_search``.
    """
    if n < 1:
        raise ValueError(f"n (samples per user) must be >= 1; got {n}")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(
            f"temperature must be a finite number > 0; got {temperature} "
            "(for the single most likely item use beam_search with beams=1, k=1)"
        )
    start = start_decoding(model, ids, histories, n, exclude, token_offset)
    if start is None:
        return torch.zeros(0, n, dtype=torch.long), torch.zeros(0, n)
    state, logits, constraints, offsets, vocab_end = start
    n_users, n_levels, device = len(histories), ids.n_levels, logits.device
    # The rows of a user share the empty prefix: one distribution per user at the first level.
    prefixes = torch.zeros(n_users, 1, 0, dtype=torch.long, device=device)  # [B, live, level]
    keys = torch.zeros(n_users, 1, dtype=torch.long, device=device)  # prefixes' trie keys
    logprobs = torch.zeros(n_users, n, device=device)
    for level, size in enumerate(ids.codebook_sizes):
        check_logits(logits, n_users * n, vocab_end)
        live = keys.shape[1]  # 1 at the first level, then n
        rows = logits if live == n else logits[::n]  # [B * live, V]
        allowed = constraints.allowed(level, prefixes, keys)  # [B, live, K]
        logp = level_logprobs(rows, offsets[level], allowed.view(-1, size), temperature)
        logp = logp.view(n_users, live, size).expand(n_users, n, size)
        code = (logp + _gumbel(logp.shape, generator, device)).argmax(dim=2)  # [B, n]
        logprobs += logp.gather(2, code[:, :, None]).squeeze(2)  # -inf for dead rows
        prefixes = torch.cat([prefixes.expand(n_users, n, level), code[:, :, None]], dim=2)
        keys = constraints.extend(keys.expand(n_users, n), level, code)
        if level + 1 < n_levels:
            logits, state = model.step(state, (code + offsets[level]).view(-1))
    items, ok = constraints.items(prefixes)
    drawn = ok & (logprobs > float("-inf"))
    return items.masked_fill(~drawn, PAD), logprobs.masked_fill(~drawn, float("-inf"))


def _gumbel(
    shape: torch.Size, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log(U))``, ``U`` uniform in (0, 1), float32 ``shape``."""
    uniform = torch.rand(shape, generator=generator, device=device)
    tiny = torch.finfo(uniform.dtype).tiny
    return -torch.log(-torch.log(uniform.clamp(min=tiny)))
