"""RQ-VAE: training behaviour, determinism, dead-code reset, boundary checks, folder format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec.errors import ConfigError, DataError, NotFittedError
from genrec.sid import RQVAE, Quantizer, RQVAEConfig, code_usage, load_quantizer
from genrec.sid.rqvae import RQVAEModule, reset_dead_codes

from . import quantizer_helpers
from .quantizer_helpers import blobs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: single-threaded
data = quantizer_helpers.data  # fixture: blobs()


K = 16
SMALL = RQVAEConfig(
    hidden_dims=(64, 32),
    latent_dim=8,
    n_levels=3,
    codebook_size=K,
    epochs=20,
    batch_size=256,
    lr=1e-2,  # few steps: a large step shows learning quickly
    kmeans_iter=5,
    device="cpu",
    progress=False,
)


@pytest.fixture(scope="module")
def fitted(data: np.ndarray) -> RQVAE:
    return RQVAE(SMALL).fit(data)


def test_fit_returns_self_and_follows_the_protocol(data: np.ndarray) -> None:
    quantizer = RQVAE(SMALL, epochs=1)
    assert quantizer.fit(data) is quantizer
    assert isinstance(quantizer, Quantizer)
    assert (quantizer.n_levels, quantizer.codebook_size) == (3, K)


def test_reconstruction_improves_and_codes_stay_in_use(fitted: RQVAE) -> None:
    recon = [h["recon"] for h in fitted.history_]
    assert len(recon) == SMALL.epochs
    assert recon[-1] < 0.6 * recon[0]
    means = np.reshape(recon, (-1, 5)).mean(axis=1)  # by 5 epochs: code resets cause blips
    assert (np.diff(means) < 0).all()
    assert fitted.codes_ is not None
    assert code_usage(fitted.codes_, K).min() >= 0.8


def test_codes_shape_dtype_range_and_reconstruction(fitted: RQVAE, data: np.ndarray) -> None:
    codes = fitted.predict(data)
    assert codes.shape == (len(data), 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < K
    np.testing.assert_array_equal(codes, fitted.codes_)
    rebuilt = fitted.reconstruct(codes)
    assert rebuilt.shape == data.shape and rebuilt.dtype == np.float32
    assert ((rebuilt - data) ** 2).mean() < 0.6 * data.var(axis=0).sum() / data.shape[1]


def test_predict_on_new_points(fitted: RQVAE) -> None:
    codes = fitted.predict(blobs(n=40, seed=3))
    assert codes.shape == (40, 3) and codes.max() < K


def test_same_seed_same_codes_other_seed_other_codes(data: np.ndarray) -> None:
    a = RQVAE(SMALL, epochs=2, seed=5).fit(data)
    b = RQVAE(SMALL, epochs=2, seed=5).fit(data)
    c = RQVAE(SMALL, epochs=2, seed=6).fit(data)
    np.testing.assert_array_equal(a.codes_, b.codes_)
    assert a.history_ == b.history_
    assert (a.codes_ != c.codes_).any()


def test_fit_leaves_the_global_rng_alone(data: np.ndarray) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    RQVAE(SMALL, epochs=1).fit(data[:200])
    torch.testing.assert_close(torch.rand(3), expected)


def test_dead_codes_move_onto_current_residuals() -> None:
    model = RQVAEModule(6, SMALL)
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters())
    model(x)[0].backward()
    optimizer.step()
    before = model.codebooks.detach().clone()
    with torch.no_grad():
        residuals = model.quantize(model.encoder(x))[1]
    dead = torch.zeros(3, K, dtype=torch.bool)
    dead[0, [2, 5]] = dead[2, 7] = True
    assert reset_dead_codes(model, x, dead, optimizer, torch.Generator().manual_seed(0)) == 3
    after = model.codebooks.detach()
    torch.testing.assert_close(after[~dead], before[~dead])
    for level, code in [(0, 2), (0, 5), (2, 7)]:  # each reset code IS one current residual
        assert torch.isclose(residuals[level], after[level, code]).all(dim=1).any()
    assert (optimizer.state[model.codebooks]["exp_avg"][dead] == 0).all()


def test_save_load_round_trip(fitted: RQVAE, data: np.ndarray, tmp_path: Path) -> None:
    fitted.save(tmp_path / "q")
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [
        "codebooks.safetensors",
        "quantizer.json",
        "weights.safetensors",
    ]
    meta = json.loads((tmp_path / "q" / "quantizer.json").read_text())
    assert meta["type"] == "rqvae" and meta["config"]["hidden_dims"] == [64, 32]
    for loaded in (RQVAE.load(tmp_path / "q"), load_quantizer(tmp_path / "q")):
        assert isinstance(loaded, RQVAE) and loaded.config == fitted.config
        np.testing.assert_array_equal(loaded.predict(data), fitted.predict(data))
        codes = fitted.codes_
        np.testing.assert_array_equal(loaded.reconstruct(codes), fitted.reconstruct(codes))


def test_unfitted_use_says_to_call_fit(tmp_path: Path) -> None:
    quantizer = RQVAE(SMALL)
    for call in (
        lambda: quantizer.predict(np.ones((3, 4), np.float32)),
        lambda: quantizer.reconstruct(np.zeros((3, 3), np.int64)),
        lambda: quantizer.save(tmp_path / "q"),
    ):
        with pytest.raises(NotFittedError, match=r"RQVAE is not fitted: call fit\(embeddings\)"):
            call()


def test_bad_input_is_a_data_error_naming_the_rows(fitted: RQVAE, data: np.ndarray) -> None:
    bad = data[:100].copy()
    bad[9, 1] = np.nan
    with pytest.raises(DataError, match=r"fit: row \[9\]: NaN or inf"):
        RQVAE(SMALL).fit(bad)
    bad[9, 1], bad[11] = 1.0, 0.0
    with pytest.raises(DataError, match=r"fit: row \[11\]: all zeros"):
        RQVAE(SMALL).fit(bad)
    with pytest.raises(DataError, match=r"found shape \(2, 10, 32\)"):
        RQVAE(SMALL).fit(data[:20].reshape(2, 10, 32))
    with pytest.raises(DataError, match=f"10 items but codebook_size={K}"):
        RQVAE(SMALL).fit(data[:10])
    with pytest.raises(DataError, match="predict: embeddings have dimension 16.*dimension 32"):
        fitted.predict(data[:5, :16])
    with pytest.raises(DataError, match=r"predict: rows \[0, 1\]: NaN"):
        fitted.predict(np.full((2, 32), np.inf, np.float32))


def test_config_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError, match=r"epochs: .* >= 1.*lr: .* > 0.*device: expected one of"):
        RQVAEConfig(epochs=0, lr=0.0, device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown config keys \['epoch'\]"):
        RQVAE(epoch=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_config_error(data: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        RQVAE(SMALL, device="cuda").fit(data)


def test_corrupted_weights_are_a_data_error(fitted: RQVAE, tmp_path: Path) -> None:
    fitted.save(tmp_path / "q")
    (tmp_path / "q" / "weights.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match="weights.safetensors: cannot read"):
        load_quantizer(tmp_path / "q")
    (tmp_path / "q" / "weights.safetensors").unlink()
    with pytest.raises(DataError, match="weights.safetensors: missing"):
        load_quantizer(tmp_path / "q")


@pytest.mark.gpu
def test_fits_on_a_gpu(data: np.ndarray) -> None:
    quantizer = RQVAE(SMALL, device="cuda").fit(data)
    assert code_usage(quantizer.predict(data), K).min() >= 0.8
