"""Distilling an item scorer's next-item distribution into a generator's ID tokens.

A model that scores every item (SASRec trained with cross-entropy: stronger than the generators
on Amazon data) gives, at every position of a training window, a distribution over the next
item. A generator emits that item as ``L'`` tokens; the teacher's distribution of the token at
level ``l``, given the target's first ``l`` tokens, is the teacher's mass on the items under each
child of that prefix. The generator then learns the mixture ``(1 - weight) x one-hot target +
weight x teacher`` at every token, so it also learns which other items are likely next.

Only the teacher's ``top`` items (and the target) are kept, renormalised: the rest carries
little mass, and leaving it out keeps a batch's cost close to the student's own.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from genrec.config import bounded, configclass
from genrec.models.recommender import transitions, trim_padding
from genrec.models.sasrec import SASRec


@configclass
class DistillConfig:
    # Run directory of a trained SASRec on the same data (e.g. the one the hybrid IDs were
    # built from); None: no distillation.
    teacher: str | None = None
    # Share of the teacher's distribution in each token's training target.
    weight: float = bounded(0.5, ge=0, le=1)
    # Softens (> 1) or sharpens (< 1) the teacher's item distribution.
    temperature: float = bounded(1.0, gt=0)
    # The teacher's most likely items kept per position.
    top: int = bounded(256, ge=1)


class ItemTeacher:
    """Soft token targets from a frozen SASRec for a generator's training windows.

    ``tokens [n_items, L']`` is the generator's item -> ID-token table. Calling the teacher
    on a batch returns it with ``soft_tokens`` and ``soft_probs`` ``[M, L', top + 1]``: the
    target distribution of each token of each learned next item (rows in the order of the
    windows' real transitions, ``(window, position)``), which ``DecoderOnly.loss`` trains on.
    """

    def __init__(self, scorer: SASRec, tokens: torch.Tensor, config: DistillConfig) -> None:
        if scorer.n_items != len(tokens):
            raise ValueError(
                f"distill.teacher scores {scorer.n_items} items but the IDs have {len(tokens)}: "
                "train the teacher on the same data"
            )
        self.scorer = scorer.eval().requires_grad_(False)
        self.tokens = tokens
        self.config = config

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        windows = trim_padding(batch["windows"])
        inputs, targets = windows[:, :-1], windows[:, 1:]
        learned = transitions(windows)  # the rows the student's loss has, in the same order
        if inputs.shape[1] > self.scorer.max_len:
            raise ValueError(
                f"distill.teacher reads histories of up to {self.scorer.max_len} items, the "
                f"training windows have {inputs.shape[1]}: use the same data.max_history"
            )
        device = windows.device  # the teacher follows the batches (accelerate's device)
        self.scorer.to(device)
        self.tokens = self.tokens.to(device)
        with torch.autocast(device.type, enabled=False):
            scores = self.scorer.item_scores(self.scorer.encode(inputs)[learned]).float()
        # Probabilities of the kept items only: the catalog's softmax is never materialised.
        logits = scores.div_(self.config.temperature)  # [M, n_items], in place: no new copy
        log_norm = logits.logsumexp(1, keepdim=True)
        gold = targets[learned]
        top_logits, items = logits.topk(min(self.config.top, logits.shape[1]), dim=1)
        kept = (top_logits - log_norm).exp()
        kept = kept.masked_fill(items == gold[:, None], 0.0)  # the target gets its own column
        items = torch.cat([items, gold[:, None]], dim=1)
        # Floored so that every level's mass is > 0, even when the target's underflows.
        target = (logits.gather(1, gold[:, None]) - log_norm).exp()
        kept = torch.cat([kept, target.clamp_min(torch.finfo(kept.dtype).tiny)], dim=1)
        tokens = self.tokens[items]  # [M, top + 1, L']
        # Level l: the kept items that share the target's first l tokens, by teacher mass.
        same_prefix = torch.ones_like(kept, dtype=torch.bool)
        levels = []
        for level in range(tokens.shape[2]):
            mass = kept * same_prefix
            levels.append(mass / mass.sum(1, keepdim=True))
            same_prefix &= tokens[:, :, level] == tokens[:, -1:, level]
        soft = torch.stack(levels, dim=1) * self.config.weight  # [M, L', top + 1]
        soft[:, :, -1] += 1.0 - self.config.weight  # the one-hot target
        return {**batch, "soft_tokens": tokens.transpose(1, 2), "soft_probs": soft}
