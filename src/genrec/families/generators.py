"""Generators trained from scratch on semantic-ID tokens (TIGER's encoder-decoder, the
decoder-only transformer): decoded by trie-constrained beam search, statements read as
sentence vectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import Split
from genrec.families.family import Capabilities, Family, Model
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig, decoder_only_examples
from genrec.models.distillation import DistillConfig
from genrec.models.tiger import Tiger, TigerConfig, tiger_examples
from genrec.prefs.vectors import statement_encoder
from genrec.recommend.cold_items import ColdItems
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:
    from genrec.recipes.recipe import Recipe


def generative(
    model: Model, recipe: Recipe, cold: ColdItems | None, follows: bool
) -> GenerativeRecommender:
    """``model`` decoded by constrained beam search as the recipe's ``decode`` says, reading a
    request's statements as vectors when it ``follows`` them, merging in ``cold`` items."""
    return GenerativeRecommender(
        model,
        model.ids,
        beams=recipe.decode.beams,
        token_offset=model.token_offset,
        dtype=getattr(torch, recipe.decode.precision),
        statements=statement_encoder(recipe.prefs.encoder) if follows else None,
        max_statements=recipe.prefs.max_statements,
        scoring=recipe.decode.scoring,
        cold=cold,
    )


def statement_input(recipe: Recipe) -> dict[str, int | bool]:
    """How the model reads statements: their width (0: it reads none) and whether it tells
    statements about the next item from those about the history (trained with hindsight)."""
    if not recipe.prefs.statements:
        return {"statement_dim": 0, "statement_about": False}
    dim = statement_encoder(recipe.prefs.encoder).dim
    return {"statement_dim": dim, "statement_about": recipe.prefs.hindsight > 0}


def build_tiger(recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None) -> Tiger:
    assert ids is not None  # Capabilities.decodes_ids: the recipe loads them
    return Tiger(ids, dataclasses.replace(recipe.tiger, **statement_input(recipe)))


def build_decoder_only(
    recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None
) -> DecoderOnly:
    assert ids is not None  # Capabilities.decodes_ids: the recipe loads them
    config = dataclasses.replace(recipe.decoder_only, **statement_input(recipe))
    return DecoderOnly(ids, config)


def transitions(
    recipe: Recipe, model: Model, dataset: Dataset, split: Split, run: Path | None
) -> dict[str, torch.Tensor]:
    return tiger_examples(split.train, model.ids, split.max_history)


def windows(
    recipe: Recipe, model: Model, dataset: Dataset, split: Split, run: Path | None
) -> dict[str, torch.Tensor]:
    return decoder_only_examples(split.train, split.max_history)


def recommender(model: Model, recipe: Recipe, cold: ColdItems | None) -> GenerativeRecommender:
    return generative(model, recipe, cold, follows=model.statement is not None)


#: What both generators can do.
GENERATOR = Capabilities(decodes_ids=True, statements="vectors", rl=True)

TIGER = Family(
    name="tiger",
    sections={"tiger": TigerConfig},
    capabilities=dataclasses.replace(GENERATOR, examples="transitions"),
    build=build_tiger,
    examples=transitions,
    recommender=recommender,
)
DECODER_ONLY = Family(
    name="decoder_only",
    # distill: also learn a trained SASRec's next-item distribution (distill.teacher).
    sections={"decoder_only": DecoderOnlyConfig, "distill": DistillConfig},
    capabilities=dataclasses.replace(GENERATOR, distill="student"),
    build=build_decoder_only,
    examples=windows,
    recommender=recommender,
)
