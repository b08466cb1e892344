"""Code diagnostics: usage, perplexity, collisions, reconstruction error, report and plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genrec.errors import DataError
from genrec.sid import (
    ResidualKMeans,
    code_usage,
    collision_stats,
    perplexity,
    plot_usage,
    reconstruction_error,
    report,
)

CODES = np.array([[0, 1], [0, 1], [0, 1], [2, 3], [1, 1]])

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: single-threaded


def test_code_usage_per_level() -> None:
    np.testing.assert_allclose(code_usage(CODES, 4), [0.75, 0.5])
    assert code_usage(np.arange(8)[:, None], 8).tolist() == [1.0]


def test_perplexity_is_k_when_even_and_one_when_constant() -> None:
    even = np.repeat(np.arange(8), 3)[:, None]
    np.testing.assert_allclose(perplexity(even, 8), [8.0])
    np.testing.assert_allclose(perplexity(np.zeros((5, 2), np.int64), 8), [1.0, 1.0])
    p = np.array([3, 1, 1]) / 5
    np.testing.assert_allclose(perplexity(CODES, 4)[0], np.exp(-(p * np.log(p)).sum()))


def test_collision_stats() -> None:
    assert collision_stats(CODES) == {
        "collision_rate": 0.6,
        "n_codes": 3,
        "n_collision_groups": 1,
        "max_group_size": 3,
    }
    unique = collision_stats(np.arange(10).reshape(5, 2))
    assert unique["collision_rate"] == 0.0 and unique["max_group_size"] == 1
    assert collision_stats(np.zeros((0, 3), np.int64))["n_codes"] == 0


def test_reconstruction_error() -> None:
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert reconstruction_error(x, x) == {"mse": 0.0, "cosine": 1.0}
    err = reconstruction_error(x, np.array([[0.0, 1.0], [0.0, 4.0]]))
    assert err == {"mse": pytest.approx((1 + 1 + 4) / 4), "cosine": pytest.approx(0.5)}
    with pytest.raises(DataError, match=r"one shape, found \(2, 2\) and \(2, 3\)"):
        reconstruction_error(x, np.zeros((2, 3)))


def test_report_is_json_ready_with_reconstruction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    quantizer = ResidualKMeans(n_levels=2, codebook_size=8, n_iter=5).fit(x)
    codes = quantizer.predict(x)
    out = report(codes, 8, x, quantizer.reconstruct(codes))
    assert json.loads(json.dumps(out)) == out
    assert out["n_items"] == 300 and out["n_levels"] == 2 and out["codebook_size"] == 8
    assert len(out["usage"]) == len(out["perplexity"]) == 2
    assert set(out["reconstruction"]) == {"mse", "cosine"}
    assert 0 < out["reconstruction"]["mse"] < (x**2).mean()
    assert "reconstruction" not in report(codes, 8)


def test_bad_codes_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"rows \[3\] fall outside \[0, 2\)"):
        code_usage(CODES, 2)
    with pytest.raises(DataError, match="integer codes of shape \\[N, L\\], found float64"):
        report(np.zeros((3, 2)), 4)


def test_plot_usage_writes_a_png(tmp_path: Path) -> None:
    codes = np.random.default_rng(0).integers(16, size=(200, 3))
    path = plot_usage(codes, 16, tmp_path / "plots" / "usage.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["usage.png"]  # no temp file left
