"""Every family in the table, and every adapter that makes a network a Recommender, passes the
shared Recommender contract (``RecommenderTests``); a family added to the table is picked up
here with no edit. Models are untrained and tiny: the contract is about the protocol, not the
quality of the lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrec.config import load_config
from genrec.data.splits import Split
from genrec.families import FAMILIES
from genrec.models.recommender import Recommender
from genrec.recipes.recipe import Recipe
from genrec.recommend.cold_items import ColdItems, ColdItemsConfig
from genrec.recommend.ensemble import ensemble
from genrec.sid.semantic_ids import SemanticIds

from ..conftest import save_tiny_causal_lm
from ..models.recommender_suite import RecommenderTests, generated_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

#: Tiny sections per family (the table's defaults are full-size models).
TINY: dict[str, dict] = {
    "sasrec": {"hidden": 16, "layers": 1, "heads": 1},
    "bert4rec": {"hidden": 16, "layers": 1, "heads": 1},
    "hstu": {"hidden": 16, "layers": 1, "heads": 1},
    "tiger": {
        "encoder_layers": 1,
        "decoder_layers": 1,
        "heads": 2,
        "head_dim": 8,
        "d_model": 16,
        "d_ff": 32,
    },
    "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32},
}


def tiny_ids(n_items: int) -> SemanticIds:
    """Unique 2-token IDs: item i = (i // 4, i % 4)."""
    codes = np.stack([np.arange(n_items) // 4, np.arange(n_items) % 4], axis=1)
    return SemanticIds(codes, (int(codes[:, 0].max()) + 1, 4))


def recipe_for(name: str, llm: Path | None, **extra: object) -> Recipe:
    raw: dict = {"model": name, **extra}
    if name in TINY:
        raw[name] = TINY[name]
    if FAMILIES[name].capabilities.alignment:
        raw["llm"] = {"source": str(llm)}
        raw.setdefault("train", {})["cpu"] = True
    return load_config(Recipe, raw)


def family_recommender(
    recipe: Recipe, split: Split, cold: bool = False
) -> tuple[Recommender, object]:
    """The family's model, built as training builds it, turned into its Recommender."""
    family = recipe.family
    ids = tiny_ids(split.n_items) if family.capabilities.decodes_ids else None
    model = family.build(recipe, generated_dataset(), split, ids)
    if hasattr(model, "eval"):
        model.eval()
    scorer = None
    if cold:  # half the catalog scored from "text" beside the generated list
        rng = np.random.default_rng(0)
        embeddings = rng.standard_normal((split.n_items, 8)).astype(np.float32)
        cold_items = np.arange(split.n_items) % 2 == 0
        scorer = ColdItems(embeddings, cold_items, ids, ColdItemsConfig(items="text"))
    return family.recommender(model, recipe, scorer), model


class FamilyTests(RecommenderTests):
    """The contract through one family's ``build`` and ``recommender``."""

    family: str = ""
    extra: dict = {}
    cold: bool = False
    llm: Path | None = None

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, split, tmp_path_factory):
        cls.llm = save_tiny_causal_lm(tmp_path_factory.mktemp("llm"), "llama")
        return cls().make_recommender(split)

    def make_recommender(self, split: Split) -> Recommender:
        recipe = recipe_for(self.family, self.llm, **self.extra)
        return family_recommender(recipe, split, self.cold)[0]

    def test_reports_capabilities(self, model: Recommender) -> None:
        can = model.capabilities
        assert can.mode in ("direct", "reasoning")
        assert (can.beams is not None) == FAMILIES[self.family].capabilities.decodes_ids


# One test class per family of the table: a new family is covered when it joins the table.
for _name in FAMILIES:
    globals()[f"TestFamily_{_name}"] = type(
        f"TestFamily_{_name}", (FamilyTests,), {"family": _name}
    )


class TestColdItemsGenerative(FamilyTests):
    """A generator's list with cold items merged in (``decode.cold.items=text``)."""

    family = "decoder_only"
    cold = True


class TestPromptedLLM(FamilyTests):
    """The LLM reading a request's statements as text in its prompt."""

    family = "llm"
    extra = {"prefs": {"statements": "unused-here"}}

    def test_reads_preferences(self, model: Recommender) -> None:
        assert model.capabilities.reads_preferences


class TestReasoningLLM(FamilyTests):
    """The LLM writing a chain before its answer (decode.mode=reasoning)."""

    family = "llm"
    extra = {"decode": {"mode": "reasoning", "chain_tokens": 4}}

    def test_reasons(self, model: Recommender) -> None:
        assert model.capabilities.mode == "reasoning"


class TestEnsemble(RecommenderTests):
    """Two generators over the same IDs decoded as one."""

    def make_recommender(self, split: Split) -> Recommender:
        members = [
            family_recommender(recipe_for(name, None), split)[0]
            for name in ("tiger", "decoder_only")
        ]
        return ensemble(members)

    def test_its_modules_are_the_members(self, model: Recommender) -> None:
        assert len(model.capabilities.modules) == 2
