"""Every shipped recipe in configs/ is a valid Recipe (unknown keys or bad values fail here)."""

from pathlib import Path

import pytest

from genrec.config import load_config
from genrec.recipes.recipe import Recipe

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_recipe_loads(path: Path) -> None:
    recipe = load_config(Recipe, path)
    # an RL recipe (init_from) takes its model from the run it starts from
    assert recipe.init_from or recipe.model in path.name.replace("-", "_")
