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

Preference statements (``statement_dim > 0``) enter as a few prefix vectors after the history,
right before the item being generated: ``[BOS | history | statements]`` (see ``loss`` for why
training puts them before the last item of a window only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.data.windows import next_item_windows
from genrec.models.beam_tree import BeamTreeState, advanced, reordered, start_state, tree_inputs
from genrec.models.id_tokens import PAD_TOKEN, ItemTokens
from genrec.models.kv_cache import from_cache, to_cache
from genrec.models.recommender import PAD, transitions, trim_padding
from genrec.models.statement_input import StatementInput
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:
    from transformers.cache_utils import DynamicCache

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
    # The protocol's history length (docs/evaluation.md): the 20 most recent items.
    max_history: int = bounded(20, ge=1)
    # Llama's default; sequences are short (<= 1 + 21 * L' tokens), so any base works.
    rope_theta: float = bounded(10000.0, gt=0)
    # Also add a learned vector per item (not per code) at each history item's last token, so
    # the model can memorise items next to the codes they share. Only where an item is fully
    # known (its last token predicts the NEXT item), so no ID token sees its own item's vector.
    # Items never trained on (cold start) keep their small random initial vector.
    item_embedding: bool = False
    # Width of the preference-statement vectors the model reads (the sentence encoder's; the
    # recipe's `prefs:` section sets it); 0: the model takes no statements.
    statement_dim: int = bounded(0, ge=0)
    # Prefix vectors the pooled statements become: a few give the projection room to say
    # more than one direction, and cost a few tokens of attention.
    statement_tokens: int = bounded(2, ge=1)
    # Read statements about the next item and about the history apart (the recipe sets it when
    # it trains with hindsight statements, prefs.hindsight > 0; genrec.models.statement_input).
    statement_about: bool = False

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


class DecoderOnly(nn.Module):
    """Causal LM over semantic-ID tokens; implements ``genrec.models.step_model.StepModel``."""

    def __init__(self, ids: SemanticIds, config: DecoderOnlyConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DecoderOnlyConfig()
        self.ids = ids
        self.n_levels = ids.n_levels
        self.token_offset = N_SPECIAL
        self.vocab_size = N_SPECIAL + ids.vocab_size
        self.item_tokens = ItemTokens(ids, self.token_offset)
        from transformers import LlamaConfig, LlamaForCausalLM  # here: a slow import

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
        # Built last, so a model without statements draws the same initial weights as before.
        self.statement = (
            StatementInput(c.statement_dim, c.statement_tokens, c.hidden, c.statement_about)
            if c.statement_dim
            else None
        )

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
        return self._run(self._embed(tokens, levels, extra), mask, positions, cache)

    def _embed(
        self, tokens: torch.Tensor, levels: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Input vectors ``[N, t, D]``: token + level embeddings (+ ``extra``)."""
        x = self.llm.model.embed_tokens(tokens) + self.level_emb(levels)
        return x if extra is None else x + extra

    def _run(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache | None = None,
    ) -> tuple[torch.Tensor, DynamicCache | None]:
        out = self.llm.model(
            inputs_embeds=self.drop(x),
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=cache is not None,
        )
        return out.last_hidden_state, out.cache

    def _forward(
        self,
        inputs: torch.Tensor,
        items: torch.Tensor,
        cache: DynamicCache | None = None,
        prefix: tuple[torch.Tensor, torch.Tensor] | None = None,
        at: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, DynamicCache | None]:
        """A whole layout ``[N, T]`` from column 0 whose first ``n`` items are ``items
        [N, n]`` -> (hidden, real-token mask, cache). ``prefix`` (statement vectors ``[N, P,
        D]``, and which rows have them ``[N]``) is inserted before layout column ``at``:
        hidden and mask then have ``T + P`` columns; rows without statements mask those
        columns out, and positions count real tokens only, so nothing else changes for them."""
        real = inputs != PAD_TOKEN
        levels = torch.arange(inputs.shape[1], device=inputs.device) % self.n_levels
        x = self._embed(inputs, levels, self._item_vectors(items, inputs.shape[1]))
        if prefix is not None:
            vectors, present = prefix
            present = present.to(real.device)[:, None].expand(-1, vectors.shape[1])
            x = torch.cat([x[:, :at], vectors.to(x.dtype), x[:, at:]], dim=1)
            real = torch.cat([real[:, :at], present, real[:, at:]], dim=1)
        hidden, cache = self._run(x, real.long(), _positions(real), cache)
        return hidden, real, cache

    def _statements(
        self, statements: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Statement vectors ``[B, S, D']`` (zero rows: none) -> prefix vectors and which rows
        have any; None without statements."""
        if statements is None:
            return None
        if self.statement is None:
            raise ValueError(
                "this DecoderOnly takes no statements (decoder_only.statement_dim is 0); train "
                "it with a `prefs:` section to condition on preferences"
            )
        return self.statement(statements)

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

        With ``statements [B, S, D']`` (zero rows: none) the statements of a row are written
        for its LAST item (the target of the step they describe) and enter as prefix vectors
        right before that item's tokens, where decoding puts them (after the history). So only
        that last item is predicted with them: every earlier position comes before the prefix
        in causal order and learns unconditioned, as it must, since a statement written for the
        last step describes the earlier items, which are those positions' own targets.

        With ``soft_tokens`` and ``soft_probs`` ``[M, L', K]`` in the batch (one row per real
        next item, in window order: an ``ItemTeacher``'s), each token's target is that sparse
        distribution instead of the one-hot item token.
        """
        windows = trim_padding(batch["windows"])
        targets = self.item_tokens(windows)  # [B, (n + 1) * L']
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_TOKEN), targets[:, :-1]], 1)
        prefix = self._statements(batch.get("statements"))
        # Input column n * L' (the last item's predecessor's last token) predicts the last item's
        # first token; the prefix goes right after it and takes over that prediction.
        at = (windows.shape[1] - 1) * self.n_levels + 1
        hidden, _, _ = self._forward(inputs, windows[:, :-1], prefix=prefix, at=at)
        if prefix is not None:
            width, present = prefix[0].shape[1], prefix[1].to(hidden.device)
            read = torch.arange(targets.shape[1], device=hidden.device)
            read = (read + width * (read >= at)).expand(len(hidden), -1).clone()
            read[present, at - 1] = at + width - 1
            hidden = hidden.gather(1, read[:, :, None].expand(-1, -1, hidden.shape[2]))
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

    def start(
        self, histories: torch.Tensor, beams: int, preferences: torch.Tensor | None = None
    ) -> BeamTreeState:
        """Prefill ``[BOS | history tokens (| statement prefix)]`` for ``histories [B, L]``
        once, for ``beams`` beams per user (row ``b * beams + j`` of ``step``'s output is beam
        ``j`` of user ``b``). ``preferences [B, S, D']``: statement vectors (zero rows: none).
        Call under ``model.eval()``."""
        inputs, items = self._layout(histories)
        prefix = self._statements(preferences)
        at = inputs.shape[1]
        from transformers.cache_utils import DynamicCache

        hidden, real, cache = self._forward(inputs, items, DynamicCache(), prefix, at)
        last = hidden[:, at - 1]
        if prefix is not None:  # users with statements predict from the prefix's last vector
            last = torch.where(prefix[1].to(last.device)[:, None], hidden[:, -1], last)
        first = self.llm.lm_head(last).float().log_softmax(-1)
        return start_state(from_cache(cache), real, first, beams)

    def step(
        self, state: BeamTreeState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, BeamTreeState]:
        """Feed ``tokens [B * W]`` (``None`` first: the prefill's prediction is returned) ->
        next-token log-probabilities ``[B * W]`` x ``V`` (float32) and the new state. Only the
        new tokens are run (one block of ``W`` per user); earlier keys/values come from the
        cache."""
        if tokens is None:
            return state.first, state
        tokens, bias, positions = tree_inputs(state, tokens, self.llm.dtype)
        # Every beam token is token ``fed`` of the next item and predicts level fed + 1 (the
        # history is 1 + H * L' tokens, so this is the layout column's level; a statement
        # prefix in the cache does not move it).
        level = torch.tensor((1 + state.fed) % self.n_levels, device=tokens.device)
        cache = to_cache(state.kv)  # around the state's tensors, which it never mutates
        hidden, cache = self._hidden(tokens, level, bias, positions, cache)
        logits = self.llm.lm_head(hidden).float().flatten(0, 1)
        return logits.log_softmax(-1), advanced(state, from_cache(cache))

    def reorder(self, state: BeamTreeState, rows: torch.Tensor) -> BeamTreeState:
        """Keep beams ``rows [B * W']`` (beam selection; see ``beam_tree.reordered``)."""
        return reordered(state, rows, "DecoderOnly")


def _positions(real: torch.Tensor) -> torch.Tensor:
    """RoPE positions ``[N, T]``: the number of real tokens before each one (padding -> 0)."""
    return (real.long().cumsum(1) - 1).clamp(min=0)
