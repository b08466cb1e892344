"""ResidualKMeans (plain and balanced), its boundary checks and its folder format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec.errors import ConfigError, DataError, NotFittedError
from genrec.sid import Quantizer, ResidualKMeans, RKMeansConfig, code_usage, load_quantizer
from genrec.sid.rkmeans import balanced_assign

from . import quantizer_helpers
from .quantizer_helpers import blobs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: single-threaded
data = quantizer_helpers.data  # fixture: blobs()


K = 32


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "balanced"])
def fitted(request: pytest.FixtureRequest, data: np.ndarray) -> ResidualKMeans:
    return ResidualKMeans(n_levels=3, codebook_size=K, balanced=request.param).fit(data)


def test_fit_returns_self_and_follows_the_protocol(data: np.ndarray) -> None:
    quantizer = ResidualKMeans(n_levels=2, codebook_size=8, n_iter=3)
    assert quantizer.fit(data) is quantizer
    assert isinstance(quantizer, Quantizer)


def test_codes_shape_dtype_and_range(fitted: ResidualKMeans, data: np.ndarray) -> None:
    codes = fitted.predict(data)
    assert codes.shape == (len(data), 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < K
    assert fitted.codes_ is not None and fitted.codes_.shape == codes.shape


def test_usage_is_full_on_spread_data(fitted: ResidualKMeans) -> None:
    assert fitted.codes_ is not None
    assert code_usage(fitted.codes_, K).min() >= 0.95


def test_plain_training_codes_are_the_nearest_centroids(data: np.ndarray) -> None:
    quantizer = ResidualKMeans(n_levels=3, codebook_size=K).fit(data)
    np.testing.assert_array_equal(quantizer.predict(data), quantizer.codes_)


def test_residuals_shrink_level_by_level(fitted: ResidualKMeans, data: np.ndarray) -> None:
    codes = fitted.predict(data)
    errors = []
    for levels in (1, 2, 3):
        partial = fitted.codebooks_[torch.arange(levels), torch.from_numpy(codes[:, :levels])]
        errors.append(((data - partial.sum(1).numpy()) ** 2).mean())
    assert errors[0] > errors[1] > errors[2]
    np.testing.assert_allclose(fitted.reconstruct(codes), partial.sum(1).numpy(), rtol=1e-6)


def test_balanced_clusters_respect_the_capacity_exactly(data: np.ndarray) -> None:
    codes = ResidualKMeans(n_levels=3, codebook_size=K, balanced=True).fit_predict(data)
    capacity = math.ceil(len(data) / K)
    for level in range(3):
        assert np.bincount(codes[:, level], minlength=K).max() <= capacity


def test_balanced_assign_places_every_point_nearest_first() -> None:
    dist = torch.tensor([[0.0, 5.0], [1.0, 4.0], [2.0, 0.5], [3.0, 9.0], [0.5, 9.0]])
    labels = balanced_assign(dist, capacity=3)
    assert labels.tolist() == [0, 0, 1, 1, 0]  # 3 is the farthest of cluster 0's four
    unbalanced = torch.rand(300, 7, generator=torch.Generator().manual_seed(0)) ** 4
    unbalanced[:, 0] = 0  # everyone wants cluster 0
    counts = torch.bincount(balanced_assign(unbalanced, capacity=43), minlength=7)
    assert counts.sum() == 300 and counts.max() <= 43


def test_same_seed_same_codes_other_seed_other_codes(data: np.ndarray) -> None:
    for balanced in (False, True):
        a = ResidualKMeans(2, 16, balanced=balanced, n_iter=5, seed=1).fit_predict(data)
        b = ResidualKMeans(2, 16, balanced=balanced, n_iter=5, seed=1).fit_predict(data)
        c = ResidualKMeans(2, 16, balanced=balanced, n_iter=5, seed=2).fit_predict(data)
        np.testing.assert_array_equal(a, b)
        assert (a != c).any()


def test_predict_on_new_points_matches_nearest_centroid(fitted: ResidualKMeans) -> None:
    new = blobs(n=50, seed=1)  # unseen points, other centres
    codes = fitted.predict(new)
    first = ((new[:, None, :] - fitted.codebooks_[0].numpy()[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(codes[:, 0], first)


def test_save_load_round_trip(fitted: ResidualKMeans, data: np.ndarray, tmp_path: Path) -> None:
    fitted.save(tmp_path / "q")
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [
        "codebooks.safetensors",
        "quantizer.json",
    ]
    meta = json.loads((tmp_path / "q" / "quantizer.json").read_text())
    assert meta["type"] == "residual_kmeans" and meta["config"]["codebook_size"] == K
    for loaded in (ResidualKMeans.load(tmp_path / "q"), load_quantizer(tmp_path / "q")):
        assert isinstance(loaded, ResidualKMeans) and loaded.config == fitted.config
        np.testing.assert_array_equal(loaded.predict(data), fitted.predict(data))


def test_unfitted_use_says_to_call_fit(tmp_path: Path) -> None:
    quantizer = ResidualKMeans()
    for call in (
        lambda: quantizer.predict(np.ones((3, 4), np.float32)),
        lambda: quantizer.reconstruct(np.zeros((3, 3), np.int64)),
        lambda: quantizer.save(tmp_path / "q"),
    ):
        with pytest.raises(NotFittedError, match=r"call fit\(embeddings\)"):
            call()
    assert not (tmp_path / "q").exists()


def test_bad_input_is_a_data_error_naming_the_rows(data: np.ndarray) -> None:
    quantizer = ResidualKMeans(n_levels=2, codebook_size=8, n_iter=2)
    bad = data[:100].copy()
    bad[[3, 17], 5] = np.nan
    bad[42, 0] = np.inf
    with pytest.raises(DataError, match=r"rows \[3, 17, 42\]: NaN or inf"):
        quantizer.fit(bad)
    zero = data[:100].copy()
    zero[7] = 0
    with pytest.raises(DataError, match=r"row \[7\]: all zeros"):
        quantizer.fit(zero)
    with pytest.raises(DataError, match=r"shape \[N, D\].*found shape \(100,\)"):
        quantizer.fit(data[:100, 0])
    with pytest.raises(DataError, match="5 items but codebook_size=8.*lower codebook_size"):
        quantizer.fit(data[:5])
    quantizer.fit(data[:100])
    with pytest.raises(DataError, match="dimension 31, but the quantizer was fitted on .* 32"):
        quantizer.predict(data[:10, :31])
    with pytest.raises(DataError, match=r"row \[1\]: codes outside \[0, 8\)"):
        quantizer.reconstruct(np.array([[0, 1], [8, 0]]))


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="RKMeansConfig.codebook_size: expected an integer >= 2"):
        RKMeansConfig(codebook_size=1)
    with pytest.raises(
        ConfigError, match="RKMeansConfig.n_levels: expected an integer >= 1, got 0"
    ):
        ResidualKMeans(n_levels=0)


def test_corrupted_or_missing_files_are_data_errors(fitted: ResidualKMeans, tmp_path: Path) -> None:
    path = tmp_path / "q"
    with pytest.raises(DataError, match="quantizer.json: missing"):
        load_quantizer(path)
    fitted.save(path)
    (path / "codebooks.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match="codebooks.safetensors: cannot read"):
        load_quantizer(path)
    (path / "codebooks.safetensors").unlink()
    with pytest.raises(DataError, match="codebooks.safetensors: missing"):
        ResidualKMeans.load(path)
    (path / "quantizer.json").write_text("{truncated")
    with pytest.raises(DataError, match="quantizer.json: corrupted"):
        load_quantizer(path)
    (path / "quantizer.json").write_text(json.dumps({"type": "vq-gan", "config": {}}))
    with pytest.raises(DataError, match="unknown quantizer type 'vq-gan'"):
        load_quantizer(path)
