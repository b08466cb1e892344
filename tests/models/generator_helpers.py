"""Shared by the generator tests (TIGER, decoder-only): a tiny ID table, cycle data, greedy
decoding through ``step``, exhaustive beam-search checks.

Each test module binds the fixtures it uses to module names (``ids = generator_helpers.ids``):
pytest only sees fixtures defined in the module or a conftest.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_model, save_model

from genrec.data.dataset import Sequences
from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.models.decoder_only import DecoderOnly
from genrec.models.tiger import Tiger
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

N_ITEMS = 12
NO_TOKENS = torch.zeros(1, 0, dtype=torch.long)


@pytest.fixture(scope="module")
def ids() -> SemanticIds:
    """12 items with unique 2-token IDs: item i = (i // 4, i % 4)."""
    items = np.arange(N_ITEMS)
    return SemanticIds(np.stack([items // 4, items % 4], axis=1), (3, 4))


def cycle_sequences(length: int = 8) -> Sequences:
    """One user per start item walking 0 -> 1 -> ... (mod 12): the next item is determined."""
    items = (np.arange(N_ITEMS)[:, None] + np.arange(length)[None, :]) % N_ITEMS
    offsets = np.arange(N_ITEMS + 1, dtype=np.int64) * length
    return Sequences(offsets, items.ravel().astype(np.int64))


def greedy(model: Tiger | DecoderOnly, ids: SemanticIds, histories: torch.Tensor) -> torch.Tensor:
    """Codes ``[B, L']`` by argmax within each level's token range, through ``step``."""
    starts = ids.level_offsets(model.token_offset)
    state, tokens, codes = model.start(histories, beams=1), None, []
    for level, size in enumerate(ids.codebook_sizes):
        log_probs, state = model.step(state, tokens)
        code = log_probs[:, starts[level] : starts[level] + size].argmax(-1)
        codes.append(code)
        tokens = code + int(starts[level])
    return torch.stack(codes, dim=1)


def assert_decodes_without_deprecations(model: Tiger | DecoderOnly, ids: SemanticIds) -> None:
    """Cached decoding uses transformers' current API only (``past_key_values=`` is deprecated
    and goes in transformers 5.40): no FutureWarning or DeprecationWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        greedy(model, ids, torch.tensor([[PAD, 1, 2], [3, 4, 5]]))


def assert_learns_the_cycle(
    model: Tiger | DecoderOnly, ids: SemanticIds, examples: dict[str, torch.Tensor]
) -> None:
    """100 Adam steps on ``examples`` of ``cycle_sequences`` cut the loss 20-fold, and greedy
    decoding then names each history's next item."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = []
    for _ in range(100):
        loss = model.loss(examples)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    model.eval()
    histories = torch.tensor([[3, 4, 5], [PAD, 10, 11], [PAD, PAD, 7]])
    with torch.no_grad():
        codes = greedy(model, ids, histories)
    assert codes.tolist() == ids.item_to_codes(np.array([6, 0, 8])).tolist()


def assert_weights_round_trip(
    model: Tiger | DecoderOnly, fresh: Tiger | DecoderOnly, tmp_path: Path
) -> None:
    """``model`` saved with ``save_model`` and loaded into ``fresh`` predicts the same."""
    save_model(model, str(tmp_path / "model.safetensors"))
    load_model(fresh, str(tmp_path / "model.safetensors"))
    histories = torch.tensor([[PAD, 1, 2]])
    with torch.no_grad():
        torch.testing.assert_close(
            fresh.log_probs(histories, NO_TOKENS), model.log_probs(histories, NO_TOKENS)
        )


def three_level_ids() -> SemanticIds:
    """24 items with every 3-level ID of sizes (3, 4, 2): item i = (i // 8, i // 2 % 4, i % 2)."""
    items = np.arange(24)
    return SemanticIds(np.stack([items // 8, items // 2 % 4, items % 2], axis=1), (3, 4, 2))


def assert_beam_search_is_exhaustive(model: Tiger | DecoderOnly, ids: SemanticIds) -> None:
    """With as many beams as items, cached constrained beam search (with its reordering of
    the decoding state) scores every item exactly as one teacher-forced pass does."""
    histories = torch.tensor([[PAD, 1, 2], [3, 4, 5], [PAD, PAD, 7]])
    starts = ids.level_offsets(model.token_offset)
    with torch.no_grad():
        items, scores = beam_search(
            model, ids, histories, ids.n_items, ids.n_items, token_offset=model.token_offset
        )
        for user, history in enumerate(histories):
            tokens = torch.as_tensor(ids.tokens(offset=model.token_offset))  # [n_items, L']
            full = model.log_probs(history.expand(ids.n_items, -1), tokens[:, :-1])
            want = torch.zeros(ids.n_items)
            for level, size in enumerate(ids.codebook_sizes):
                logp = full[:, level, starts[level] : starts[level] + size].log_softmax(-1)
                codes = torch.tensor(ids.codes[:, level : level + 1])
                want += logp.gather(1, codes)[:, 0]
            torch.testing.assert_close(scores[user], want[items[user]], atol=1e-4, rtol=1e-4)
            assert sorted(items[user].tolist()) == list(range(ids.n_items))


def assert_bfloat16_decoding_is_close(model: Tiger | DecoderOnly, ids: SemanticIds) -> None:
    """Decoding in bfloat16 runs a cast copy (the model stays float32) and scores every item
    within bfloat16 rounding of the float32 scores."""
    histories = torch.tensor([[PAD, 1, 2], [3, 4, 5], [PAD, PAD, 7]])
    full, half = (
        GenerativeRecommender(
            model, ids, beams=ids.n_items, token_offset=model.token_offset, dtype=dtype
        )
        for dtype in (torch.float32, torch.bfloat16)
    )
    assert full.model is model and next(half.model.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        items, scores = full.recommend(histories, ids.n_items)
        half_items, half_scores = half.recommend(histories, ids.n_items)
    for user in range(len(histories)):
        by_item = torch.zeros(ids.n_items).index_put_((half_items[user],), half_scores[user])
        torch.testing.assert_close(by_item[items[user]], scores[user], atol=0.1, rtol=0.05)
