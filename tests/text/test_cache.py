import json
import warnings

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.errors import ConfigError
from genrec.text.cache import default_cache_dir, entry_paths, item_embeddings
from genrec.text.encoder import EncoderConfig, TextEncoder
from genrec.text.template import ItemTemplate

from ..conftest import cycle_dataset


def _only_entry(cache_dir):
    (meta,) = cache_dir.glob("*.json")
    return json.loads(meta.read_text())["key"]


def test_second_call_is_a_hit_without_encoding(tiny_dataset, fake_encoder, tmp_path):
    first = item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    second = item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 1
    assert first.shape == (5, 8) and second.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["dataset"]["fingerprint"] == tiny_dataset.fingerprint
    assert meta["template_fingerprint"] == ItemTemplate().fingerprint()


def test_changed_template_model_or_items_is_a_miss(tiny_dataset, fake_encoder, tmp_path):
    item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    item_embeddings(
        tiny_dataset,
        ItemTemplate(labels={"title": "Name"}),
        cache_dir=tmp_path,
        encoder=fake_encoder,
    )
    assert fake_encoder.calls == 2
    renamed = Dataset.from_frames(
        "tiny",
        tiny_dataset.interactions.join(tiny_dataset.users, on="user")
        .join(tiny_dataset.items.select("item", "item_id"), on="item")
        .select("user_id", "item_id"),
        tiny_dataset.items.select("item_id", title=pl.col("title") + " (2nd ed.)"),
        source={"reader": "test"},
    )
    assert renamed.fingerprint != tiny_dataset.fingerprint
    item_embeddings(renamed, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 3
    fake_encoder.weights = "fake-v2"  # e.g. the model was fine-tuned in place
    item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 4 and len(list(tmp_path.glob("*.safetensors"))) == 4


def test_same_item_texts_reuse_vectors_across_interaction_changes(
    tiny_dataset, fake_encoder, tmp_path
):
    item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    fewer = tiny_dataset.derive(
        {"step": "drop u4"}, tiny_dataset.interactions.filter(pl.col("user") != 3)
    )
    assert fewer.fingerprint != tiny_dataset.fingerprint and fewer.n_items == 5
    item_embeddings(fewer, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 1  # the vectors depend on the texts, which did not change


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "meta", "no-meta"])
def test_corrupt_entry_is_recomputed_with_a_warning(tiny_dataset, fake_encoder, tmp_path, damage):
    good = item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    tensors, meta = entry_paths(tmp_path, _only_entry(tmp_path))
    raw = tensors.read_bytes()
    if damage == "truncate":
        tensors.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        tensors.write_bytes(b"not a safetensors file")
    elif damage == "flip":
        tensors.write_bytes(raw[:-4] + bytes(4))  # same size, different last value
    elif damage == "meta":
        record = json.loads(meta.read_text())
        meta.write_text(json.dumps({**record, "shape": [4, 8]}))
    else:
        meta.unlink()
    with pytest.warns(RuntimeWarning, match="corrupt"):
        again = item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 2
    np.testing.assert_array_equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: a clean hit now
        item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=fake_encoder)
    assert fake_encoder.calls == 2


def test_items_without_text_warn(fake_encoder, tmp_path):
    with pytest.warns(UserWarning, match="40 of 40 items have none of the template fields"):
        out = item_embeddings(cycle_dataset(), cache_dir=tmp_path, encoder=fake_encoder)
    assert np.unique(out, axis=0).shape[0] == 40  # the item-id fallback keeps them apart


def test_default_cache_dir_and_conflicting_arguments(
    monkeypatch, tmp_path, tiny_dataset, fake_encoder
):
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "embeddings"
    monkeypatch.delenv("GENREC_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "genrec", "embeddings")
    with pytest.raises(ConfigError, match="pass only one"):
        item_embeddings(
            tiny_dataset, encoder_config=EncoderConfig(batch_size=3), encoder=fake_encoder
        )


def test_real_model_end_to_end_hit_skips_loading(tiny_dataset, minilm, tmp_path, monkeypatch):
    out = item_embeddings(tiny_dataset, cache_dir=tmp_path, encoder=minilm, progress=False)
    assert out.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)

    def no_encoding(*args, **kwargs):
        raise AssertionError("a cache hit must not encode")

    monkeypatch.setattr(TextEncoder, "encode", no_encoding)
    again = item_embeddings(tiny_dataset, encoder_config=minilm.config, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, again)
