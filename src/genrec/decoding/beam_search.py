"""Trie-constrained beam search over semantic IDs, batched over users x beams.

One step per ID level, all users and beams at once as ``[B, W]`` tensors (``W`` beams): the
model's logits for the level's token range are turned into constrained log-probabilities
(softmax over the codes that can still reach a permitted item, see ``constraints``), added to
the beam scores, and the best ``W`` (beam, code) pairs of each user survive. Every surviving
beam is a prefix of a real, non-excluded item, so the final beams are ``W`` distinct items
(fewer only when fewer are left) and the top-``k`` list is full whenever it can be.

Why the list is full: after each step the live beams cover either every permitted item below
the previous beams (nothing was cut) or at least ``W >= k`` of them (each kept beam has one).
"""

from __future__ import annotations

import torch

from genrec.data.windows import PAD
from genrec.decoding.constraints import (
    Constraints,
    Scoring,
    check_logits,
    level_logprobs,
    start_decoding,
)
from genrec.models.step_model import StepModel, over_whole_vocabulary
from genrec.sid.semantic_ids import SemanticIds


@torch.no_grad()
def beam_search(
    model: StepModel,
    ids: SemanticIds,
    histories: torch.Tensor,
    beams: int,
    k: int,
    *,
    exclude: torch.Tensor | None = None,
    token_offset: int = 0,
    preferences: torch.Tensor | None = None,
    scoring: Scoring = "renormalized",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` items for each history by beam search constrained to real, permitted IDs.

    ``histories [B, L]`` (item indices, ``PAD``-left-padded) go to ``model.start`` once; the
    model then sees one token per row and level. ``exclude [B, E]`` (``PAD``-padded) is applied
    during the search: excluded items are never produced and subtrees whose every item is
    excluded are pruned at the level where that happens. ``token_offset`` is where the ID
    tokens start in the model's vocabulary (``SemanticIds.tokens(offset=...)``).
    ``preferences [B, S, D]`` (statement vectors, see ``StepModel.start``) go to the model.

    Scores (``scoring="renormalized"``): at each level the log-softmax runs over the ALLOWED
    codes only (valid in the trie and not fully excluded), so an item's score is the sum over
    its ID of these constrained log-probabilities and the scores of all permitted items sum (in
    probability) to one. ``scoring="raw"`` sums the model's unconstrained log-probabilities
    instead (the softmax over its whole vocabulary, masked afterwards), as peers that mask
    without renormalising do; the two can rank items differently. A model that computes only
    its ID tokens' logits decodes the view that carries the rest's normaliser
    (``step_model.over_whole_vocabulary``) then.

    Returns ``(items [B, k] int64, scores [B, k] float32)``, best first; equal scores go to the
    lower item index. Rows with fewer than ``k`` permitted items reachable end in ``PAD`` with
    score ``-inf``. Requires ``k <= beams`` (``ValueError`` otherwise).
    """
    if not 1 <= k <= beams:
        raise ValueError(f"need 1 <= k <= beams; got k={k}, beams={beams} (raise beams to >= k)")
    if scoring == "raw":
        model = over_whole_vocabulary(model)
    start = start_decoding(model, ids, histories, beams, exclude, token_offset, preferences)
    if start is None:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    state, logits, constraints, offsets, vocab_end = start
    n_users, n_levels, device = len(histories), ids.n_levels, logits.device
    # All beams of a user start identical, so only the first is expanded (the same as
    # starting the others at -inf, at 1/beams of the cost): [B, 1] beams at the first level.
    scores = torch.zeros(n_users, 1, device=device)
    prefixes = torch.zeros(n_users, 1, 0, dtype=torch.long, device=device)  # [B, live, level]
    keys = torch.zeros(n_users, 1, dtype=torch.long, device=device)  # prefixes' trie keys
    first_row = torch.arange(n_users, device=device)[:, None] * beams
    for level, size in enumerate(ids.codebook_sizes):
        check_logits(logits, n_users * beams, vocab_end)
        live = scores.shape[1]  # 1 at the first level, then beams
        rows = logits if live == beams else logits[::beams]  # [B * live, V]
        allowed = constraints.allowed(level, prefixes, keys)  # [B, live, K]
        logp = level_logprobs(rows, offsets[level], allowed.view(-1, size), scoring=scoring)
        candidates = (scores[:, :, None] + logp.view(n_users, live, size)).view(n_users, -1)
        if candidates.shape[1] < beams:  # fewer (beam, code) pairs than beams: dead fillers
            filler = candidates.new_full((n_users, beams - candidates.shape[1]), float("-inf"))
            candidates = torch.cat([candidates, filler], dim=1)
        scores, choice = ranked_topk(candidates, beams)  # [B, W] each
        parent, code = (choice // size).clamp(max=live - 1), choice % size
        kept = prefixes.gather(1, parent[:, :, None].expand(-1, -1, level))
        prefixes = torch.cat([kept, code[:, :, None]], dim=2)
        keys = constraints.extend(keys.gather(1, parent), level, code)
        if level + 1 < n_levels:  # the state is not needed after the last level
            state = model.reorder(state, (first_row + parent).view(-1))
            logits, state = model.step(state, (code + offsets[level]).view(-1))
    return _final_ranking(constraints, prefixes, scores, k)


def ranked_topk(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest of ``values [B, N]`` per row as ``(values [B, k], indices [B, k])``.

    Ordered by (value desc, index asc), exactly, for every finite value; which ``-inf`` entries
    fill a row that has fewer than ``k`` finite ones is unspecified (they are dead beams). A
    stable sort of all ``N`` candidates is exact but slow, and ``topk`` alone leaves ties in any
    order, so: take ``2k`` by ``topk``, order those exactly, and fully sort only the rows whose
    tie at the ``k``-th value may reach past them.
    """
    n = values.shape[1]
    if n <= 2 * k:
        top, index = torch.sort(values, dim=1, descending=True, stable=True)
        return top[:, :k], index[:, :k]
    top, index = torch.topk(values, 2 * k, dim=1)
    index, by_index = index.sort(dim=1)  # ascending index first, so the stable sort keeps it
    top, by_value = torch.sort(top.gather(1, by_index), dim=1, descending=True, stable=True)
    index = index.gather(1, by_value)
    spill = (top[:, -1] == top[:, k - 1]) & (top[:, k - 1] > float("-inf"))
    if spill.any():
        rows = spill.nonzero()[:, 0]
        full, order = torch.sort(values[rows], dim=1, descending=True, stable=True)
        top[rows, :k], index[rows, :k] = full[:, :k], order[:, :k]
    return top[:, :k], index[:, :k]


def _final_ranking(
    constraints: Constraints, prefixes: torch.Tensor, scores: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items of the final beams ``prefixes [B, W, L']`` ranked by (score desc, item asc);
    dead beams become ``PAD`` / ``-inf`` at the end of the row. -> ``[B, k]`` each."""
    items, ok = constraints.items(prefixes)
    live = ok & (scores > float("-inf"))
    scores = scores.masked_fill(~live, float("-inf"))
    by_item = items.masked_fill(~live, constraints.n_items).argsort(dim=1, stable=True)
    by_score = scores.gather(1, by_item).argsort(dim=1, descending=True, stable=True)
    order = by_item.gather(1, by_score)[:, :k]
    found = live.gather(1, order)
    return items.gather(1, order).masked_fill(~found, PAD), scores.gather(1, order)
