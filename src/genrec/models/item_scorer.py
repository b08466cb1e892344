"""What SASRec, BERT4Rec and HSTU share: an item table whose rows are both the input embeddings
and the output scorers, the encoder around their layers, the next-item loss and the Recommender
adapter. The three differ in their layers (a subclass builds ``blocks``), whether attention is
causal, and BERT4Rec's Cloze objective (it overrides ``loss`` and ``final_state``).

Item ``i`` is token ``i + 1``; token 0 is padding and any special token (BERT4Rec's mask) comes
after the items, so it is embedded but never scored. The defaults of ``loss`` and
``final_state`` are those of a causal model: every position predicts the next item, the last
one scores the recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genrec.models.layers import attention_mask
from genrec.models.recommender import PAD, Capabilities, topk_excluding, transitions, trim_padding

if TYPE_CHECKING:
    from genrec.prefs.preference import PreferenceInput

#: "ce": softmax over the whole catalog; "sampled": softmax over the target and ``negatives``
#: items drawn uniformly for each position (eSASRec's objective with 256; also for catalogs too
#: large to score at every step).
Objective = Literal["ce", "sampled"]
#: Rows encoded together when scoring: enough for fast matrix products, few enough that
#: sorting by length leaves little padding in each chunk.
SCORE_CHUNK = 256


class ItemScorer(nn.Module):
    """A sequence model scoring the whole catalog by dot products with its item table;
    implements ``Recommender``.

    Histories hold up to ``max_len`` items; sequences up to ``positions`` (default ``max_len``)
    get learned absolute positions counted from the right, so left padding changes nothing.
    ``extra_tokens`` special tokens follow the items. A subclass sets ``blocks``, layers called
    as ``block(x [B, L, D], allowed [B, 1, L, L]) -> [B, L, D]``, then calls ``init_items``.
    """

    blocks: nn.ModuleList

    def __init__(
        self,
        n_items: int,
        max_len: int,
        dim: int,
        dropout: float,
        objective: Objective,
        negatives: int,
        *,
        causal: bool = True,
        positions: int | None = None,
        extra_tokens: int = 0,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.max_len = max_len
        self.causal = causal
        self.objective = objective
        self.negatives = negatives
        self.item_emb = nn.Embedding(n_items + 1 + extra_tokens, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(positions or max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def init_items(self) -> None:
        """Scale the item table for dot-product scores (std ``dim**-0.5``, padding zero).
        Called last in a subclass's ``__init__``, the order SASRec always had, so a seed still
        gives the SASRec weights it gave before the models shared this class."""
        nn.init.normal_(self.item_emb.weight, std=self.item_emb.embedding_dim**-0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    @staticmethod
    def tokens(items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Item indices ``[B, L]`` (``PAD`` = -1) -> ``(tokens [B, L], is_item [B, L])``."""
        is_item = items != PAD
        return torch.where(is_item, items + 1, 0), is_item

    def item_scores(self, states: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` -> scores over the catalog ``[N, n_items]`` (special tokens excluded)."""
        return states @ self.item_emb.weight[1 : self.n_items + 1].T

    def item_loss(
        self, states: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Mean softmax loss of ``states [N, D]`` predicting item ``targets [N]``.

        "sampled" draws ``negatives`` items uniformly and independently for every row, as
        eSASRec (RecTools' sampler) does: one set shared by the whole batch would push only
        those few items down per step. Uniform draws need no log-Q correction (it is the same
        for every item); a draw equal to the row's target (an accidental hit, ~negatives /
        n_items of rows) is masked out rather than scored as its own negative."""
        if self.objective == "ce":
            return F.cross_entropy(self.item_scores(states), targets)
        negatives = torch.randint(
            self.n_items, (len(targets), self.negatives), generator=generator, device="cpu"
        ).to(states.device)
        pos = (states * self.item_emb(targets + 1)).sum(-1, keepdim=True)
        if self.negatives * states.shape[1] >= self.n_items:
            # Scoring every item and picking is cheaper than gathering [N, negatives, D] rows.
            neg = self.item_scores(states).gather(1, negatives)
        else:
            neg = torch.einsum("nd,nkd->nk", states, self.item_emb(negatives + 1))
        neg = neg.masked_fill(negatives == targets[:, None], float("-inf"))
        logits = torch.cat([pos, neg], dim=1)
        return F.cross_entropy(logits, torch.zeros_like(targets))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss of ``batch["windows"]`` (``forward`` so DDP synchronises gradients)."""
        return self.loss(batch["windows"])

    def encode(self, items: torch.Tensor) -> torch.Tensor:
        """Left-padded item or special-token indices ``[B, L]`` (``PAD`` = -1, ``L`` at most
        the number of positions) -> states ``[B, L, D]``."""
        tokens, is_item = self.tokens(items)
        n = self.pos_emb.num_embeddings
        positions = torch.arange(n - items.shape[1], n, device=items.device)
        x = self.item_emb(tokens) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(positions)
        x = self.drop(x) * is_item.unsqueeze(-1)
        allowed = attention_mask(is_item, causal=self.causal)
        for block in self.blocks:
            x = block(x, allowed) * is_item.unsqueeze(-1)
        return self.norm(x)

    def loss(self, windows: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean next-item loss over every real transition in ``windows [B, max_len + 1]``.

        Columns that are padding in every row are dropped first (positions count from the
        right, so nothing else changes): with length-bucketed batches (``train.bucket_by_length``,
        the windows' ``lengths``) most of a long window's padding is never computed."""
        windows = trim_padding(windows)
        inputs, targets = windows[:, :-1], windows[:, 1:]
        valid = transitions(windows)
        states = self.encode(inputs)[valid]  # only positions with a target: fewer logits to build
        return self.item_loss(states, targets[valid], generator)

    def final_state(self, histories: torch.Tensor) -> torch.Tensor:
        """Left-padded histories ``[B, L <= max_len]`` -> the state scoring their next item
        ``[B, D]``."""
        return self.encode(histories)[:, -1]

    @torch.inference_mode()
    def score(self, histories: torch.Tensor) -> torch.Tensor:
        """Full-catalog scores for the next item ``[B, n_items]``.

        Rows are encoded in chunks of similar history length, each trimmed of its all-padding
        columns: on Amazon data most histories are short, so a batch padded to the longest
        would spend most of its work on padding. Each row's scores stay what they were."""
        histories = histories[:, -self.max_len :].to(self.item_emb.weight.device)
        if len(histories) <= SCORE_CHUNK:  # one chunk: no reordering, no copy into place
            return self.trimmed_scores(histories)
        scores = torch.empty(len(histories), self.n_items, device=histories.device)
        order = (histories != PAD).sum(1).argsort()
        for rows in order.split(SCORE_CHUNK):
            scores[rows] = self.trimmed_scores(histories[rows])
        return scores

    def trimmed_scores(self, histories: torch.Tensor) -> torch.Tensor:
        """``score`` of ``histories`` encoded without their all-padding columns."""
        chunk = trim_padding(histories)
        if chunk.shape[1] == 0:  # only empty histories: their one (padding) column
            chunk = histories[:, -1:]
        return self.item_scores(self.final_state(chunk)).float()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(modules=(self,))

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` items by full-catalog score (``preferences`` are not used)."""
        was_training = self.training
        self.eval()
        try:
            scores = self.score(histories).cpu()
        finally:
            self.train(was_training)
        return topk_excluding(scores, k, exclude)
