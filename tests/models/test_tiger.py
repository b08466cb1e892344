"""TIGER: examples, encoder inputs, loss, KV-cached decoding, reorder, padding, paper size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec.data.dataset import Sequences
from genrec.data.windows import PAD
from genrec.models.step_model import StepModel
from genrec.models.tiger import EOS_TOKEN, Tiger, TigerConfig, tiger_examples, tiger_paper
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

TINY = TigerConfig(
    encoder_layers=1, decoder_layers=1, heads=2, head_dim=16, d_model=32, d_ff=64, max_history=6
)


def tiny_model(ids: SemanticIds, **overrides: object) -> Tiger:
    torch.manual_seed(0)
    return Tiger(ids, replace(TINY, **overrides)).eval()


def test_examples_are_every_prefix(ids: SemanticIds) -> None:
    train = Sequences(np.array([0, 3, 4, 6]), np.array([5, 6, 7, 1, 2, 3]))
    examples = tiger_examples(train, ids, max_history=2)
    assert examples["users"].tolist() == [0, 0, 2]
    assert examples["targets"].tolist() == [6, 7, 3]
    assert examples["histories"].tolist() == [[PAD, 5], [5, 6], [PAD, 2]]
    assert examples["lengths"].tolist() == [1, 2, 1]
    with pytest.raises(IndexError):
        tiger_examples(Sequences(np.array([0, 2]), np.array([0, N_ITEMS])), ids, 2)


def test_vocabulary_and_encoder_inputs(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    assert model.token_offset == 2 and model.vocab_size == 2 + 7
    assert model.t5.lm_head.out_features == model.vocab_size
    assert isinstance(model, StepModel)
    # Columns that are padding in every row are trimmed (relative positions: no change).
    tokens, mask = model.encoder_inputs(torch.tensor([[PAD, PAD, 5], [PAD, 4, PAD]]))
    assert tokens.tolist() == [
        [0, 0, 2 + 1, 2 + 3 + 1, EOS_TOKEN],
        [2 + 1, 2 + 3 + 0, 0, 0, EOS_TOKEN],
    ]
    assert mask.tolist() == [[0, 0, 1, 1, 1], [1, 1, 0, 0, 1]]
    tokens, mask = model.encoder_inputs(torch.tensor([[PAD, PAD]]))
    assert tokens.tolist() == [[EOS_TOKEN]] and mask.tolist() == [[1]]
    users = tiny_model(ids, user_buckets=10)
    assert users.token_offset == 12 and users.vocab_size == 12 + 7
    tokens, mask = users.encoder_inputs(torch.tensor([[5], [6]]), torch.tensor([3, 27]))
    assert tokens[:, -2].tolist() == [2 + 3, 2 + 7] and mask.all()
    tokens, mask = users.encoder_inputs(torch.tensor([[5]]))  # no users: that slot is masked
    assert mask.tolist() == [[1, 1, 0, 1]]
    with pytest.raises(IndexError, match="item indices"):
        model.encoder_inputs(torch.tensor([[N_ITEMS]]))


def test_learns_a_deterministic_cycle(ids: SemanticIds) -> None:
    model = tiny_model(ids, dropout=0.0).train()
    examples = tiger_examples(cycle_sequences(), ids, TINY.max_history)
    assert_learns_the_cycle(model, ids, examples)


def test_loss_is_the_mean_target_nll(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    batch = {"histories": torch.tensor([[PAD, 1], [2, 3]]), "targets": torch.tensor([4, 9])}
    targets = model.item_tokens(batch["targets"].view(-1, 1))
    with torch.no_grad():
        log_probs = model.log_probs(batch["histories"], targets[:, :-1])
        nll = -log_probs.gather(2, targets.unsqueeze(-1)).mean()
        torch.testing.assert_close(model.loss(batch), nll)


def test_decodes_with_the_current_transformers_api(ids: SemanticIds) -> None:
    assert_decodes_without_deprecations(tiny_model(ids), ids)


def test_cached_steps_equal_a_full_forward_pass(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    histories = torch.tensor([[PAD, PAD, 3, 4], [1, 2, 3, 4], [PAD, PAD, PAD, PAD]])
    beams = 2
    targets = model.item_tokens(torch.tensor([5, 0, 11]).view(-1, 1))
    with torch.no_grad():
        full = model.log_probs(histories, targets[:, :-1])  # [3, L', V]
        state, tokens = model.start(histories, beams), None
        for level in range(ids.n_levels):
            log_probs, state = model.step(state, tokens)
            assert state.self_kv is not None and state.self_kv[0][0].shape[2] == level + 1
            expected = full[:, level].repeat_interleave(beams, dim=0)
            torch.testing.assert_close(log_probs, expected, atol=1e-5, rtol=1e-5)
            tokens = targets[:, level].repeat_interleave(beams)
    assert torch.isfinite(full).all()


def test_reorder_selects_rows_and_states_stay_valid(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    histories = torch.tensor([[PAD, 1], [2, 3], [4, 5]])
    tokens = torch.tensor([2, 3, 4, 2, 3, 4])  # one level-0 token per row
    with torch.no_grad():
        state = model.start(histories, beams=2)
        _, stepped = model.step(state, None)
        reference, _ = model.step(stepped, tokens)
        narrower = torch.tensor([0, 3, 5])  # one beam per user
        chosen = model.reorder(stepped, narrower)
        picked, _ = model.step(chosen, tokens[narrower])
        rows = torch.tensor([1, 1, 2, 3, 5, 4])  # same width
        same_width, _ = model.step(model.reorder(stepped, rows), tokens[rows])
        again, _ = model.step(stepped, tokens)  # the old state was not mutated
        with pytest.raises(ValueError, match="within their user"):
            model.reorder(stepped, torch.tensor([2, 0, 3, 1, 4, 5]))
    torch.testing.assert_close(picked, reference[narrower])
    torch.testing.assert_close(same_width, reference[rows])
    torch.testing.assert_close(again, reference)
    # What a user's beams share stays one row per user, whatever the beam count.
    for state in (stepped, chosen):
        assert state.encoder_states.shape[0] == 3 and state.cross_kv[0][0].shape[0] == 3


def test_padding_and_truncation_do_not_change_predictions(ids: SemanticIds) -> None:
    model = tiny_model(ids)
    long = torch.arange(10).view(1, -1) % N_ITEMS  # 10 items, max_history = 6
    with torch.no_grad():
        short = model.log_probs(torch.tensor([[3, 4]]), NO_TOKENS)
        padded = model.log_probs(torch.tensor([[PAD, PAD, 3, 4]]), NO_TOKENS)
        cut = model.log_probs(long, NO_TOKENS)
        kept = model.log_probs(long[:, -6:], NO_TOKENS)
        empty = model.log_probs(torch.full((2, 3), PAD), torch.zeros(2, 0, dtype=torch.long))
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cut, kept)
    assert torch.isfinite(empty).all()


def test_paper_preset_has_the_published_size(ids: SemanticIds) -> None:
    config = tiger_paper()
    model = Tiger(ids, config)
    t5 = model.t5.config
    assert (t5.num_layers, t5.num_decoder_layers, t5.num_heads, t5.d_kv) == (4, 4, 6, 64)
    assert (t5.d_model, t5.d_ff, t5.dropout_rate) == (128, 1024, 0.1)
    d, inner, ff, bias = 128, 6 * 64, 1024, 32 * 6  # bias: relative-position buckets x heads
    attention, feed_forward = 4 * d * inner + d, 2 * d * ff + d  # + their layer norms
    encoder = 4 * (attention + feed_forward) + bias + d
    decoder = 4 * (2 * attention + feed_forward) + bias + d
    embeddings = model.vocab_size * d  # shared by encoder, decoder and the output head
    assert sum(p.numel() for p in model.parameters()) == encoder + decoder + embeddings
    assert 4.4e6 < encoder + decoder < 4.5e6


def test_weights_round_trip_through_safetensors(ids: SemanticIds, tmp_path: Path) -> None:
    """Output head and input embeddings are tied: save with ``save_model`` (plain
    ``save_file`` refuses tensors that share memory); the ID table is rebuilt from ``ids``."""
    model, fresh = tiny_model(ids), Tiger(ids, TINY).eval()
    assert_weights_round_trip(model, fresh, tmp_path)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match=r"TigerConfig.heads: expected an integer >= 1, got 0"):
        TigerConfig(heads=0)
    with pytest.raises(ValueError, match=r"TigerConfig.dropout: expected a number in \[0, 1\)"):
        TigerConfig(dropout=1.0)
    # T5 gives negative bucket indices when max_distance falls within the exact buckets.
    with pytest.raises(ValueError, match=r"max_distance \(16\) must exceed"):
        TigerConfig(position_buckets=32, max_distance=16)
    TigerConfig(position_buckets=32, max_distance=17)


def test_cached_beam_search_is_exhaustive_with_enough_beams() -> None:
    ids = generator_helpers.three_level_ids()
    assert_beam_search_is_exhaustive(tiny_model(ids), ids)


def test_bfloat16_decoding_is_close_to_float32() -> None:
    ids = generator_helpers.three_level_ids()
    assert_bfloat16_decoding_is_close(tiny_model(ids), ids)
