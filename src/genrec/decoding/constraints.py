"""What a decoder may emit next: valid ID continuations minus subtrees the user excluded.

Beam search and sampling both grow ``R`` code prefixes per user, one ID level per step. Code
``c`` may extend a prefix when (1) the prefix trie says ``prefix + c`` starts some item's ID and
(2) at least one item under ``prefix + c`` is not in the user's ``exclude`` row. Rule (2) prunes a
subtree at the level where it becomes fully excluded, so no beam (or sample) is spent on it and
an excluded item can never be produced.

Exclusion without per-user loops. For every excluded item (``[B, E]``) and every level ``l`` take
its prefix of length ``l + 1`` as a mixed-radix key (the trie's order: ``key' = key * K_l + c``).
Sorting each user's keys and two batched ``searchsorted`` give, per (user, excluded item), how
many of the user's excluded items share that prefix; ``PrefixTrie.count_items`` gives how many
items the catalog has under it. Where the two are equal the whole subtree is excluded: the pair
(parent key, code) is *dead* for that user at level ``l``. At decode time a ``[B, R, E_l]``
comparison of each row's parent key with the user's dead parents finds the dead (row, code)
pairs, which are cleared from the trie's mask in one scatter. Tables are built once per batch
(``O(B E L log E)``); a step costs ``O(B R E_l)`` on top of the trie query, where ``E_l`` is
the largest number of dead prefixes any user has at that level (usually ``E`` at the last level
and far less above).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch

from genrec.data.windows import PAD
from genrec.models.step_model import DecodeState, StepModel
from genrec.sid.semantic_ids import SemanticIds

#: Log-probability given to an allowed code the model itself scores -inf (or NaN): the row stays
#: a live candidate ranked below every real score, so "no probability" never reads as "no item".
LOGP_FLOOR = -1e30


class Constraints:
    """Per-batch decoding constraints for ``B`` users with ``R`` rows (beams or samples) each.

    ``exclude [B, E]`` holds item indices padded with ``PAD``; repeats are harmless. Tensors
    live on ``device`` (the logits' device); trie queries run where the trie lives (CPU).
    """

    def __init__(
        self,
        ids: SemanticIds,
        n_users: int,
        exclude: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.trie = ids.trie
        self.sizes = ids.codebook_sizes
        self.n_items = ids.n_items
        self.device = torch.device(device)
        self._exclude: torch.Tensor | None = None  # [B, E] sorted, for the final membership test
        self._dead: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.sizes)
        if exclude is None or exclude.numel() == 0:
            return
        exclude = check_exclude(exclude, n_users, self.n_items).cpu()
        if not (exclude != PAD).any():
            return
        ordered = exclude.sort(dim=1).values
        self._exclude = ordered.to(self.device)
        unique = ordered.clone()
        unique[:, 1:][ordered[:, 1:] == ordered[:, :-1]] = PAD  # count each excluded item once
        self._dead = [
            None if dead is None else (dead[0].to(self.device), dead[1].to(self.device))
            for dead in _dead_prefixes(ids, unique)
        ]

    def allowed(self, level: int, prefixes: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Codes that may extend each row: ``prefixes [B, R, level]`` with their mixed-radix
        ``keys [B, R]`` (see ``extend``) -> bool ``[B, R, K_level]``."""
        n_users, rows = keys.shape
        size = self.sizes[level]
        if level == 0:  # every row has the empty prefix: ask once
            first = self.trie.allowed(torch.zeros(1, 0, dtype=torch.long))
            mask = first.to(self.device).expand(n_users * rows, size).clone()
        else:
            query = prefixes.reshape(n_users * rows, level).to(self.trie.device)
            mask = self.trie.allowed(query).to(self.device)
        mask = mask.view(n_users, rows, size)
        dead = self._dead[level]
        if dead is not None:
            parents, codes = dead  # [B, E_l] each; parent -1 marks padding
            user, row, slot = (keys[:, :, None] == parents[:, None, :]).nonzero(as_tuple=True)
            mask[user, row, codes[user, slot]] = False
        return mask

    def extend(self, keys: torch.Tensor, level: int, codes: torch.Tensor) -> torch.Tensor:
        """Keys ``[B, R]`` of the prefixes extended by ``codes [B, R]`` at ``level``."""
        return keys * self.sizes[level] + codes

    def items(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Item of each full ID ``codes [B, R, L']`` -> ``(items [B, R], ok [B, R])``.

        ``ok`` is False where no item has the ID or where the item is excluded. The second can
        only happen for IDs shared by several items (built without dedup): the ID stands for
        its lowest-index item, which may be excluded while another holder of the ID is not.
        """
        n_users, rows, depth = codes.shape
        found = self.trie.lookup(codes.reshape(-1, depth).to(self.trie.device))
        items = found.to(self.device).view(n_users, rows)
        ok = items >= 0
        if self._exclude is not None:
            at = torch.searchsorted(self._exclude, items).clamp(max=self._exclude.shape[1] - 1)
            ok &= self._exclude.gather(1, at) != items
        return items, ok


class DecodingStart(NamedTuple):
    """What ``start_decoding`` hands a decoder: the model's state and first logits, the batch's
    constraints, each level's first token and the end of the ID tokens in the vocabulary."""

    state: DecodeState
    logits: torch.Tensor  # [B * rows, V]
    constraints: Constraints
    offsets: list[int]
    vocab_end: int


def start_decoding(
    model: StepModel,
    ids: SemanticIds,
    histories: torch.Tensor,
    rows: int,
    exclude: torch.Tensor | None,
    token_offset: int,
    preferences: torch.Tensor | None = None,
) -> DecodingStart | None:
    """The set-up beam search and sampling share: check the batch, start the model with ``rows``
    rows (beams or samples) per history, take its first step and build the constraints on the
    logits' device (decode where the model works; the trie answers on its own device).

    None for an empty batch (after the checks; the model is not called). ``preferences [B, S,
    D]`` (statement vectors) go to ``model.start`` only when given.
    """
    check_batch(histories, exclude, ids.n_items)
    if len(histories) == 0:
        return None
    if preferences is None:
        state = model.start(histories, rows)
    else:
        state = model.start(histories, rows, preferences=preferences)
    logits, state = model.step(state, None)
    constraints = Constraints(ids, len(histories), exclude, logits.device)
    offsets = ids.level_offsets(token_offset).tolist()
    return DecodingStart(state, logits, constraints, offsets, token_offset + ids.vocab_size)


#: How beam search scores a level (``decode.scoring``): ``renormalized``, a softmax over the
#: codes the trie allows; ``raw``, the model's log-softmax over its whole vocabulary with the
#: other tokens masked (what ``generate(prefix_allowed_tokens_fn=...)`` scores).
Scoring = Literal["renormalized", "raw"]


def level_logprobs(
    logits: torch.Tensor,
    start: int,
    allowed: torch.Tensor,
    temperature: float = 1.0,
    scoring: Scoring = "renormalized",
) -> torch.Tensor:
    """Constrained log-probabilities of one ID level: ``[N, V]`` logits, the level's first
    token ``start`` and ``allowed [N, K]`` -> float32 ``[N, K]``.

    ``renormalized``: the softmax runs over the allowed codes only (``logits / temperature``),
    so each row is a distribution over the continuations that can still reach a permitted
    item. ``raw``: the log-softmax runs over the whole row, so the mass the model puts on codes
    it may not produce (or on other tokens) is lost, as when masking after the softmax.
    Disallowed codes get -inf, and a row with nothing allowed is all -inf (a dead row).
    """
    rows, size = allowed.shape
    check_logits(logits, rows, start + size)
    scores = logits.float() if scoring == "raw" else logits[:, start : start + size].float()
    if temperature != 1.0:
        scores = scores / temperature
    # Out of place: a fresh tensor the in-place steps below may overwrite.
    scores = scores.nan_to_num(nan=LOGP_FLOOR, neginf=LOGP_FLOOR)
    if scoring == "raw":
        scores = scores.log_softmax(dim=-1)[:, start : start + size]
    logp = scores.masked_fill_(~allowed, float("-inf"))
    if scoring == "renormalized":
        logp = logp.log_softmax(dim=-1)
    # Rows with nothing allowed (all -inf: log_softmax gave NaN). A uint8 view of the mask
    # reduces ~40x faster than bool.any on CPU.
    dead = allowed.contiguous().view(torch.uint8).amax(dim=1) == 0
    if dead.any():
        logp[dead] = float("-inf")
    return logp


def check_logits(logits: torch.Tensor, rows: int, vocab_end: int) -> None:
    """The model's step output must be ``[rows, V]`` with all ID tokens, ``V >= vocab_end``."""
    if logits.ndim != 2 or logits.shape[0] != rows or logits.shape[1] < vocab_end:
        raise ValueError(
            f"the model's step returned logits of shape {tuple(logits.shape)}; expected "
            f"[{rows}, V] with V >= {vocab_end} (token offset + all ID tokens)"
        )


def check_batch(histories: torch.Tensor, exclude: torch.Tensor | None, n_items: int) -> None:
    """Validate ``histories [B, L]`` and ``exclude [B, E]`` at the decoding boundary."""
    if histories.ndim != 2 or histories.dtype.is_floating_point:
        raise ValueError(
            f"histories must be an integer tensor [B, L]; got {histories.dtype} "
            f"{tuple(histories.shape)}"
        )
    if exclude is not None:
        check_exclude(exclude, len(histories), n_items)


def check_exclude(exclude: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """``exclude`` as int64 ``[B, E]`` after checking its shape, rows and values."""
    if exclude.ndim != 2 or exclude.shape[0] != n_users or exclude.dtype.is_floating_point:
        raise ValueError(
            f"exclude must be an integer tensor [B, E] with one row per history ({n_users} "
            f"rows); got {exclude.dtype} {tuple(exclude.shape)}"
        )
    exclude = exclude.long()
    bad = (exclude != PAD) & ((exclude < 0) | (exclude >= n_items))
    if bad.any():
        raise ValueError(
            f"exclude holds {int(exclude[bad][0])}, not an item index in [0, {n_items}) "
            f"nor PAD ({PAD})"
        )
    return exclude


def _dead_prefixes(
    ids: SemanticIds, exclude: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Per level ``l``: (parent keys, codes) ``[B, E_l]`` of each user's fully excluded
    prefixes of length ``l + 1`` (parent -1 pads), or None when no user has one there.

    ``exclude [B, E]`` lists each item at most once per row (``PAD`` elsewhere).
    """
    valid = exclude != PAD
    index = exclude.clamp(min=0).numpy()
    codes = torch.from_numpy(np.ascontiguousarray(ids.codes[index]))  # [B, E, L']
    keys = torch.zeros(exclude.shape, dtype=torch.long)
    out: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    for level, size in enumerate(ids.codebook_sizes):  # levels, not users or beams
        parents, keys = keys, keys * size + codes[:, :, level]
        in_catalog = ids.trie.count_items(codes[:, :, : level + 1].reshape(-1, level + 1))
        own = keys.masked_fill(~valid, -1)  # valid keys are >= 0
        ordered = own.sort(dim=1).values
        excluded = torch.searchsorted(ordered, own, right=True) - torch.searchsorted(ordered, own)
        dead = valid & (excluded == in_catalog.view(exclude.shape))
        width = int(dead.sum(dim=1).max())
        if width == 0:
            out.append(None)
            continue
        first = torch.argsort((~dead).to(torch.uint8), dim=1, stable=True)[:, :width]
        dead_parents = parents.masked_fill(~dead, -1).gather(1, first)
        out.append((dead_parents, codes[:, :, level].gather(1, first)))
    return out
