"""Decoder-only generator: windows, loss targets, KV-cached decoding, reorder, padding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec.data.dataset import Sequences
from genrec.data.windows import PAD
from genrec.models.decoder_only import (
    BOS_TOKEN,
    DecoderOnly,
    DecoderOnlyConfig,
    decoder_only_examples,
)
from genrec.models.step_model import StepModel
from genrec.sid.semantic_ids import SemanticIds

from . import generator_helpers
from .generator_helpers import (
    N_ITEMS,
    NO_TOKENS,
    assert_beam_search_is_exhaustive,
    assert_bfloat16_decoding_is_close,
    assert_decodes_without_deprecations,
    assert_learns_the_cycle,
    assert_weights_round_trip,
    cycle_sequences,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: single-threaded
ids = generator_helpers.ids  # fixture

TINY = DecoderOnlyConfig(hidden=32, layers=1, heads=2, ff_dim=64, max_history=6)


def tiny_model(ids: SemanticIds, **overrides: object) -> DecoderOnly:
    torch.manual_seed(0)
    model = DecoderOnly(ids, replace(TINY, **overrides)).eval()
    if model.item_emb is not None:  # as large as the token embeddings, so any leak shows
        with torch.no_grad():
            model.item_emb.weight[1:].normal_()
    return model


#: The tests of what the model may see run with and without per-item input vectors.
item_vectors = pytest.mark.parametrize("item_embedding", [False, True], ids=["codes", "items"])


def test_vocabulary_and_windows(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    assert model.token_offset == 2 and model.vocab_size == 2 + 7 and BOS_TOKEN < 2
    assert model.llm.lm_head.out_features == model.vocab_size
    assert model.llm.lm_head.weight is model.llm.model.embed_tokens.weight
    assert isinstance(model, StepModel)
    windows = decoder_only_examples(Sequences(np.array([0, 3, 4]), np.array([5, 6, 7, 1])), 4)
    assert windows["windows"].tolist() == [[PAD, PAD, 5, 6, 7]]
    assert windows["lengths"].tolist() == [3]
    with pytest.raises(IndexError, match="item indices"):
        model.start(torch.tensor([[N_ITEMS]]), beams=1)


def test_learns_a_deterministic_cycle(ids: SemanticIds) -> None:
    model = tiny_model(ids, dropout=0.0).train()
    examples = decoder_only_examples(cycle_sequences(), TINY.max_history)
    assert_learns_the_cycle(model, ids, examples)


@item_vectors
def test_loss_covers_every_token_of_items_after_the_first(
    ids: SemanticIds, item_embedding: bool
) -> None:
    """The one-pass training loss equals the mean NLL of items 2..n+1 scored the decoding way
    (the same per-level embeddings and positions in training and in decoding)."""
    model = tiny_model(ids, item_embedding=item_embedding)
    windows = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7]])
    cases = [([1], 2), ([1, 2], 3), ([4], 5), ([4, 5], 6), ([4, 5, 6], 7)]
    nll = []
    with torch.no_grad():
        for history, target in cases:
            tokens = model.item_tokens(torch.tensor([[target]]))
            log_probs = model.log_probs(torch.tensor([history]), tokens[:, :-1])
            nll.append(-log_probs.gather(2, tokens.unsqueeze(-1)).flatten())
        torch.testing.assert_close(model.loss({"windows": windows}), torch.cat(nll).mean())
        # Leading all-PAD columns are trimmed: they change nothing.
        padded = torch.cat([torch.full((2, 3), PAD), windows], dim=1)
        torch.testing.assert_close(model.loss({"windows": padded}), torch.cat(nll).mean())


def test_decodes_with_the_current_transformers_api(ids: SemanticIds) -> None:
    assert_decodes_without_deprecations(tiny_model(ids), ids)


@item_vectors
def test_cached_steps_equal_a_full_forward_pass(ids: SemanticIds, item_embedding: bool) -> None:
    model = tiny_model(ids, item_embedding=item_embedding)
    histories = torch.tensor([[PAD, PAD, 3, 4], [1, 2, 3, 4], [PAD, PAD, PAD, PAD]])
    beams = 2
    targets = model.item_tokens(torch.tensor([5, 0, 11]).view(-1, 1))
    with torch.no_grad():
        full = model.log_probs(histories, targets[:, :-1])  # [3, L', V]
        state, tokens = model.start(histories, beams), None
        for level in range(ids.n_levels):
            log_probs, state = model.step(state, tokens)
            expected = full[:, level].repeat_interleave(beams, dim=0)
            torch.testing.assert_close(log_probs, expected, atol=1e-5, rtol=1e-5)
            tokens = targets[:, level].repeat_interleave(beams)
        # One cache row per user (not per beam): BOS + 4 items x 2 tokens, then one block of
        # `beams` tokens per step after the first.
        assert state.kv[0][0].shape[:3] == (3, 2, 1 + 4 * 2 + (ids.n_levels - 1) * beams)
    assert torch.isfinite(full).all()


def test_reorder_selects_beams_and_states_stay_valid(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    histories = torch.tensor([[PAD, 1], [2, 3], [4, 5]])
    tokens = torch.tensor([2, 3, 4, 2, 3, 4])  # one level-0 token per row
    with torch.no_grad():
        state = model.start(histories, beams=2)
        first, stepped = model.step(state, None)
        reference, _ = model.step(stepped, tokens)
        rows = torch.tensor([1, 1, 2, 3, 5, 4])  # beams of the same user, any order
        chosen = model.reorder(stepped, rows)
        picked, _ = model.step(chosen, tokens[rows])
        again, _ = model.step(stepped, tokens)  # the old state was not mutated
        first_chosen, _ = model.step(model.reorder(state, rows), None)
        wider = model.reorder(state, torch.tensor([0, 0, 1, 2, 2, 3, 4, 5, 5]))  # 3 beams
    torch.testing.assert_close(picked, reference[rows])
    torch.testing.assert_close(again, reference)
    torch.testing.assert_close(first_chosen, first[rows])
    assert chosen.path.shape == (3, 2, 0) and wider.beams == 3 and len(wider.first) == 9
    with pytest.raises(ValueError, match="within their user"):
        model.reorder(stepped, torch.tensor([5, 0, 0, 3, 1, 2]))


@item_vectors
def test_beams_see_only_their_own_ancestors(item_embedding: bool) -> None:
    """Two steps with reordering in between equal a full forward pass of each beam's path:
    the tree mask hides the other beams' tokens in the shared cache."""
    ids = generator_helpers.three_level_ids()
    model = tiny_model(ids, item_embedding=item_embedding)
    histories = torch.tensor([[PAD, 1, 2], [3, 4, 5]])
    paths = torch.tensor([[[1, 0, 2], [0, 1, 0], [2, 2, 1]], [[0, 0, 0], [1, 2, 3], [2, 1, 0]]])
    offsets = ids.level_offsets(model.token_offset)
    with torch.no_grad():
        state = model.start(histories, beams=3)
        _, state = model.step(state, None)
        tokens = paths[:, :, 0] + int(offsets[0])
        _, state = model.step(state, tokens.view(-1))
        # beam j of each user now continues beam parents[j] (two beams: the width may change)
        parents = torch.tensor([[2, 0], [1, 2]])
        state = model.reorder(state, (parents + torch.tensor([[0], [3]])).view(-1))
        lineage = torch.stack([paths[:, :, 0].gather(1, parents), paths[:, :2, 1]], dim=2)
        log_probs, _ = model.step(state, (lineage[:, :, 1] + int(offsets[1])).view(-1))
        for b in range(2):
            for j in range(2):
                emitted = lineage[b, j] + torch.as_tensor(offsets[:2])
                full = model.log_probs(histories[b : b + 1], emitted.view(1, -1))[0, -1]
                torch.testing.assert_close(log_probs[b * 2 + j], full, atol=1e-5, rtol=1e-5)


