"""Distillation: an item scorer's next-item distribution as soft targets for ID tokens."""

from __future__ import annotations

import pytest
import torch

from genrec.data.windows import PAD
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.distillation import DistillConfig, ItemTeacher
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.sid.semantic_ids import SemanticIds

from . import generator_helpers
from .generator_helpers import N_ITEMS

pytestmark = pytest.mark.usefixtures("one_thread")
ids = generator_helpers.ids  # fixture: item i = codes (i // 4, i % 4)

WINDOWS = torch.tensor([[PAD, PAD, 1, 2, 3], [PAD, 4, 5, PAD, 7], [8, 9, 10, 11, 0]])


def scorer() -> SASRec:
    torch.manual_seed(0)
    return SASRec(N_ITEMS, max_len=4, config=SASRecConfig(hidden=8, heads=1, ff_dim=16)).eval()


def student(ids: SemanticIds) -> DecoderOnly:
    torch.manual_seed(0)
    config = DecoderOnlyConfig(hidden=16, layers=1, heads=2, ff_dim=32, max_history=4)
    return DecoderOnly(ids, config).eval()


def dense(batch: dict[str, torch.Tensor], vocab: int) -> torch.Tensor:
    """The sparse soft targets ``[M, L', K]`` as dense distributions ``[M, L', vocab]``."""
    out = torch.zeros(*batch["soft_tokens"].shape[:2], vocab)
    return out.scatter_add_(2, batch["soft_tokens"], batch["soft_probs"])


@pytest.mark.parametrize("top", [N_ITEMS, 3])
def test_targets_mix_the_one_hot_token_with_the_teacher_mass_under_its_prefix(
    ids: SemanticIds, top: int
) -> None:
    model, teacher_model = student(ids), scorer()
    tokens = model.item_tokens.table
    weight = 0.3
    batch = ItemTeacher(teacher_model, tokens, DistillConfig(weight=weight, top=top))(
        {"windows": WINDOWS}
    )
    targets = dense(batch, model.vocab_size)  # [M, 2, V]
    # One row per real transition, in window order: 1->2, 2->3, 4->5, 8->9, ..., 11->0.
    gold = torch.tensor([2, 3, 5, 9, 10, 11, 0])
    assert targets.shape == (len(gold), ids.n_levels, model.vocab_size)
    torch.testing.assert_close(targets.sum(-1), torch.ones(len(gold), ids.n_levels))
    with torch.no_grad():
        probs = teacher_model.item_scores(teacher_model.encode(WINDOWS[:, :-1])).softmax(-1)
    probs = probs[(WINDOWS[:, :-1] != PAD) & (WINDOWS[:, 1:] != PAD)]
    for row, target in enumerate(gold.tolist()):
        kept = probs[row].clone()
        if top < N_ITEMS:  # the teacher's top items and the target
            keep = torch.zeros(N_ITEMS, dtype=torch.bool)
            keep[probs[row].topk(top).indices] = True
            keep[target] = True
            kept = kept * keep
        for level in range(ids.n_levels):
            same = (tokens[:, :level] == tokens[target, :level]).all(1)
            mass = torch.zeros(model.vocab_size).index_add_(0, tokens[:, level], kept * same)
            expected = weight * mass / mass.sum()
            expected[tokens[target, level]] += 1 - weight
            torch.testing.assert_close(targets[row, level], expected)


def test_soft_loss_mixes_the_plain_loss_and_the_teachers(ids: SemanticIds) -> None:
    model = student(ids)
    plain = model.loss({"windows": WINDOWS})
    losses = {}
    for weight in (0.0, 0.25, 1.0):
        teacher = ItemTeacher(scorer(), model.item_tokens.table, DistillConfig(weight=weight))
        losses[weight] = model.loss(teacher({"windows": WINDOWS}))
    torch.testing.assert_close(losses[0.0], plain)
    torch.testing.assert_close(losses[0.25], 0.75 * plain + 0.25 * losses[1.0])
    losses[0.25].backward()
    assert model.llm.lm_head.weight.grad is not None
    batch = teacher({"windows": WINDOWS})
    with pytest.raises(ValueError, match="same windows"):
        model.loss({**batch, "windows": WINDOWS[:2]})


def test_teacher_must_fit_the_ids_and_the_windows(ids: SemanticIds) -> None:
    tokens = student(ids).item_tokens.table
    with pytest.raises(ValueError, match="same data"):
        ItemTeacher(scorer(), tokens[:-1], DistillConfig())
    with pytest.raises(ValueError, match="max_history"):
        ItemTeacher(scorer(), tokens, DistillConfig())({"windows": torch.zeros(1, 6).long()})
    for bad in ({"weight": 1.5}, {"temperature": 0.0}, {"top": 0}):
        with pytest.raises(ValueError, match=f"DistillConfig.{next(iter(bad))}: expected"):
            DistillConfig(**bad)
