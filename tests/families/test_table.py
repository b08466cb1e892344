"""The family table is the one place that knows model families: a toy family added to it
trains, evaluates and reloads through the shared recipes with no other edit, and the recipes
and the service name no family and test no model or adapter class."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from genrec.config import load_config
from genrec.families import FAMILIES, Capabilities, Family
from genrec.families.family import itself
from genrec.families.item_scorers import windows
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.recipes.evaluate import load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import cycle_dataset

pytestmark = pytest.mark.usefixtures("one_thread")
SRC = Path(__file__).resolve().parents[2] / "src" / "genrec"


def toy_build(recipe, dataset, split, ids):
    """A family of its own: a one-layer SASRec without a recipe section."""
    return SASRec(split.n_items, split.max_history, SASRecConfig(hidden=8, layers=1, heads=1))


TOY = Family(
    name="toy",
    sections={},
    capabilities=Capabilities(bucket_by_length=False),
    build=toy_build,
    examples=windows,
    recommender=itself,
)


def test_a_family_added_to_the_table_trains_evaluates_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setitem(FAMILIES, "toy", TOY)
    cycle_dataset(n_users=40).save(tmp_path / "data")
    recipe = load_config(
        Recipe,
        {
            "model": "toy",
            "run_dir": str(tmp_path / "run"),
            "data": {"format": "genrec", "path": str(tmp_path / "data"), "max_history": 8},
            "train": {"epochs": 1, "batch_size": 64, "progress": False},
        },
    )
    run = train(recipe)
    manifest = json.loads(run.manifest.read_text())
    assert manifest["status"] == "finished"
    assert set(manifest["metrics"]) >= {"valid", "test"}
    loaded, _, _, model = load_run(run.path)
    assert loaded.model == "toy" and model.capabilities.modules


def test_a_recipe_names_a_family_of_the_table():
    with pytest.raises(ValueError, match="unknown model family.*sasrec"):
        load_config(Recipe, {"model": "sasrex"})


def test_validation_follows_capabilities_not_names(monkeypatch):
    """A new family that follows statements as vectors may take prefs.statements."""
    follower = Family(
        name="follower",
        sections={},
        capabilities=Capabilities(decodes_ids=True, statements="vectors"),
        build=toy_build,
        examples=windows,
        recommender=itself,
    )
    monkeypatch.setitem(FAMILIES, "follower", follower)
    assert load_config(Recipe, {"model": "follower", "prefs": {"statements": "x"}})
    with pytest.raises(ValueError, match="follower"):
        load_config(Recipe, {"model": "sasrec", "prefs": {"statements": "x"}})


def model_and_adapter_classes() -> set[str]:
    """The classes defined in genrec.models and genrec.recommend."""
    names = set()
    for folder in ("models", "recommend"):
        for path in (SRC / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            names |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    return names


@pytest.mark.parametrize("stage", ["recipes", "serving"])
def test_no_family_names_or_class_checks_outside_the_table(stage):
    classes, families = model_and_adapter_classes(), set(FAMILIES)
    found = []
    for path in sorted((SRC / stage).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and node.value in families:
                found.append(f"{where}: the family name {node.value!r}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass")
            ):
                tested = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                found += [f"{where}: isinstance against {c}" for c in sorted(tested & classes)]
    assert not found, "\n".join(found)
