"""The popularity baseline: training counts, no weights and no training loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genrec.data.dataset import Dataset
from genrec.data.splits import Split
from genrec.families.family import Capabilities, Family, itself, no_examples
from genrec.models.popularity import Popularity
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:
    from genrec.recipes.recipe import Recipe


def build(recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None) -> Popularity:
    return Popularity(split.n_items).fit(split.train)


POPULARITY = Family(
    name="popularity",
    sections={},
    capabilities=Capabilities(trains=False),
    build=build,
    examples=no_examples,
    recommender=itself,
)
