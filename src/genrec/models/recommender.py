"""The one contract every model implements: the harness, CLI and HTTP service call only this.

Histories travel as a LongTensor ``[B, L]`` of item indices, left-padded with ``PAD`` (-1) so
the most recent item is always in the last column. ``exclude`` uses the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from genrec.data.windows import PAD

if TYPE_CHECKING:
    from genrec.prefs.preference import PreferenceInput


Mode = Literal["direct", "reasoning"]


@dataclass(frozen=True)
class Capabilities:
    """What a recommender can do: the CLI and the service read this, never its class."""

    # Whether a request's positive preferences change the list (a model trained to follow
    # statements); others accept and ignore them.
    reads_preferences: bool = False
    # "reasoning": it writes a chain before every answer and also offers ``reason``
    # (``Reasons``); its plain ``recommend`` reasons too.
    mode: Mode = "direct"
    # A generator's beam width (it searches max(beams, k) beams); None for a model that scores
    # every item, whose top-k is a prefix of its top-K.
    beams: int | None = None
    # The torch modules behind it (moved to a device together); none for popularity.
    modules: tuple[nn.Module, ...] = ()


@runtime_checkable
class Recommender(Protocol):
    """Anything that turns histories into a ranked list of items.

    ``recommend`` returns ``(items [B, k], scores [B, k])``, best first; scores are
    comparable within a row only. Ties are broken by the lower item index so results are
    deterministic. Items in ``exclude`` (``[B, E]``, ``PAD``-padded) never appear; a row
    that has fewer than ``k`` items left after exclusion ends in ``PAD`` (score ``-inf``).
    ``k`` larger than ``n_items`` raises ``ValueError``.
    ``preferences`` (one entry per user: a statement or a list of them, each a
    ``genrec.prefs.preference.Preference`` or bare text, see ``as_preferences``) is accepted
    by every model; models that cannot use it ignore it (``capabilities`` says which).
    """

    n_items: int

    @property
    def capabilities(self) -> Capabilities: ...

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class Reasoned(NamedTuple):
    """What a model that reasons before answering returns: the Recommender's ``items [B, k]``
    and ``scores [B, k]``, the chain of text behind each row's list, as written, and whether
    each chain used up its token budget before the answer (cut off, so it may end mid-thought
    or be blank)."""

    items: torch.Tensor
    scores: torch.Tensor
    chains: list[str]
    truncated: list[bool]


@runtime_checkable
class Reasons(Protocol):
    """Optional, beside ``Recommender``: a model that writes a chain of reasoning before its
    answer returns it with the lists (the CLI prints it). Other models need nothing new."""

    def reason(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> Reasoned: ...


def pad_histories(
    histories: Sequence[Sequence[int] | np.ndarray], max_len: int | None = None
) -> torch.Tensor:
    """Left-pad variable-length histories into ``[B, L]`` (keeping the most recent items)."""
    if max_len is None:
        max_len = max((len(h) for h in histories), default=0)
    out = torch.full((len(histories), max(1, max_len)), PAD, dtype=torch.long)
    for row, history in enumerate(histories):
        tail = list(history)[-max_len:] if max_len else []
        if tail:
            out[row, -len(tail) :] = torch.as_tensor(tail, dtype=torch.long)
    return out


def topk_excluding(
    scores: torch.Tensor, k: int, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of full-catalog ``scores [B, n_items]`` with ``exclude`` masked out.

    Ties go to the lower item index: candidates are ordered by (score desc, index asc).
    Excluded items rank after every allowed one and come back as ``PAD`` (score ``-inf``),
    so they appear only where fewer than ``k`` items are left, at the end of the row.
    """
    n_items = scores.shape[1]
    if not 1 <= k <= n_items:
        raise ValueError(f"k={k} must be between 1 and the catalog size ({n_items} items)")
    scores = scores.float()
    if exclude is None or not exclude.numel():
        order = _ranked_topk(scores, k)
        return order, scores.gather(1, order)
    exclude = exclude.to(scores.device, torch.long)
    # Scatter -inf into a copy; one spare column soaks up the PAD entries.
    spare = torch.cat([scores, scores.new_zeros(len(scores), 1)], dim=1)
    scores = spare.scatter_(1, exclude.masked_fill(exclude == PAD, n_items), float("-inf"))
    scores = scores[:, :n_items]
    order = _ranked_topk(scores, k)
    # Membership of each top-k item in its row of `exclude` by binary search: [B, k].
    ordered = exclude.sort(dim=1).values
    at = torch.searchsorted(ordered, order).clamp(max=ordered.shape[1] - 1)
    hit = ordered.gather(1, at) == order
    if hit.any():
        # Rare (fewer than k allowed items): rank those rows in full, banned items last.
        rows = hit.any(dim=1).nonzero()[:, 0]
        banned = torch.zeros_like(spare[rows], dtype=torch.bool)
        banned = banned.scatter_(1, exclude[rows].masked_fill(exclude[rows] == PAD, n_items), True)
        full = torch.sort(scores[rows], dim=1, descending=True, stable=True).indices
        last = torch.sort(banned.gather(1, full).to(torch.uint8), dim=1, stable=True).indices
        order[rows] = full.gather(1, last)[:, :k]
        hit[rows] = banned.gather(1, order[rows])
    return order.masked_fill(hit, PAD), scores.gather(1, order)


def _ranked_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, k]`` of the best scores, ordered by (score desc, index asc).

    A full stable sort is exact but ~20x slower than ``topk`` on a large catalog, and
    ``topk`` leaves ties in any order. So: take ``2k`` candidates, order them exactly, and
    fall back to the full sort only for rows whose tie at the k-th score may reach past them.
    """
    n_items = scores.shape[1]
    width = min(n_items, 2 * k)
    values, cand = torch.topk(scores, width, dim=1)
    cand, by_index = cand.sort(dim=1)  # ascending index, so the stable sort breaks ties by it
    values, by_score = torch.sort(values.gather(1, by_index), dim=1, descending=True, stable=True)
    order = cand.gather(1, by_score)[:, :k].contiguous()
    if width < n_items:
        spill = ~(values[:, -1] < values[:, k - 1])  # also true for NaN rows
        if spill.any():
            rows = spill.nonzero()[:, 0]
            full = torch.sort(scores[rows], dim=1, descending=True, stable=True).indices
            order[rows] = full[:, :k]
    return order


def trim_padding(items: torch.Tensor) -> torch.Tensor:
    """Drop the leading columns of left-padded ``items [B, L]`` that are ``PAD`` in every row.

    For models whose positions count real tokens only (or are relative), this changes no
    prediction and saves the work on columns that are padding everywhere.
    """
    real = (items != PAD).any(0)
    first = int(real.int().argmax()) if bool(real.any()) else items.shape[1]
    return items[:, first:]


def transitions(windows: torch.Tensor) -> torch.Tensor:
    """Which positions of training ``windows [B, n + 1]`` (left-padded with ``PAD``) are real
    transitions: ``[B, n]``, True where item ``j`` and the next item ``j + 1`` are both real.
    The one definition the models and a distillation teacher share, so their rows line up."""
    return (windows[:, :-1] != PAD) & (windows[:, 1:] != PAD)
