"""Avoid enforcement: the shared Recommender suite, and the guarantee as a property over random
statements, histories and models (scoring models and generators decoding by beam search)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec.data.splits import Split
from genrec.errors import DataError
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.popularity import Popularity
from genrec.models.recommender import PAD, Recommender
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.models.tiger import Tiger, TigerConfig
from genrec.prefs.preference import Preference
from genrec.recommend.avoid import Avoiding, merge_exclude
from genrec.recommend.generative import GenerativeRecommender

from ..models import generator_helpers
from ..models.recommender_suite import N_ITEMS, RecommenderTests, generated_split
from ..prefs.avoid_helpers import VOCAB, catalog_texts, hashing_matcher

pytestmark = pytest.mark.usefixtures("one_thread")


class TestAvoidingPopularity(RecommenderTests):
    def make_recommender(self, split: Split) -> Recommender:
        model = Popularity(split.n_items).fit(split.train)
        return Avoiding(model, hashing_matcher(catalog_texts(split.n_items)))

    def test_negative_statements_remove_their_items(self, model: Avoiding) -> None:
        histories = torch.full((2, 3), PAD)
        prefs = [["avoid glitter"], [Preference("mineral", "negative"), "likes cream"]]
        items, _ = model.recommend(histories, k=5, preferences=prefs)
        for row, banned in enumerate(model.excluded(prefs, 2)):
            assert banned.size and not np.isin(items[row].numpy(), banned).any()


def _scoring_models(n_items: int) -> list[Recommender]:
    split = generated_split()
    torch.manual_seed(0)
    sasrec = SASRec(n_items, 8, SASRecConfig(hidden=16, layers=1, heads=2, ff_dim=32)).eval()
    return [Popularity(n_items).fit(split.train), sasrec]


def _generators() -> list[Recommender]:
    ids = generator_helpers.three_level_ids()
    torch.manual_seed(0)
    tiger = Tiger(
        ids,
        TigerConfig(
            encoder_layers=1,
            decoder_layers=1,
            heads=2,
            head_dim=8,
            d_model=16,
            d_ff=32,
            max_history=6,
        ),
    ).eval()
    decoder = DecoderOnly(
        ids, DecoderOnlyConfig(hidden=16, layers=1, heads=2, ff_dim=32, max_history=6)
    ).eval()
    return [
        GenerativeRecommender(m, ids, beams=6, token_offset=m.token_offset)
        for m in (tiger, decoder)
    ]


MODELS = {"scoring": _scoring_models(N_ITEMS), "generative": _generators()}
statement = st.builds(
    lambda cue, words: Preference(f"{cue} {' '.join(words)}", "negative"),
    st.sampled_from(["avoid", "no", "Steers clear of", "nothing with", "Does not want another"]),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2, unique=True),
)


@pytest.mark.parametrize("family", ["scoring", "generative"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_produced_item_is_ever_avoided(family: str, data: st.DataObject) -> None:
    models = MODELS[family]
    model = models[data.draw(st.integers(0, len(models) - 1), label="model")]
    n_items = model.n_items
    matcher = hashing_matcher(
        catalog_texts(n_items, seed=data.draw(st.integers(0, 3), label="catalog")),
        threshold=data.draw(st.floats(0.2, 0.95), label="threshold"),
    )
    batch = data.draw(st.integers(1, 4), label="users")
    histories = torch.as_tensor(
        data.draw(
            st.lists(
                st.lists(st.integers(-1, n_items - 1), min_size=5, max_size=5),
                min_size=batch,
                max_size=batch,
            ),
            label="histories",
        )
    )
    prefs = data.draw(st.lists(st.lists(statement, max_size=3), min_size=batch, max_size=batch))
    k = data.draw(st.integers(1, n_items), label="k")
    items, _ = Avoiding(model, matcher).recommend(
        histories, k, preferences=prefs, exclude=histories
    )
    for row, user in enumerate(prefs):
        texts = [p.text for p in user]
        banned = np.flatnonzero(matcher.match(texts).any(0)) if user else np.array([], int)
        produced = items[row][items[row] != PAD].numpy()
        assert not np.isin(produced, banned).any(), "an avoided item was produced"
        assert not np.isin(produced, histories[row].numpy()).any(), "exclude was dropped"


def test_without_negative_statements_nothing_changes():
    model = MODELS["scoring"][1]
    avoiding = Avoiding(model, hashing_matcher(catalog_texts(N_ITEMS)))
    histories = torch.tensor([[PAD, 1, 2], [3, 4, 5]])
    prefs = [["likes glitter"], None]
    for got, want in zip(
        avoiding.recommend(histories, 5, preferences=prefs),
        model.recommend(histories, 5),
        strict=True,
    ):
        assert torch.equal(got, want)


def test_merge_exclude_appends_per_row_in_pad_layout():
    exclude = torch.tensor([[3, PAD], [PAD, PAD]])
    merged = merge_exclude(exclude, [np.array([7, 8]), np.array([], int)])
    assert merged.tolist() == [[3, PAD, 7, 8], [PAD, PAD, PAD, PAD]]
    assert merge_exclude(None, [np.array([], int)]) is None
    assert merge_exclude(None, [np.array([1])]).tolist() == [[1]]


def test_a_matcher_of_another_catalog_is_refused():
    with pytest.raises(DataError, match="matcher knows 4"):
        Avoiding(MODELS["scoring"][0], hashing_matcher(catalog_texts(4)))
