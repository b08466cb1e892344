"""Generators that follow preference statements (decoder-only and TIGER)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.data.windows import PAD
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.tiger import Tiger, TigerConfig
from genrec.prefs.preference import Preference
from genrec.recipes.conditioning import Conditioning
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

N_ITEMS, DIM = 12, 6
HISTORIES = torch.tensor([[PAD, 1, 2], [3, 4, 5], [PAD, PAD, 7]])


@pytest.fixture(scope="module")
def ids() -> SemanticIds:
    """12 items in 3 categories: item i = (category i // 4, i % 4)."""
    items = np.arange(N_ITEMS)
    return SemanticIds(np.stack([items // 4, items % 4], axis=1), (3, 4))


def decoder_only(ids: SemanticIds, statement_dim: int = 0) -> DecoderOnly:
    config = DecoderOnlyConfig(
        hidden=32, layers=2, heads=2, ff_dim=64, dropout=0.0, statement_dim=statement_dim
    )
    return DecoderOnly(ids, config)


def tiger(ids: SemanticIds, statement_dim: int = 0) -> Tiger:
    config = TigerConfig(
        encoder_layers=1,
        decoder_layers=1,
        heads=2,
        head_dim=16,
        d_model=32,
        d_ff=64,
        dropout=0.0,
        statement_dim=statement_dim,
    )
    return Tiger(ids, config)


class CategoryStatements:
    """A statement encoder for the test: "category c" -> the unit vector e_c."""

    dim = DIM

    def __call__(self, preferences: list[list[Preference]], limit: int) -> torch.Tensor:
        out = torch.zeros(len(preferences), 1, DIM)
        for row, user in enumerate(preferences):
            for p in user[:1]:
                out[row, 0, int(p.text.split()[-1])] = 1.0
        return out


def category_examples(model: DecoderOnly | Tiger, n: int = 240) -> dict[str, torch.Tensor]:
    """Random histories; the target's category is random too, and only the statement (its
    target's category, as e_c) tells it. Every statement is written for the target."""
    gen = torch.Generator().manual_seed(0)
    histories = torch.randint(N_ITEMS, (n, 3), generator=gen)
    category = torch.randint(3, (n,), generator=gen)
    targets = category * 4 + (histories[:, -1] % 4)  # the code within it follows the history
    statements = torch.nn.functional.one_hot(category, DIM).float()[:, None, :]
    if isinstance(model, Tiger):
        return {"histories": histories, "targets": targets, "statements": statements}
    return {"windows": torch.cat([histories, targets[:, None]], 1), "statements": statements}


@pytest.mark.parametrize("family", [decoder_only, tiger])
def test_statements_steer_the_decoded_list(ids: SemanticIds, family) -> None:
    torch.manual_seed(0)
    model = family(ids, statement_dim=DIM)
    batch = category_examples(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    rec = GenerativeRecommender(
        model, ids, beams=8, token_offset=model.token_offset, statements=CategoryStatements()
    )
    for category in range(3):
        told = [[f"category {category}"]] * len(HISTORIES)
        items, _ = rec.recommend(HISTORIES, 2, preferences=told)
        assert (items[:, 0] // 4 == category).all(), (category, items)


@pytest.mark.parametrize("family", [decoder_only, tiger])
def test_without_statements_nothing_changes(ids: SemanticIds, family) -> None:
    """A model that takes statements decodes a user without any exactly as with none at all,
    alone or beside users that have some."""
    torch.manual_seed(0)
    model = family(ids, statement_dim=DIM).eval()
    rec = GenerativeRecommender(
        model, ids, beams=6, token_offset=model.token_offset, statements=CategoryStatements()
    )
    plain = rec.recommend(HISTORIES, 5)
    empty = rec.recommend(HISTORIES, 5, [[]] * 3)
    assert torch.equal(empty[0], plain[0]) and torch.equal(empty[1], plain[1])
    mixed_items, mixed_scores = rec.recommend(HISTORIES, 5, [["category 1"], [], []])
    assert torch.equal(mixed_items[1:], plain[0][1:])
    torch.testing.assert_close(mixed_scores[1:], plain[1][1:])


# Lists of fixed-seed models without statements, computed before statements existed: the
# no-preference path must keep them (ids as above, beams 6, k 5).
BEFORE = {
    "DecoderOnly": [[2, 0, 1, 7, 4], [2, 9, 8, 0, 1], [7, 4, 6, 2, 9]],
    "Tiger": [[8, 1, 2, 10, 9], [8, 1, 2, 10, 3], [1, 8, 2, 3, 4]],
}


def test_the_no_preference_path_gives_the_lists_it_gave_before(ids: SemanticIds) -> None:
    from genrec.models.decoder_only import DecoderOnlyConfig as D
    from genrec.models.tiger import TigerConfig as T

    configs = {
        DecoderOnly: D(hidden=16, layers=1, heads=2, ff_dim=32),
        Tiger: T(encoder_layers=1, decoder_layers=1, heads=2, head_dim=8, d_model=16, d_ff=32),
    }
    for cls, config in configs.items():
        torch.manual_seed(0)
        model = cls(ids, config).eval()
        rec = GenerativeRecommender(model, ids, beams=6, token_offset=model.token_offset)
        items, _ = rec.recommend(HISTORIES, 5, preferences=[["likes anything"]] * 3)
        assert items.tolist() == BEFORE[cls.__name__]


def test_a_statement_conditions_only_its_own_target(ids: SemanticIds) -> None:
    """Training leak guard: the statement of a window's last target must not reach the
    predictions of the earlier items (it was written from them)."""
    torch.manual_seed(0)
    model = decoder_only(ids, statement_dim=DIM).eval()
    windows = torch.tensor([[1, 2, 3, 4, 5]])
    seen = []
    handle = model.llm.lm_head.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    for category in range(2):
        statements = torch.zeros(1, 1, DIM)
        statements[0, 0, category] = 1
        model.loss({"windows": windows, "statements": statements})
    model.loss({"windows": windows})
    handle.remove()
    one, two, none = seen  # [4 items x 2 tokens, hidden] each: the next items' predictions
    torch.testing.assert_close(one[:-2], two[:-2])  # items 2..4: unconditioned, identical
    torch.testing.assert_close(one[:-2], none[:-2])
    assert not torch.allclose(one[-2:], two[-2:])  # item 5: its statement matters
    assert not torch.allclose(one[-2:], none[-2:])


VECTORS = torch.cat([torch.eye(DIM), 2 * torch.eye(DIM)[:2]])  # 8 texts, each its own vector


def statement_batches(
    drop: float, oracle_rate: float, hindsight: float = 0.0, context: float = 1.0
) -> dict[str, torch.Tensor]:
    """One decoder-only batch through ``Conditioning.extend`` with hand-made tables: train rows
    0..5 of one user; every target row has an oracle statement (text 0) and two statements;
    rows 1..5 have one hindsight statement each (texts 2..6, about next), and row 2 also one
    from its review (text 7)."""
    conditioning = object.__new__(Conditioning)
    conditioning.oracle = torch.tensor([-1, 0, 0, 0, 0, 0])
    conditioning.every = torch.tensor([[-1, -1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 1]])
    conditioning.vectors = VECTORS
    conditioning.about = torch.tensor([-1.0, -1.0, 1, 1, 1, 1, 1, 1])
    conditioning.hindsight = torch.tensor(
        [[0, 2, 3, 4, 5, 6], [0, 1, 1, 1, 1, 1], [0, 0, 7, 0, 0, 0], [0, 0, 1, 0, 0, 0]]
    )
    conditioning.available = torch.ones(6, dtype=torch.bool)
    windows = torch.tensor([[PAD, 10, 11, 12, 13, 14]] * 64)
    rows = torch.tensor([[-1, 0, 1, 2, 3, 4]] * 64)
    torch.manual_seed(0)
    batch = {"windows": windows, "rows": rows}
    return conditioning.extend(drop, oracle_rate, hindsight, context)(batch)


def test_statement_dropout_one_drops_every_statement_zero_none() -> None:
    dropped = statement_batches(drop=1.0, oracle_rate=0.5)
    assert not dropped["statements"].any()
    assert torch.equal(dropped["windows"][:, -1], torch.full((64,), 14))  # windows left whole
    kept = statement_batches(drop=0.0, oracle_rate=1.0)
    assert (kept["statements"].abs().sum((1, 2)) > 0).all()
    assert torch.equal(kept["statements"][:, 0, :DIM], torch.eye(2, DIM)[0].expand(64, -1))
    assert (kept["statements"][:, 0, DIM] == -1).all()  # the step's statements: about history
    # Each window is cut to end at the target its statements were written for.
    last = kept["windows"][:, -1]
    assert ((last >= 11) & (last <= 14)).all() and len(last.unique()) > 1
    every = statement_batches(drop=0.0, oracle_rate=0.0)["statements"]
    assert torch.equal(every[0, :2, :DIM], torch.eye(2, DIM))  # all the step's statements


def test_hindsight_statements_describe_the_window_target_and_are_about_next() -> None:
    batch = statement_batches(drop=0.0, oracle_rate=0.0, hindsight=1.0, context=0.0)
    statements, last = batch["statements"], batch["windows"][:, -1]
    assert (statements[:, 0, DIM] == 1).all() and not statements[:, 1:].any()  # no context
    # item 10 + r sits at train row r, whose hindsight statement is text r + 1; row 2's review
    # statement (text 7) is drawn as often as its item's
    said, review = statements[:, 0, :DIM], last == 12
    torch.testing.assert_close(said[~review], VECTORS[last[~review] - 10 + 1])
    drawn = {tuple(v.tolist()) for v in said[review]}
    assert drawn == {tuple(VECTORS[3].tolist()), tuple(VECTORS[7].tolist())}
    both = statement_batches(drop=0.0, oracle_rate=0.0, hindsight=1.0, context=1.0)
    assert (both["statements"][:, 1:, DIM] == -1).all()  # the step's, as context
