"""What a network must offer to be decoded: the only coupling between models and decoding.

Any generator (TIGER encoder-decoder, a decoder-only transformer, later a pretrained causal LLM
with ID tokens) implements ``StepModel``; beam search and sampling never look inside it.
Tokens are the flat semantic-ID vocabulary of ``SemanticIds.tokens`` (level ``l`` code ``c``
-> ``offset + sum(K_<l) + c``); the decoder slices the current level's range out of the logits
and masks it with the prefix trie.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

DecodeState = Any  # opaque to the decoder: encoder outputs, KV caches, ...


@runtime_checkable
class StepModel(Protocol):
    def start(self, histories: torch.Tensor, beams: int) -> DecodeState:
        """Encode ``histories [B, L]`` (item indices, left-padded with PAD = -1) once.

        Returns a state for ``B * beams`` rows; row ``b * beams + j`` is beam ``j`` of user ``b``.
        A model that follows preference statements also takes ``preferences=`` ``[B, S, D]``
        (the statements' sentence vectors, zero rows where a user has fewer); decoders pass it
        only when a request has statements, so other models need not accept it.
        """
        ...

    def step(
        self, state: DecodeState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, DecodeState]:
        """Feed the last emitted token of each row (``[B * beams]``; ``None`` at the first step)
        and return next-token log-probabilities or logits ``[B * beams, V]`` and the new state.
        Must reuse cached keys/values: cost per step independent of the steps already taken."""
        ...

    def reorder(self, state: DecodeState, rows: torch.Tensor) -> DecodeState:
        """Keep rows ``rows [B * beams]`` of the state (beam selection after a step).

        Row ``b * beams + j`` of ``rows`` is always one of user ``b``'s rows, so a model may
        share per-user tensors (encoder outputs, a history's cache) across its beams."""
        ...


def over_whole_vocabulary(model: StepModel) -> StepModel:
    """``model`` as raw scoring needs it: the log-softmax of each row of its step logits is the
    one over its whole vocabulary. A model whose steps compute only some rows of its output
    head (an LLM, whose vocabulary is mostly text) offers ``over_whole_vocabulary()``, a view
    whose logits also carry the other rows' normaliser; other models' logits already span
    their vocabulary and are returned as they are. A wrapper hides the view: take it before
    wrapping."""
    view = getattr(model, "over_whole_vocabulary", None)
    return model if view is None else view()


def beams_kept(rows: torch.Tensor, n_users: int, beams: int, model: str) -> int:
    """The beams per user ``W'`` that ``reorder``'s ``rows [B * W']`` keep, checked to stay
    with their users (of ``beams`` rows each): models that share per-user tensors rely on it."""
    width = len(rows) // n_users if n_users else 0
    users = torch.arange(n_users, device=rows.device).repeat_interleave(width)
    if len(rows) != n_users * width or not torch.equal(rows // beams, users):
        raise ValueError(
            f"{model}.reorder keeps beams within their user: rows[b * W' + j] must lie in "
            f"[b * {beams}, (b + 1) * {beams}) for each of the {n_users} users"
        )
    return width
