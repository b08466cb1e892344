"""Sequential models that score every item (SASRec, BERT4Rec, HSTU-style): next-item windows
in, a full-catalog score out, so each model is its own Recommender."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import Split
from genrec.data.windows import PAD, next_item_windows
from genrec.families.family import Capabilities, Family, Model, itself
from genrec.models.bert4rec import BERT4Rec, BERT4RecConfig
from genrec.models.hstu import HSTU, HSTUConfig
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:
    from genrec.recipes.recipe import Recipe


def windows(
    recipe: Recipe, model: Model, dataset: Dataset, split: Split, run: Path | None
) -> dict[str, torch.Tensor]:
    """Next-item windows, with their lengths so that a length-bucketed batch
    (train.bucket_by_length=true; off by default for these models) trims their padding."""
    found = torch.from_numpy(next_item_windows(split.train, split.max_history))
    return {"windows": found, "lengths": (found != PAD).sum(1)}


def build_sasrec(recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None) -> SASRec:
    return SASRec(split.n_items, split.max_history, recipe.sasrec)


def build_bert4rec(
    recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None
) -> BERT4Rec:
    return BERT4Rec(split.n_items, split.max_history, recipe.bert4rec)


def build_hstu(recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None) -> HSTU:
    return HSTU(split.n_items, split.max_history, recipe.hstu)


#: Bucketed batches made these models 3x cheaper but worse (TrainConfig.bucket_by_length).
SCORER = Capabilities(bucket_by_length=False)

SASREC = Family(
    name="sasrec",
    sections={"sasrec": SASRecConfig},
    # Its item embeddings teach the decoder-only generator and make hybrid semantic IDs.
    capabilities=Capabilities(bucket_by_length=False, distill="teacher"),
    build=build_sasrec,
    examples=windows,
    recommender=itself,
)
BERT4REC = Family(
    name="bert4rec",
    sections={"bert4rec": BERT4RecConfig},  # bidirectional Cloze
    capabilities=SCORER,
    build=build_bert4rec,
    examples=windows,
    recommender=itself,
)
HSTU_FAMILY = Family(
    name="hstu",
    sections={"hstu": HSTUConfig},
    capabilities=SCORER,
    build=build_hstu,
    examples=windows,
    recommender=itself,
)
