"""BERT4Rec (Sun et al., 2019): a bidirectional transformer trained by Cloze.

Training hides a random share (``mask_prob``) of the items of each window behind a mask token
and predicts them from both sides; inference appends the mask token after the history, so the
last position is the one to fill, and scores the whole catalog there. The layers, the tied item
table, the loss and the Recommender adapter are SASRec's (``layers``, ``ItemScorer``); only the
attention (bidirectional) and the objective differ.
"""

from __future__ import annotations

import torch
from torch import nn

from genrec.config import bounded, configclass
from genrec.models.item_scorer import ItemScorer, Objective
from genrec.models.layers import TransformerBlock
from genrec.models.recommender import PAD, trim_padding


@configclass
class BERT4RecConfig:
    # The paper's Amazon Beauty model: 64-d, 2 blocks of 2 heads (FeiSun/BERT4Rec, dim=64).
    hidden: int = bounded(64, ge=1)
    layers: int = bounded(2, ge=1)
    heads: int = bounded(2, ge=1)
    ff_dim: int = bounded(256, ge=1)
    dropout: float = bounded(0.2, ge=0, lt=1)
    # Share of a window's items hidden for Cloze training. 0.2 is RecBole's default for Amazon
    # data; the original Beauty script used 0.6 (with 10 re-masked copies of each sequence).
    mask_prob: float = bounded(0.2, gt=0, le=1)
    # "ce": full softmax over all items; "sampled": the target against `negatives` uniform items.
    loss: Objective = "ce"
    negatives: int = bounded(256, ge=1)

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")


class BERT4Rec(ItemScorer):
    """Bidirectional masked-item recommender over item indices; implements ``Recommender``.

    Sequences are ``max_len + 1`` long: training windows hold ``max_len + 1`` items, and a
    history of up to ``max_len`` items is followed by the mask at inference. The mask is item
    index ``n_items`` (token ``n_items + 1``): embedded, never scored.
    """

    def __init__(self, n_items: int, max_len: int, config: BERT4RecConfig | None = None) -> None:
        config = config or BERT4RecConfig()
        super().__init__(
            n_items,
            max_len,
            config.hidden,
            config.dropout,
            config.loss,
            config.negatives,
            causal=False,
            positions=max_len + 1,
            extra_tokens=1,
        )
        self.config = config
        self.mask = n_items
        self.blocks = nn.ModuleList(
            TransformerBlock(config.hidden, config.heads, config.ff_dim, config.dropout)
            for _ in range(config.layers)
        )
        self.init_items()

    def loss(self, windows: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean Cloze loss of ``windows [B, max_len + 1]``: each hidden item predicted at its
        position. ``generator`` draws the masks (and sampled negatives). Columns of padding
        in every row are dropped first, as in ``ItemScorer.loss``."""
        windows = trim_padding(windows)
        masked = cloze_mask(windows != PAD, self.config.mask_prob, generator)
        states = self.encode(windows.masked_fill(masked, self.mask))[masked]
        return self.item_loss(states, windows[masked], generator)

    def cloze_inputs(self, histories: torch.Tensor) -> torch.Tensor:
        """Histories ``[B, L]`` with the mask appended: ``[B, L + 1]``, the next item's slot."""
        return torch.cat([histories, torch.full_like(histories[:, :1], self.mask)], dim=1)

    def final_state(self, histories: torch.Tensor) -> torch.Tensor:
        """The state at the mask appended after ``histories [B, L <= max_len]``: ``[B, D]``."""
        return self.encode(self.cloze_inputs(histories))[:, -1]


def cloze_mask(
    is_item: torch.Tensor, prob: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Which positions of ``[B, L]`` to hide: each real item with probability ``prob``, never
    padding. A row left without any gets its last real item hidden (the inference task), so no
    window is wasted; left-padded rows end in a real item whenever they have one."""
    draws = torch.rand(is_item.shape, generator=generator, device="cpu").to(is_item.device)
    masked = (draws < prob) & is_item
    masked[:, -1] |= ~masked.any(1) & is_item[:, -1]
    return masked
