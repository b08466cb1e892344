"""A small rated, reviewed catalogue with category paths, for the preference tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from genrec.data.dataset import Dataset

from .chat_server import ChatServer

ITEMS = {
    # item_id: (title, categories)
    "m1": ("hydrating lightweight moisturizer cream", ["Skin Care", "Face", "Moisturizers"]),
    "m2": ("lightweight fragrance-free moisturizer", ["Skin Care", "Face", "Moisturizers"]),
    "m3": ("hydrating night cream", ["Skin Care", "Face", "Moisturizers"]),
    "s1": ("mineral sunscreen lightweight", ["Skin Care", "Sun", "Sunscreen"]),
    "s2": ("mineral sunscreen tinted", ["Skin Care", "Sun", "Sunscreen"]),
    "n1": ("glitter nail polish shimmer", ["Makeup", "Nails", "Nail Polish"]),
    "n2": ("glitter shimmer top coat", ["Makeup", "Nails", "Nail Polish"]),
    "h1": ("volumizing shampoo", ["Hair Care", "Shampoos"]),
    "h2": ("volumizing conditioner", ["Hair Care", "Conditioners"]),
    "z1": ("zanzibar spice perfume", ["Fragrance", "Women's", "Perfume"]),
    "z2": ("zanzibar spice body mist", ["Fragrance", "Women's", "Body Mist"]),
}
# user: [(item, rating, review)], oldest first
HISTORIES = {
    "alice": [
        ("m1", 5, "Love it, my skin feels great"),
        ("m2", 4, "Nice and light"),
        ("n1", 1, "Awful, chipped in a day and the glitter is everywhere"),
        ("m3", 5, "Wonderful"),
        ("z1", 4, "Smells lovely"),
        ("z2", 5, "Great"),
    ],
    "bob": [
        ("h1", 4, "Good"),
        ("h2", 2, "Left my hair greasy, terrible"),
        ("s1", 5, "Best sunscreen"),
        ("s2", 3, "It is okay"),
        ("m2", 5, "Great"),
    ],
    "carol": [
        ("s1", 3, ""),
        ("n2", 5, "Beautiful shimmer"),
        ("n1", 4, "Pretty"),
        ("z1", 2, "Too strong, gave me a headache"),
        ("h1", 4, "Fine"),
    ],
    "dave": [("m1", 4, "ok"), ("m3", 5, "great")],
}


def make_rated_dataset(histories: dict = HISTORIES) -> Dataset:
    rows = [(u, i, float(r), t) for u, seq in histories.items() for i, r, t in seq]
    inter = pl.DataFrame(rows, schema=["user_id", "item_id", "rating", "review"], orient="row")
    items = pl.DataFrame(
        {
            "item_id": list(ITEMS),
            "title": [t for t, _ in ITEMS.values()],
            "categories": [c for _, c in ITEMS.values()],
        }
    )
    return Dataset.from_frames("rated", inter, items, source={"reader": "test"})


def rated_data_with_statements(root: Path) -> dict:
    """The rated dataset saved under ``root/data`` with tiny text IDs in ``root/ids`` and the
    attributes generator's statements of every step in ``root/prefs``: the recipe's ``data``
    section (what a recipe trained on statements needs)."""
    from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
    from genrec.prefs.steps import all_steps
    from genrec.prefs.store import write_statements

    from ..conftest import tiny_text_ids

    dataset = make_rated_dataset()
    dataset.save(root / "data")
    data = {"format": "genrec", "path": str(root / "data"), "max_history": 8}
    tiny_text_ids(data, root / "ids")
    generator = AttributesGenerator(AttributesConfig())
    write_statements(
        root / "prefs", dataset, generator, all_steps(dataset), steps_name="all", progress=False
    )
    return data


@pytest.fixture()
def rated_dataset() -> Dataset:
    return make_rated_dataset()


@pytest.fixture()
def serve() -> Iterator[Callable[..., ChatServer]]:
    """Starts chat-completions servers on 127.0.0.1 (``ChatServer(answer)``), stopped after
    the test."""
    servers: list[ChatServer] = []

    def start(answer):
        servers.append(ChatServer(answer).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()
