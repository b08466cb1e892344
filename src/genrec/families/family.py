"""What a model family is: one object that says how to build, train and serve its model.

Shared code (training, evaluation, RL, the recipe's checks, serving) asks a family's
``capabilities`` and calls its three functions; it never tests a model class or a family name.
Adding a family is a model file, one module here with its ``Family`` and a line in
``genrec.families.table``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import Split
from genrec.models.recommender import Recommender
from genrec.recommend.cold_items import ColdItems
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:  # the recipe is composed above this stage, from the families' sections
    from genrec.recipes.recipe import Recipe

#: What one training example is (``Capabilities.examples``).
Layout = Literal["transitions", "windows"]

#: A family's model: a torch module, or a fitted counter (popularity) that has no weights.
Model = Any


@dataclass(frozen=True)
class Capabilities:
    """What a family's model can do; the recipe is validated against these, never names."""

    # Learned weights trained by the shared loop (popularity is counted: no training loop).
    trains: bool = True
    # Generates semantic IDs under the trie: needs `ids`, may merge cold items, join an
    # ensemble and be post-trained with RL.
    decodes_ids: bool = False
    # How it follows preference statements: as sentence vectors, as text in its prompt, or not.
    statements: Literal["vectors", "text"] | None = None
    # Can be post-trained with RL (genrec.rl): its model is a policy over ID tokens (a StepModel
    # whose steps carry gradients).
    rl: bool = False
    # Writes a chain of reasoning before its answer (decode.mode=reasoning, rl.mode=reasoning).
    reasons: bool = False
    # Distillation: a "student" learns a teacher's next-item distribution (distill.teacher);
    # a "teacher" scores every item from learned item embeddings (also the collaborative
    # embeddings of hybrid semantic IDs).
    distill: Literal["student", "teacher"] | None = None
    # Trains on text alignment tasks (the `alignment` and `chains` sections).
    alignment: bool = False
    # What one training example is: a history and its next item ("transitions"), or a window
    # whose every position predicts the next ("windows"); statements attach to either.
    examples: Layout = "windows"
    # The default of train.bucket_by_length: batches of similar length trim padding. SASRec,
    # BERT4Rec and HSTU trained worse bucketed (see TrainConfig.bucket_by_length).
    bucket_by_length: bool = True


@dataclass(frozen=True)
class Family:
    """One model family: its name (the recipe's ``model``), its recipe sections (name -> config
    class; the first is its architecture), capabilities and how its model is built, trained
    and turned into a Recommender."""

    name: str
    sections: dict[str, type]
    capabilities: Capabilities
    # (recipe, dataset, split, ids or None) -> a fresh model (untrained; popularity fitted).
    build: Callable[[Recipe, Dataset, Split, SemanticIds | None], Model]
    # (recipe, model, dataset, split, run directory or None) -> the example tensors its
    # ``forward`` trains on; the directory caches what is costly to make again.
    examples: Callable[[Recipe, Model, Dataset, Split, Path | None], dict[str, torch.Tensor]]
    # (model, recipe, cold items or None) -> the Recommender that evaluation and serving use.
    recommender: Callable[[Model, Recipe, ColdItems | None], Recommender]

    @property
    def architecture(self) -> str | None:
        """The section that shapes its weights (an RL start's, inherited), if it has one."""
        return next(iter(self.sections), None)


def no_examples(
    recipe: Recipe, model: Model, dataset: Dataset, split: Split, run: Path | None
) -> dict[str, torch.Tensor]:
    """For a family that does not train (``Capabilities.trains`` false)."""
    raise TypeError(f"model {recipe.model} is not trained by the loop: it has no examples")


def itself(model: Model, recipe: Recipe, cold: ColdItems | None) -> Recommender:
    """The recommender of a family whose model is one already (it scores every item)."""
    return model
