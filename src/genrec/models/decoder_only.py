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
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.cache_utils import DynamicCache

from genrec.data.dataset import Sequences
from genrec.data.windows import next_item_windows
from genrec.models.id_tokens import PAD_TOKEN, ItemTokens
from genrec.models.recommender import PAD
from genrec.sid.semantic_ids import SemanticIds

BOS_TOKEN = 1
N_SPECIAL = 2  # pad, bos

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer (keys, values) [N, heads, t, d]


@dataclass(frozen=True)
class DecoderOnlyConfig:
    # About TIGER's small size (d 128, 4 layers): enough for Amazon 5-core, trains on a CPU.
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    ff_dim: int = 512  # SwiGLU intermediate size (Llama's MLP)
    # Llama has no residual dropout: this drops input embeddings and attention weights, the
    # regularisation that sparse Amazon data needs.
    dropout: float = 0.1
    # The protocol's history length (REFERENCE.md §1): the 20 most recent items.
    max_history: int = 20
    # Llama's default; sequences are short (<= 1 + 21 * L' tokens), so any base works.
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        sizes = ("hidden", "layers", "heads", "ff_dim")
        bad = [f"{n} = {getattr(self, n)} (must be >= 1)" for n in sizes if getattr(self, n) < 1]
        if self.heads >= 1 and self.hidden % self.heads:
            bad.append(f"hidden = {self.hidden} (must be divisible by heads = {self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            bad.append(f"dropout = {self.dropout} (must be in [0, 1))")
        if self.max_history < 1:
            bad.append(f"max_history = {self.max_history} (must be >= 1)")
        if bad:
            raise ValueError(
                "invalid DecoderOnlyConfig: decoder_only." + "; decoder_only.".join(bad)
            )


def decoder_only_examples(train: Sequences, max_history: int) -> dict[str, torch.Tensor]:
    """Training windows ``{"windows": [N, max_history + 1]}`` of item indices (left-padded
    with ``PAD``), from ``next_item_windows``: every transition is learned once per epoch."""
    return {"windows": torch.from_numpy(next_item_windows(train, max_history))}


@dataclass(frozen=True)
class DecoderOnlyState:
    """Decoding state for ``N = B * beams`` rows; immutable (``step`` and ``reorder`` return
    new states, so an old state stays valid)."""

    kv: KV  # self-attention keys/values of every token fed so far
    mask: torch.Tensor  # [N, T] long, 1 = real token, T = tokens fed so far (with padding)
    next_position: torch.Tensor  # [N] RoPE position of the next token (real tokens so far)
    first: torch.Tensor  # [N, V] log-probabilities of the first ID token (from the prefill)


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

    def _hidden(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache | None = None,
    ) -> tuple[torch.Tensor, DynamicCache | None]:
        """Tokens ``[N, t]`` at layout columns ``T - t .. T - 1`` of ``mask [N, T]`` (the
        cache holds the first ``T - t``), RoPE ``positions [N, t]`` -> hidden ``[N, t, D]``."""
        first = mask.shape[1] - tokens.shape[1]
        levels = torch.arange(first, mask.shape[1], device=tokens.device) % self.n_levels
        x = self.llm.model.embed_tokens(tokens) + self.level_emb(levels)
        out = self.llm.model(
            inputs_embeds=self.drop(x),
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=cache is not None,
        )
        return out.last_hidden_state, out.past_key_values

    def _layout(self, histories: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``[BOS | history tokens | extra tokens]`` ``[B, 1 + H * L' + t]`` for the last
        ``max_history`` items of ``histories [B, L]``."""
        tokens = self.item_tokens(histories[:, -self.config.max_history :])
        bos = torch.full_like(tokens[:, :1], BOS_TOKEN)
        parts = [bos, tokens] if extra is None else [bos, tokens, extra.to(tokens.device)]
        return torch.cat(parts, dim=1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss (``forward`` so that DDP wrappers synchronise its gradients)."""
        return self.loss(batch)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over every token of every real next item in ``batch["windows"]
        [B, n + 1]`` (items left-padded with ``PAD``; item ``j`` counts if item ``j - 1`` is
        real too)."""
        windows = batch["windows"]
        targets = self.item_tokens(windows)  # [B, (n + 1) * L']
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_TOKEN), targets[:, :-1]], 1)
        real = inputs != PAD_TOKEN
        hidden, _ = self._hidden(inputs, real.long(), _positions(real))
        windows = windows.to(targets.device)
        learned = (windows[:, :-1] != PAD) & (windows[:, 1:] != PAD)  # items 1 .. n
        learned = torch.cat([torch.zeros_like(learned[:, :1]), learned], dim=1)
        learned = learned.repeat_interleave(self.n_levels, dim=1)  # [B, (n + 1) * L']
        # Only positions with a target go through the output head.
        return F.cross_entropy(self.llm.lm_head(hidden[learned]), targets[learned])

    def log_probs(self, histories: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token log-probabilities in one pass (no cache).

        ``histories [B, L]``, ``tokens [B, t]`` ID tokens already emitted (``t < L'``, may be
        0) -> ``[B, t + 1, V]``: row ``j`` is the distribution of token ``j`` given the history
        and ``tokens[:, :j]`` (what ``step`` gives at step ``j``).
        """
        inputs = self._layout(histories, tokens)
        real = inputs != PAD_TOKEN
        hidden, _ = self._hidden(inputs, real.long(), _positions(real))
        logits = self.llm.lm_head(hidden[:, -tokens.shape[1] - 1 :])
        return logits.float().log_softmax(-1)

    def start(self, histories: torch.Tensor, beams: int) -> DecoderOnlyState:
        """Prefill ``[BOS | history tokens]`` for ``histories [B, L]`` once; the state has
        ``B * beams`` rows (row ``b * beams + j`` is beam ``j`` of user ``b``). Call under
        ``model.eval()``."""
        inputs = self._layout(histories)
        real = inputs != PAD_TOKEN
        positions = _positions(real)
        hidden, cache = self._hidden(inputs, real.long(), positions, DynamicCache())
        first = self.llm.lm_head(hidden[:, -1]).float().log_softmax(-1)
        rows = torch.arange(len(inputs), device=inputs.device).repeat_interleave(beams)
        return self.reorder(
            DecoderOnlyState(_tensors(cache), real.long(), positions[:, -1] + 1, first), rows
        )

    def step(
        self, state: DecoderOnlyState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, DecoderOnlyState]:
        """Feed ``tokens [N]`` (``None`` first: the prefill's prediction is returned) ->
        next-token log-probabilities ``[N, V]`` (float32) and the new state. Only the new
        token is run; earlier keys/values come from the cache."""
        if tokens is None:
            return state.first, state
        n = state.mask.shape[0]
        tokens = tokens.view(n, 1).to(state.mask.device, torch.long)
        mask = torch.cat([state.mask, torch.ones_like(state.mask[:, :1])], dim=1)
        # Rebuilt around the state's tensors: the state itself is never mutated.
        cache = DynamicCache(state.kv)
        hidden, cache = self._hidden(tokens, mask, state.next_position.view(n, 1), cache)
        logits = self.llm.lm_head(hidden[:, -1]).float()
        new = DecoderOnlyState(_tensors(cache), mask, state.next_position + 1, state.first)
        return logits.log_softmax(-1), new

    def reorder(self, state: DecoderOnlyState, rows: torch.Tensor) -> DecoderOnlyState:
        """Keep rows ``rows [M]`` of every tensor of the state (cache, mask, positions)."""
        rows = rows.to(state.mask.device, torch.long)
        kv = tuple((k.index_select(0, rows), v.index_select(0, rows)) for k, v in state.kv)
        return DecoderOnlyState(
            kv,
            state.mask.index_select(0, rows),
            state.next_position.index_select(0, rows),
            state.first.index_select(0, rows),
        )


def _positions(real: torch.Tensor) -> torch.Tensor:
    """RoPE positions ``[N, T]``: the number of real tokens before each one (padding -> 0)."""
    return (real.long().cumsum(1) - 1).clamp(min=0)


def _tensors(cache: DynamicCache) -> KV:
    """Per-layer ``(keys, values)`` of a filled cache."""
    return tuple((layer.keys, layer.values) for layer in cache.layers)
