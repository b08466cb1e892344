import numpy as np
import pytest

from genrec.errors import DataError
from genrec.text.fusion import fuse, pca


@pytest.fixture()
def parts():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(50, 32)) * 5, rng.normal(size=(50, 8)).astype(np.float32)]


def test_concatenates_unit_parts_into_unit_rows(parts):
    out = fuse(parts)
    assert out.shape == (50, 40) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # each part carries half the squared norm, whatever its raw scale and width
    np.testing.assert_allclose(np.linalg.norm(out[:, :32], axis=1), np.sqrt(0.5), atol=1e-5)


def test_weights_set_each_parts_share_of_the_cosine(parts):
    out = fuse(parts, weights=[3, 1])
    np.testing.assert_allclose((out[:, :32] ** 2).sum(1), 0.75, atol=1e-5)
    text = parts[0] / np.linalg.norm(parts[0], axis=1, keepdims=True)
    collab = parts[1] / np.linalg.norm(parts[1], axis=1, keepdims=True)
    expected = 0.75 * text @ text.T + 0.25 * collab @ collab.T
    np.testing.assert_allclose(out @ out.T, expected, atol=1e-5)


def test_pca_reduces_only_wide_parts_deterministically(parts):
    first = fuse(parts, pca_dim=16)
    assert first.shape == (50, 24)
    np.testing.assert_array_equal(first, fuse([p.copy() for p in parts], pca_dim=16))
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_pca_matches_the_top_variance_directions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6)) * np.array([10, 5, 1, 0.1, 0.1, 0.1])
    reduced = pca(x, 2)
    var = reduced.var(axis=0)
    assert var[0] > var[1] > 10 * x[:, 2:].var(axis=0).max()
    np.testing.assert_allclose(np.abs(np.corrcoef(reduced[:, 0], x[:, 0])[0, 1]), 1, atol=1e-2)
    np.testing.assert_allclose(pca(-x, 2), -reduced, atol=1e-9)  # signs follow the data


def test_errors_name_the_offending_part(parts):
    with pytest.raises(DataError, match=r"different row counts \{'text': 50, 'collab': 49\}"):
        fuse([parts[0], parts[1][:49]], names=["text", "collab"])
    with_nan = parts[1].copy()
    with_nan[7, 0] = np.nan
    with pytest.raises(DataError, match=r"part 1 has NaN or infinite values .* \[7\]"):
        fuse([parts[0], with_nan])
    zero = parts[0].copy()
    zero[[3, 9]] = 0
    with pytest.raises(DataError, match=r"text has 2 all-zero row\(s\) \(first \[3, 9\]\)"):
        fuse([zero, parts[1]], names=["text", "collab"])
    with pytest.raises(DataError, match=r"\[N, D\] matrix, found shape \(50,\)"):
        fuse([parts[0][:, 0]])
    with pytest.raises(DataError, match="no parts"):
        fuse([])
    with pytest.raises(DataError, match="part 1=0.0"):
        fuse(parts, weights=[1, 0])
    with pytest.raises(DataError, match="2 weights for 1 parts"):
        fuse(parts[:1], weights=[1, 1])
    with pytest.raises(DataError, match="pca_dim"):
        fuse(parts, pca_dim=0)
