"""A decoder-only generator: a causal transformer over a history's flattened ID tokens.

The sequence is ``[BOS | item 1's L' tokens | item 2's | ...]``. Like SASRec, one forward pass
learns every next item of a training window: the position before each item boundary predicts
the next item's first token, and teacher forcing covers its remaining tokens; the loss is on
every token of items ``2 .. n + 1``. A learned per-level embedding is added to each input token
so the model knows which ID level it is emitting: the input at layout position ``p`` predicts a
token of level ``p mod L'`` (BOS at ``p = 0``, and padding always comes in whole items).

The backbone is ``transformers.LlamaForCausalLM`` built from a tiny config: the same shape as
a pretrained causal LLM (Llama, Qwen, ...) that can later replace it, with RoPE positions,
``DynamicCache`` decoding and a tied output head. Left padding sits between BOS and the first
real item and is masked out; positions count real tokens only, so padding changes nothing and
every query can attend to BOS (no all-masked attention rows, even for an all-PAD history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.cache_utils import DynamicCache

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.data.windows import next_item_windows
from genrec.decoding.step_model import beams_kept
from genrec.models.id_tokens import PAD_TOKEN, ItemTokens
from genrec.models.kv_cache import KV, from_cache, to_cache
from genrec.models.recommender import PAD, transitions, trim_padding
from genrec.sid.semantic_ids import SemanticIds

BOS_TOKEN = 1
N_SPECIAL = 2  # pad, bos


@configclass
class DecoderOnlyConfig:
    # About TIGER's small size (d 128, 4 layers): enough for Amazon 5-core, trains on a CPU.
    hidden: int = bounded(128, ge=1)
    layers: int = bounded(4, ge=1)
    heads: int = bounded(4, ge=1)
    ff_dim: int = bounded(512, ge=1)  # SwiGLU intermediate size (Llama's MLP)
    # Llama has no residual dropout: this drops input embeddings and attention weights, the
    # regularisation that sparse Amazon data needs.
    dropout: float = bounded(0.1, ge=0, lt=1)
    # The protocol's history length (REFERENCE.md §1): the 20 most recent items.
    max_history: int = bounded(20, ge=1)
    # Llama's default; sequences are short (<= 1 + 21 * L' tokens), so any base works.
    rope_theta: float = bounded(10000.0, gt=0)
    # Also add a learned vector per item (not per code) at each history item's last token, so
    # the model can memorise items next to the codes they share. Only where an item is fully
    # known (its last token predicts the NEXT item), so no ID token sees its own item's vector.
    # Items never trained on (cold start) keep their small random initial vector.
    item_embedding: bool = False

    def __post_init__(self) -> None:
        # RoPE rotates pairs of dimensions, so each head needs an even size.
        if self.hidden % (2 * self.heads):
            raise ValueError(
                f"hidden ({self.hidden}) must be divisible by 2 x heads ({2 * self.heads}): "
                "RoPE needs an even size per head"
            )


def decoder_only_examples(train: Sequences, max_history: int) -> dict[str, torch.Tensor]:
    """Training windows ``{"windows": [N, max_history + 1]}`` of item indices (left-padded
    with ``PAD``), from ``next_item_windows``: every transition is learned once per epoch.
    ``"lengths" [N]`` (real items per window) lets the training loop batch similar lengths."""
    windows = torch.from_numpy(next_item_windows(train, max_history))
    return {"windows": windows, "lengths": (windows != PAD).sum(1)}


@dataclass(frozen=True)
class DecoderOnlyState:
    """Decoding state of ``B`` users x ``W`` beams; immutable (``step`` and ``reorder`` return
    new states, so an old state stays valid).

    The beams of a user share one cache row: the history is cached once, and each step appends
    a block of ``W`` beam tokens to it; ``path`` records which token of every block is an
    ancestor of each beam, and a tree-shaped attention mask lets every beam see the history
    and its own ancestors only. So the cache is ``W`` times smaller than one row per beam, and
    ``reorder`` (beam selection) copies no keys or values at all.
    """

    kv: KV  # per layer (keys, values) [B, heads, T + s * W, d]: history, then s beam blocks
    mask: torch.Tensor  # [B, T] long, 1 = real history token
    next_position: torch.Tensor  # [B] RoPE position of the next token (real tokens so far)
    first: torch.Tensor  # [B * W, V] log-probabilities of the first ID token (the prefill's)
    path: torch.Tensor  # [B, W, s] slot of each beam's ancestor in each block fed so far
    widths: tuple[int, ...] = ()  # tokens per block fed so far (the beam count when fed)

    @property
    def beams(self) -> int:
        return self.path.shape[1]


class DecoderOnly(nn.Module):
    """Causal LM over semantic-ID tokens; implements ``genrec.decoding.StepModel``."""

    def __init__(self, ids: SemanticIds, config: DecoderOnlyConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DecoderOnlyConfig()
        self.ids = ids
        self.n_levels = ids.n_levels
        self.token_offset = N_SPECIAL
        self.vocab_size = N_SPECIAL + ids.vocab_size
        self.item_tokens = ItemTokens(ids, self.token_offset)
        llama_config = LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=c.hidden,
            intermediate_size=c.ff_dim,
            num_hidden_layers=c.layers,
            num_attention_heads=c.heads,
            num_key_value_heads=c.heads,
            max_position_embeddings=1 + (c.max_history + 1) * ids.n_levels,
            attention_dropout=c.dropout,
            rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta},
            tie_word_embeddings=True,  # small vocabulary: tying halves the embedding weights
            pad_token_id=PAD_TOKEN,
            bos_token_id=BOS_TOKEN,
            eos_token_id=None,  # IDs have a fixed length: nothing to stop
        )
        self.llm = LlamaForCausalLM(llama_config)
        self.level_emb = nn.Embedding(ids.n_levels, c.hidden)
        nn.init.normal_(self.level_emb.weight, std=llama_config.initializer_range)
        self.drop = nn.Dropout(c.dropout)
        # Row 0 is "no item": padding (item index PAD = -1, shifted by one).
        self.item_emb = (
            nn.Embedding(ids.n_items + 1, c.hidden, padding_idx=0) if c.item_embedding else None
        )
        if self.item_emb is not None:
            nn.init.normal_(self.item_emb.weight, std=llama_config.initializer_range)
            self.item_emb.weight.data[0].zero_()

    def _hidden(
        self,
        tokens: torch.Tensor,
        levels: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache | None = None,
        extra: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, DynamicCache | None]:
        """Tokens ``[N, t]`` with the ID level each one predicts (``levels``, broadcast to
        ``[N, t]``), an attention ``mask`` (2-D padding mask over cache + tokens, or a 4-D
        additive mask), RoPE ``positions [N, t]`` and optional input vectors ``extra [N, t, D]``
        added to the embeddings -> hidden ``[N, t, D]`` and the cache."""
        x = self.llm.model.embed_tokens(tokens) + self.level_emb(levels)
        if extra is not None:
            x = x + extra
        out = self.llm.model(
            inputs_embeds=self.drop(x),
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=cache is not None,
        )
        return out.last_hidden_state, out.cache

    def _forward(
        self, inputs: torch.Tensor, items: torch.Tensor, cache: DynamicCache | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, DynamicCache | None]:
        """A whole layout ``[N, T]`` from column 0 whose first ``n`` items are ``items
        [N, n]`` -> (hidden, real-token mask, cache)."""
        real = inputs != PAD_TOKEN
        levels = torch.arange(inputs.shape[1], device=inputs.device) % self.n_levels
        extra = self._item_vectors(items, inputs.shape[1])
        hidden, cache = self._hidden(inputs, levels, real.long(), _positions(real), cache, extra)
        return hidden, real, cache

    def _item_vectors(self, items: torch.Tensor, length: int) -> torch.Tensor | None:
        """``items [N, n]`` -> their vectors at their last tokens (layout columns ``L', 2L',
        .. nL'``) of an ``[N, length, D]`` input, zero elsewhere; None without item vectors."""
        if self.item_emb is None:
            return None
        rows = (items.to(self.item_emb.weight.device, torch.long) + 1).clamp(min=0)
        vectors = self.item_emb.weight.new_zeros(len(items), length, self.item_emb.embedding_dim)
        last = self.n_levels
        vectors[:, last : (items.shape[1] + 1) * last : last] = self.item_emb(rows)
        return vectors

    def _layout(
        self, histories: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[BOS | history tokens | extra tokens]`` ``[B, 1 + H * L' + t]`` for the last
        ``max_history`` items of ``histories [B, L]``, and those ``H`` items ``[B, H]``."""
        items = trim_padding(histories[:, -self.config.max_history :])
        tokens = self.item_tokens(items)
        bos = torch.full((len(tokens), 1), BOS_TOKEN, dtype=tokens.dtype, device=tokens.device)
        parts = [bos, tokens] if extra is None else [bos, tokens, extra.to(tokens.device)]
        return torch.cat(parts, dim=1), items

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss (``forward`` so that DDP wrappers synchronise its gradients)."""
        return self.loss(batch)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over every token of every real next item in ``batch["windows"]
        [B, n + 1]`` (items left-padded with ``PAD``; item ``j`` counts if item ``j - 1`` is
        real too).

        With ``soft_tokens`` and ``soft_probs`` ``[M, L', K]`` in the batch (one row per real
        next item, in window order: an ``ItemTeacher``'s), each token's target is that sparse
        distribution instead of the one-hot item token.
        """
        windows = trim_padding(batch["windows"])
        targets = self.item_tokens(windows)  # [B, (n + 1) * L']
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_TOKEN), targets[:, :-1]], 1)
        hidden, _, _ = self._forward(inputs, windows[:, :-1])
        windows = windows.to(targets.device)
        learned = transitions(windows)  # items 1 .. n
        learned = torch.cat([torch.zeros_like(learned[:, :1]), learned], dim=1)
        learned = learned.repeat_interleave(self.n_levels, dim=1)  # [B, (n + 1) * L']
        # Only positions with a target go through the output head.
        logits = self.llm.lm_head(hidden[learned])
        if "soft_tokens" not in batch:
            return F.cross_entropy(logits, targets[learned])
        tokens = batch["soft_tokens"].to(logits.device).flatten(0, 1)  # [M * L', K]
        if len(tokens) != len(logits):
            raise ValueError(
                f"soft targets for {len(tokens)} tokens, but the windows have {len(logits)} "
                "next-item tokens: they must come from the same windows"
            )
        log_probs = logits.float().log_softmax(-1).gather(1, tokens)
        return -(batch["soft_probs"].to(logits.device).flatten(0, 1) * log_probs).sum(1).mean()

    def log_probs(self, histories: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token log-probabilities in one pass (no cache).

        ``histories [B, L]``, ``tokens [B, t]`` ID tokens already emitted (``t < L'``, may be
        0) -> ``[B, t + 1, V]``: row ``j`` is the distribution of token ``j`` given the history
        and ``tokens[:, :j]`` (what ``step`` gives at step ``j``).
        """
        hidden, _, _ = self._forward(*self._layout(histories, tokens))
        logits = self.llm.lm_head(hidden[:, -tokens.shape[1] - 1 :])
        return logits.float().log_softmax(-1)

    def start(self, histories: torch.Tensor, beams: int) -> DecoderOnlyState:
        """Prefill ``[BOS | history tokens]`` for ``histories [B, L]`` once, for ``beams``
        beams per user (row ``b * beams + j`` of ``step``'s output is beam ``j`` of user
        ``b``). Call under ``model.eval()``."""
        inputs, items = self._layout(histories)
        hidden, real, cache = self._forward(inputs, items, DynamicCache())
        first = self.llm.lm_head(hidden[:, -1]).float().log_softmax(-1)
        return DecoderOnlyState(
            kv=from_cache(cache),
            mask=real.long(),
            next_position=real.sum(1),
            first=first.repeat_interleave(beams, dim=0),
            path=torch.zeros(len(inputs), beams, 0, dtype=torch.long, device=inputs.device),
        )

    def step(
        self, state: DecoderOnlyState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, DecoderOnlyState]:
        """Feed ``tokens [B * W]`` (``None`` first: the prefill's prediction is returned) ->
        next-token log-probabilities ``[B * W]`` x ``V`` (float32) and the new state. Only the
        new tokens are run (one block of ``W`` per user); earlier keys/values come from the
        cache."""
        if tokens is None:
            return state.first, state
        n_users, beams, fed = state.path.shape
        history = state.mask.shape[1]
        device = state.mask.device
        tokens = tokens.view(n_users, beams).to(device, torch.long)
        # Attention: the history's real tokens, each ancestor's slot in the earlier blocks,
        # and the beam itself (the diagonal of the new block).
        widths = (*state.widths, beams)
        seen = torch.zeros(n_users, beams, history + sum(widths), dtype=torch.bool, device=device)
        seen[:, :, :history] = state.mask.bool()[:, None, :]
        block_starts = history + torch.tensor([0, *widths[:-1]], device=device).cumsum(0)
        slots = torch.cat(
            [state.path, torch.arange(beams, device=device).expand(n_users, -1)[:, :, None]], dim=2
        )
        seen.scatter_(2, block_starts + slots, True)
        dtype = self.llm.dtype
        bias = torch.zeros(seen.shape, dtype=dtype, device=device)
        bias = bias.masked_fill(~seen, torch.finfo(dtype).min)[:, None]  # [B, 1, W, T + ...]
        # Every beam token sits at the same layout column: history + fed (same ID level).
        level = torch.tensor((history + fed) % self.n_levels, device=device)
        positions = state.next_position[:, None].expand(-1, beams)
        cache = to_cache(state.kv)  # around the state's tensors, which it never mutates
        hidden, cache = self._hidden(tokens, level, bias, positions, cache)
        logits = self.llm.lm_head(hidden).float().view(n_users * beams, -1)
        new = replace(
            state,
            kv=from_cache(cache),
            next_position=state.next_position + 1,
            path=slots,
            widths=widths,
        )
        return logits.log_softmax(-1), new

    def reorder(self, state: DecoderOnlyState, rows: torch.Tensor) -> DecoderOnlyState:
        """Keep beams ``rows [B * W']``; row ``b * W' + j`` must be one of user ``b``'s beams
        (beam selection): the users' shared cache stays as it is, only the lineage moves."""
        n_users, beams, fed = state.path.shape
        rows = rows.to(state.mask.device, torch.long)
        width = beams_kept(rows, n_users, beams, "DecoderOnly")
        path = state.path.reshape(n_users * beams, fed)[rows].reshape(n_users, width, fed)
        return replace(state, first=state.first.index_select(0, rows), path=path)


def _positions(real: torch.Tensor) -> torch.Tensor:
    """RoPE positions ``[N, T]``: the number of real tokens before each one (padding -> 0)."""
    return (real.long().cumsum(1) - 1).clamp(min=0)