@item_vectors
def test_padding_and_truncation_do_not_change_predictions(
    ids: SemanticIds, item_embedding: bool
) -> None:
    model = tiny_model(ids, item_embedding=item_embedding)
    long = torch.arange(10).view(1, -1) % N_ITEMS  # 10 items, max_history = 6
    with torch.no_grad():
        short = model.log_probs(torch.tensor([[3, 4]]), NO_TOKENS)
        padded = model.log_probs(torch.tensor([[PAD, PAD, 3, 4]]), NO_TOKENS)
        cut = model.log_probs(long, NO_TOKENS)
        kept = model.log_probs(long[:, -6:], NO_TOKENS)
        empty = model.log_probs(torch.full((2, 3), PAD), torch.zeros(2, 0, dtype=torch.long))
        state = model.start(torch.full((2, 3), PAD), beams=3)
        stepped, _ = model.step(model.step(state, None)[1], torch.full((6,), 2))
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cut, kept)
    assert torch.isfinite(empty).all() and torch.isfinite(stepped).all()


@item_vectors
def test_weights_round_trip_through_safetensors(
    ids: SemanticIds, tmp_path: Path, item_embedding: bool
) -> None:
    """Output head and input embeddings are tied: save with ``save_model`` (plain
    ``save_file`` refuses tensors that share memory); the ID table is rebuilt from ``ids``."""
    model = tiny_model(ids, item_embedding=item_embedding)
    fresh = DecoderOnly(ids, replace(TINY, item_embedding=item_embedding)).eval()
    assert_weights_round_trip(model, fresh, tmp_path)


