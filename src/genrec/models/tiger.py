"""TIGER (Rajput et al., 2023): a T5 encoder-decoder that generates the next item's semantic ID.

The encoder reads the history as ID tokens (each of the up to ``max_history`` most recent items
as its ``L'`` tokens, left-padded), then an optional hashed user token, then EOS; the decoder
starts from the decoder start token (pad, as in T5) and emits the target's ``L'`` tokens.
The network is ``transformers.T5ForConditionalGeneration`` configured from scratch: a
well-kept implementation with relative position biases (so left padding is harmless) and an
``EncoderDecoderCache`` for decoding. Its attention is ``shared_kv_attention``: ``sdpa`` in
training, and while decoding the beams of a user share one row of cross-attention keys/values.

Vocabulary: ``[pad, eos | user buckets | ID tokens]``; ``token_offset`` is where the ID tokens
start, so ``beam_search(model, ids, ..., token_offset=model.token_offset)`` works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.data.windows import transition_examples
from genrec.models.id_tokens import PAD_TOKEN, ItemTokens
from genrec.models.kv_cache import KV, from_cache, repeat_rows, select_rows, to_cache
from genrec.models.recommender import trim_padding
from genrec.models.statement_input import StatementInput
from genrec.models.step_model import beams_kept
from genrec.sid.semantic_ids import SemanticIds

EOS_TOKEN = 1
N_SPECIAL = 2  # pad, eos; user buckets (if any) follow


@configclass
class TigerConfig:
    # Small default that trains on a CPU in minutes; tiger_paper() gives the published size.
    encoder_layers: int = bounded(2, ge=1)
    decoder_layers: int = bounded(2, ge=1)
    heads: int = bounded(4, ge=1)
    # T5 decouples heads * head_dim from d_model (the paper: 6 x 64 vs 128).
    head_dim: int = bounded(32, ge=1)
    d_model: int = bounded(128, ge=1)
    d_ff: int = bounded(512, ge=1)
    # The paper's value; Amazon 5-core data is small, so some regularisation is needed.
    dropout: float = bounded(0.1, ge=0, lt=1)
    # The protocol's history length (docs/evaluation.md): the 20 most recent items.
    max_history: int = bounded(20, ge=1)
    # Hashed user tokens (the paper: 2000). Off by default: the Recommender protocol passes
    # histories only, so a user token could not be supplied at evaluation or serving time.
    user_buckets: int = bounded(0, ge=0)
    # T5's relative-position defaults; 128 covers 20 items x 4 tokens + 2 specials. The encoder
    # splits the buckets by direction, and each half keeps half of its buckets exact: fewer than
    # 4 leave none.
    position_buckets: int = bounded(32, ge=4)
    max_distance: int = bounded(128, ge=1)
    # Width of the preference-statement vectors the model reads (the sentence encoder's; the
    # recipe's `prefs:` section sets it); 0: the model takes no statements.
    statement_dim: int = bounded(0, ge=0)
    # Encoder positions the pooled statements become, after EOS.
    statement_tokens: int = bounded(2, ge=1)
    # Read statements about the next item and about the history apart (the recipe sets it when
    # it trains with hindsight statements, prefs.hindsight > 0; genrec.models.statement_input).
    statement_about: bool = False

    def __post_init__(self) -> None:
        # Beyond position_buckets // 2 exact buckets T5 spaces the rest up to max_distance
        # logarithmically; a max_distance within the exact ones gives negative bucket indices.
        if self.max_distance <= self.position_buckets // 2:
            raise ValueError(
                f"max_distance ({self.max_distance}) must exceed position_buckets // 2 "
                f"({self.position_buckets // 2})"
            )


def tiger_paper() -> TigerConfig:
    """The published TIGER generator: 4 + 4 layers, 6 heads of 64, d_model 128, d_ff 1024,
    dropout 0.1 (add ``user_buckets=2000`` with ``dataclasses.replace`` for user tokens)."""
    return TigerConfig(
        encoder_layers=4, decoder_layers=4, heads=6, head_dim=64, d_model=128, d_ff=1024
    )


def tiger_examples(train: Sequences, ids: SemanticIds, max_history: int) -> dict[str, torch.Tensor]:
    """Every prefix of every training sequence predicts its next item: the tensors of
    ``transition_examples`` (slice them with the same index to make a batch for
    ``Tiger.loss``), checked to be items of ``ids``."""
    if len(train.items) and (train.items.min() < 0 or train.items.max() >= ids.n_items):
        raise IndexError(f"training items must lie in [0, {ids.n_items}) (the SemanticIds' items)")
    return {
        name: torch.from_numpy(array)
        for name, array in transition_examples(train, max_history).items()
    }


@dataclass(frozen=True)
class TigerState:
    """Decoding state for ``B`` users and ``N = B * beams`` rows; immutable (``step`` and
    ``reorder`` return new states, so an old state stays valid). What a user's beams share
    (encoder outputs and their cross-attention keys/values) has one row per user."""

    encoder_states: torch.Tensor  # [B, S, d_model]
    encoder_mask: torch.Tensor  # [B, S] long, 1 = real token
    first: torch.Tensor  # [N, V] log-probabilities of the first ID token
    self_kv: KV  # decoder self-attention cache [N, ...] (the start token's, then each fed one's)
    cross_kv: KV  # cross-attention keys/values of the encoder states [B, ...]


class Tiger(nn.Module):
    """T5 generator over semantic-ID tokens; implements ``genrec.models.step_model.StepModel``."""

    def __init__(self, ids: SemanticIds, config: TigerConfig | None = None) -> None:
        super().__init__()
        self.config = config or TigerConfig()
        self.ids = ids
        self.n_levels = ids.n_levels
        self.token_offset = N_SPECIAL + self.config.user_buckets
        self.vocab_size = self.token_offset + ids.vocab_size
        self.item_tokens = ItemTokens(ids, self.token_offset)
        from transformers import T5Config, T5ForConditionalGeneration  # here: a slow import

        from genrec.models import shared_kv_attention  # registers its attention with transformers

        c = self.config
        t5_config = T5Config(
            vocab_size=self.vocab_size,
            d_model=c.d_model,
            d_kv=c.head_dim,
            d_ff=c.d_ff,
            num_layers=c.encoder_layers,
            num_decoder_layers=c.decoder_layers,
            num_heads=c.heads,
            relative_attention_num_buckets=c.position_buckets,
            relative_attention_max_distance=c.max_distance,
            dropout_rate=c.dropout,
            feed_forward_proj="relu",  # original T5, as in the paper's T5X setup
            pad_token_id=PAD_TOKEN,
            eos_token_id=EOS_TOKEN,
            decoder_start_token_id=PAD_TOKEN,
            attn_implementation=shared_kv_attention.NAME,
        )
        self.t5 = T5ForConditionalGeneration(t5_config)
        # Built last, so a model without statements draws the same initial weights as before.
        self.statement = (
            StatementInput(c.statement_dim, c.statement_tokens, c.d_model, c.statement_about)
            if c.statement_dim
            else None
        )

    def encoder_inputs(
        self, histories: torch.Tensor, users: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Histories ``[B, L]`` (PAD = -1; the last ``max_history`` items are kept) and optional
        ``users [B]`` -> encoder tokens and mask ``[B, S]``, ``S = H * L' (+ 1) + 1``."""
        histories = trim_padding(histories[:, -self.config.max_history :])
        tokens = self.item_tokens(histories)  # [B, H * L'] (H may be 0 after trimming)
        column = torch.zeros(len(tokens), 1, dtype=torch.long, device=tokens.device)
        columns = [tokens]
        if self.config.user_buckets:
            user_token = column + PAD_TOKEN  # no user: masked out
            if users is not None:
                buckets = users.to(tokens.device).remainder(self.config.user_buckets)
                user_token = (N_SPECIAL + buckets).view(-1, 1)
            columns.append(user_token)
        # EOS closes every input, so even an all-PAD history has one real token to attend to.
        columns.append(column + EOS_TOKEN)
        tokens = torch.cat(columns, dim=1)
        return tokens, (tokens != PAD_TOKEN).long()

    def encoder_embeds(
        self,
        histories: torch.Tensor,
        users: torch.Tensor | None = None,
        statements: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The encoder's input (``input_ids``, or ``inputs_embeds`` with statements) and mask.

        ``statements [B, S, D']`` (zero rows: none) become ``statement_tokens`` positions after
        EOS: the history's relative positions stay as they are, and users without statements
        mask them out, so for them nothing changes."""
        tokens, mask = self.encoder_inputs(histories, users)
        if statements is None:
            return {"input_ids": tokens}, mask
        if self.statement is None:
            raise ValueError(
                "this Tiger takes no statements (tiger.statement_dim is 0); train it with a "
                "`prefs:` section to condition on preferences"
            )
        vectors, present = self.statement(statements)
        embeds = torch.cat([self.t5.shared(tokens), vectors.to(tokens.device)], dim=1)
        present = present.to(mask.device)[:, None].expand(-1, vectors.shape[1]).long()
        return {"inputs_embeds": embeds}, torch.cat([mask, present], dim=1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss (``forward`` so that DDP wrappers synchronise its gradients)."""
        return self.loss(batch)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy of the targets' ``L'`` tokens over the whole vocabulary.

        ``batch``: ``histories [B, H]``, ``targets [B]``, optional ``users [B]`` (a slice of
        ``tiger_examples``) and ``statements [B, S, D']``, written for each target's step
        (an example has one target, so the statement can only describe items before it).
        """
        inputs, mask = self.encoder_embeds(
            batch["histories"], batch.get("users"), batch.get("statements")
        )
        labels = self.item_tokens(batch["targets"].view(-1, 1))  # [B, L']
        return self.t5(**inputs, attention_mask=mask, labels=labels).loss

    def log_probs(
        self, histories: torch.Tensor, tokens: torch.Tensor, users: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced next-token log-probabilities in one pass (no cache).

        ``histories [B, L]``, ``tokens [B, t]`` ID tokens already emitted (``t < L'``, may be
        0) -> ``[B, t + 1, V]``: row ``j`` is the distribution of token ``j`` given the history
        and ``tokens[:, :j]`` (what ``step`` gives at step ``j``).
        """
        inputs, mask = self.encoder_inputs(histories, users)
        start = torch.full_like(inputs[:, :1], PAD_TOKEN)
        decoder_inputs = torch.cat([start, tokens.to(inputs.device)], dim=1)
        out = self.t5(input_ids=inputs, attention_mask=mask, decoder_input_ids=decoder_inputs)
        return out.logits.float().log_softmax(-1)

    def start(
        self,
        histories: torch.Tensor,
        beams: int,
        preferences: torch.Tensor | None = None,
        users: torch.Tensor | None = None,
    ) -> TigerState:
        """Encode ``histories [B, L]`` (with ``preferences [B, S, D']``, statement vectors,
        zero rows: none) and decode the start token once per user; the state has ``B * beams``
        rows (row ``b * beams + j`` is beam ``j`` of user ``b``). Call under ``model.eval()``.

        All beams of a user share the encoder outputs and the start token, so the
        cross-attention keys/values and the first decoder step are computed per user; only the
        start token's own keys/values and prediction are copied to the beams, and every step
        attends from a user's beams to its one row of encoder keys/values.
        """
        inputs, mask = self.encoder_embeds(histories, users, preferences)
        states = self.t5.encoder(**inputs, attention_mask=mask).last_hidden_state
        out = self.t5(
            encoder_outputs=(states,),
            attention_mask=mask,
            decoder_input_ids=torch.full_like(mask[:, :1], PAD_TOKEN),
            cache=_cache(),
            use_cache=True,
        )
        cache = out.cache
        first = out.logits[:, -1].float().log_softmax(-1)
        return TigerState(
            encoder_states=states,
            encoder_mask=mask,
            first=first.repeat_interleave(beams, dim=0),
            self_kv=repeat_rows(from_cache(cache.self_attention_cache), beams),
            cross_kv=from_cache(cache.cross_attention_cache),
        )

    def step(
        self, state: TigerState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, TigerState]:
        """Feed ``tokens [N]`` (``None`` first: the start token's prediction, made by
        ``start``) -> next-token log-probabilities ``[N, V]`` (float32) and the new state. Only
        the new token is run through the decoder; earlier keys/values come from the cache."""
        if tokens is None:
            return state.first, state
        inputs = tokens.view(-1, 1).to(state.encoder_states.device, torch.long)
        # Around the state's tensors, which the caches never mutate; the cross-attention
        # cache is full, so T5 reuses its keys/values instead of projecting the states again.
        cache = _cache(to_cache(state.self_kv), to_cache(state.cross_kv))
        out = self.t5(
            encoder_outputs=(state.encoder_states,),
            # A ready 4-D mask is used as given: one row per user, like the keys it masks.
            attention_mask=state.encoder_mask[:, None, None, :].bool(),
            decoder_input_ids=inputs,
            cache=cache,
            use_cache=True,
        )
        self_kv = from_cache(out.cache.self_attention_cache)
        return out.logits[:, -1].float().log_softmax(-1), replace(state, self_kv=self_kv)

    def reorder(self, state: TigerState, rows: torch.Tensor) -> TigerState:
        """Keep rows ``rows [B * W']`` of the state: row ``b * W' + j`` must be one of user
        ``b``'s (``StepModel``), so what the user's beams share is kept as it is and only the
        decoder's own cache is selected."""
        rows = rows.to(state.encoder_states.device, torch.long)
        beams = len(state.first) // max(len(state.encoder_states), 1)
        beams_kept(rows, len(state.encoder_states), beams, "Tiger")
        return replace(
            state,
            first=state.first.index_select(0, rows),
            self_kv=select_rows(state.self_kv, rows),
        )


def _cache(self_kv: Any = None, cross_kv: Any = None) -> Any:
    """A ``transformers`` ``EncoderDecoderCache`` of the two caches (empty ones by default),
    imported here: transformers takes ~2 s to import and a recipe check needs none of it."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(self_kv or DynamicCache(), cross_kv or DynamicCache())
