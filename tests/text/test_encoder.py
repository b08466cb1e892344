import numpy as np
import pytest

from genrec.errors import ConfigError, DataError
from genrec.text.encoder import DEFAULT_MODEL, EncoderConfig, TextEncoder, resolve_model

TEXTS = [
    "Title: Matte red lipstick; Brand: Glow; Categories: Beauty > Makeup > Lips",
    "Title: Long-lasting crimson lip colour; Categories: Beauty > Makeup > Lips",
    "Title: 50 ft garden hose with spray nozzle; Categories: Patio > Watering",
    "Title: Wooden building blocks for toddlers; Categories: Toys > Blocks",
]


def test_packaged_minilm_shapes_and_unit_norm(minilm):
    out = minilm.encode(TEXTS, progress=False)
    assert out.shape == (4, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert minilm.dim == 384


def test_similar_items_are_closer_than_unrelated(minilm):
    out = minilm.encode(TEXTS, progress=False)
    sim = out @ out.T
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[0, 3] + 0.2


def test_encode_is_deterministic_and_order_preserving(minilm):
    forward = minilm.encode(TEXTS, progress=False)
    backward = minilm.encode(TEXTS[::-1], progress=False)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_model_loads_lazily_once():
    encoder = TextEncoder(EncoderConfig(device="cpu"))
    assert encoder._model is None  # constructing costs nothing
    identity = encoder.identity()  # neither does the identity (a cache key needs only that)
    assert encoder._model is None and len(identity["weights"]) == 16
    assert resolve_model(DEFAULT_MODEL) == resolve_model(f"sentence-transformers/{DEFAULT_MODEL}")


def test_local_folder_is_accepted(minilm):
    folder = resolve_model(DEFAULT_MODEL)
    by_path = TextEncoder(EncoderConfig(model=str(folder), device="cpu"))
    assert by_path.identity()["weights"] == minilm.identity()["weights"]


def test_bad_inputs_raise_clear_errors(minilm):
    with pytest.raises(DataError, match="empty"):
        minilm.encode([])
    with pytest.raises(DataError, match="one str"):
        minilm.encode("a single text")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"rows \[1\] are NoneType"):
        minilm.encode(["fine", None])  # type: ignore[list-item]


def test_unknown_model_says_to_download_beforehand():
    with pytest.raises(ConfigError) as err:
        TextEncoder(EncoderConfig(model="no-such-org/no-such-model")).encode(["x"])
    msg = str(err.value)
    assert "not available offline" in msg and "beforehand" in msg and "path" in msg
    with pytest.raises(ConfigError, match="not a model folder"):
        TextEncoder(EncoderConfig(model="./no/such/folder")).identity()


def test_nan_output_is_an_error(minilm, monkeypatch):
    broken = TextEncoder(minilm.config)
    broken._model = minilm.model
    nan = np.full((2, 384), np.nan, dtype=np.float32)
    monkeypatch.setattr(minilm.model, "encode", lambda *a, **k: nan)
    with pytest.raises(DataError, match=r"NaN, infinite or zero embeddings \(rows \[0, 1\]"):
        broken.encode(["a", "b"], progress=False)


def test_config_validation():
    with pytest.raises(ConfigError) as err:
        EncoderConfig(batch_size=0, max_seq_length=0)
    assert all(k in str(err.value) for k in ("batch_size", "max_seq_length"))
    with pytest.raises(ConfigError, match="model: empty"):
        EncoderConfig(model=" ")