def test_item_vectors_sit_on_each_history_items_last_token(ids: SemanticIds) -> None:
    """Each history item's vector is added at its last token only: changing the vector of an
    item changes predictions after it, and the vector of a target being emitted is never read
    (no layout column holds it), so it cannot leak into its own ID."""
    model = tiny_model(ids, item_embedding=True)
    assert model.item_emb is not None and tiny_model(ids).item_emb is None
    histories = torch.tensor([[PAD, 3, 4]])
    target = model.item_tokens(torch.tensor([[5]]))[:, :-1]
    vectors = model._item_vectors(torch.tensor([[PAD, 3, 4]]), 1 + 3 * ids.n_levels)
    expected = torch.zeros_like(vectors)
    expected[0, 2 * ids.n_levels] = model.item_emb.weight[4]
    expected[0, 3 * ids.n_levels] = model.item_emb.weight[5]
    torch.testing.assert_close(vectors, expected)
    with torch.no_grad():
        before = model.log_probs(histories, target)
        model.item_emb.weight[6].zero_()  # item 5, the target: unread
        unchanged = model.log_probs(histories, target)
        model.item_emb.weight[5].zero_()  # item 4, in the history: read
        changed = model.log_probs(histories, target)
    torch.testing.assert_close(unchanged, before)
    assert not torch.allclose(changed, before)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match=r"hidden \(30\) must be divisible by 2 x heads \(8\)"):
        DecoderOnlyConfig(hidden=30, heads=4)
    # 12 / 4 = 3 per head: RoPE rotates pairs, so Llama would fail at the first forward pass.
    with pytest.raises(ValueError, match="RoPE needs an even size per head"):
        DecoderOnlyConfig(hidden=12, heads=4)
    with pytest.raises(ValueError, match=r"DecoderOnlyConfig.dropout: .* got -0.1"):
        DecoderOnlyConfig(dropout=-0.1)


def test_cached_beam_search_is_exhaustive_with_enough_beams() -> None:
    ids = generator_helpers.three_level_ids()
    assert_beam_search_is_exhaustive(tiny_model(ids), ids)


def test_bfloat16_decoding_is_close_to_float32() -> None:
    ids = generator_helpers.three_level_ids()
    assert_bfloat16_decoding_is_close(tiny_model(ids), ids)
