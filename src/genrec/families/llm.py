"""A pretrained causal LLM with ID tokens: trained on text alignment tasks, reads preference
statements as text in its prompt, and may reason (write a chain) before it answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import Split
from genrec.families.family import Capabilities, Family
from genrec.families.generators import generative
from genrec.models.llm_backbone import LLMBackbone, LLMConfig, llm_backbone
from genrec.models.llm_tasks import AlignmentConfig, PromptStatements, alignment_samples, encode
from genrec.models.recommender import Recommender
from genrec.prefs.chains import ChainsConfig, chain_writer
from genrec.prefs.hindsight import target_statements
from genrec.prefs.store import load_statements
from genrec.recommend.cold_items import ColdItems
from genrec.recommend.generative import in_dtype
from genrec.recommend.prompted import PromptedRecommender
from genrec.recommend.reasoning import ReasoningRecommender
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.run_dir import RunDir

if TYPE_CHECKING:
    from genrec.recipes.recipe import Recipe

#: The chains a chat model wrote for a run's reasoning examples, by prompt (``prefs.chains``).
CHAINS = "chains.jsonl"


def item_titles(dataset: Dataset) -> list[str | None]:
    """Each item's title, by item index (None where it has none)."""
    return dataset.items.sort("item")["title"].to_list()


def item_categories(dataset: Dataset) -> list[str | None]:
    """Each item's category path ``a > b``, by item index (None where it has none)."""
    paths = dataset.items.sort("item")["categories"].to_list()
    return [" > ".join(p) if p else None for p in paths]


def build(recipe: Recipe, dataset: Dataset, split: Split, ids: SemanticIds | None) -> LLMBackbone:
    assert ids is not None  # Capabilities.decodes_ids: the recipe loads them
    device = "cpu" if recipe.train.cpu else None
    return llm_backbone(ids, recipe.llm, item_titles(dataset), device)


def alignment_examples(
    recipe: Recipe, model: LLMBackbone, dataset: Dataset, split: Split, run: Path | None = None
) -> dict[str, torch.Tensor]:
    """The token tensors of the recipe's alignment tasks (``genrec.models.llm_tasks``). With
    ``prefs.statements`` the sequence tasks' prompts carry the step's statements, and those
    statements feed the statement tasks unless ``alignment.statements`` names others. A
    ``chains.writer`` other than the templates writes the reasoning chains, cached in the run
    directory ``run`` (``CHAINS``), and records there how many replies it could use."""
    said = recipe.prefs.statements
    said_table = load_statements(said, dataset).table if said else None
    told = recipe.alignment.statements
    statements = load_statements(told, dataset).table if told else said_table
    cache = run / CHAINS if run is not None else None
    writer = chain_writer(recipe.chains, cache)
    prompts = None
    if said_table is not None:
        prefs = recipe.prefs
        wanted = target_statements(dataset, split.train) if prefs.hindsight > 0 else None
        prompts = PromptStatements(
            said_table, prefs.drop, prefs.max_statements, wanted, prefs.hindsight, prefs.context
        )
    samples = alignment_samples(
        split.train,
        model.item_strings,
        item_titles(dataset),
        recipe.alignment,
        recipe.llm.max_history,
        recipe.train.seed,
        statements,
        item_categories(dataset),
        prompts,
        writer,
    )
    if writer is not None and run is not None:  # how many chains the model wrote
        RunDir(run).write_manifest(chains=dict(writer.counts))
    return encode(samples, model.chat)


def recommender(model: LLMBackbone, recipe: Recipe, cold: ColdItems | None) -> Recommender:
    """Reasoning mode writes a chain, then the ID; trained with statements in its prompts it
    reads a request's preferences as text; otherwise it decodes IDs right after the prompt."""
    said = recipe.prefs.max_statements if recipe.prefs.statements else 0
    decode = recipe.decode
    if decode.mode == "reasoning":
        return ReasoningRecommender(
            in_dtype(model, getattr(torch, decode.precision)),  # type: ignore[arg-type]
            beams=decode.beams,
            chain_tokens=decode.chain_tokens,
            scoring=decode.scoring,
            max_statements=said,
        )
    if said:
        return PromptedRecommender(
            in_dtype(model, getattr(torch, decode.precision)),  # type: ignore[arg-type]
            beams=decode.beams,
            max_statements=said,
            scoring=decode.scoring,
        )
    return generative(model, recipe, cold, follows=False)


LLM = Family(
    name="llm",
    # alignment: its training tasks; chains: who writes the reasoning examples' chains.
    sections={"llm": LLMConfig, "alignment": AlignmentConfig, "chains": ChainsConfig},
    capabilities=Capabilities(
        decodes_ids=True, statements="text", reasons=True, alignment=True, rl=True
    ),
    build=build,
    examples=alignment_examples,
    recommender=recommender,
)
