"""genrec: generative recommendation with semantic IDs, constrained decoding, strong baselines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genrec.errors import ConfigError, DataError, DownloadError, GenrecError, NotFittedError

if TYPE_CHECKING:
    from genrec.data.dataset import Dataset

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "DownloadError",
    "GenrecError",
    "NotFittedError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Dataset loads polars: imported on first use, so `genrec --help` starts in a blink.
    if name == "Dataset":
        from genrec.data.dataset import Dataset

        return Dataset
    raise AttributeError(f"module 'genrec' has no attribute {name!r}")
