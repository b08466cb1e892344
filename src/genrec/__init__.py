"""genrec: generative recommendation with semantic IDs, constrained decoding, strong baselines."""

from genrec.data.dataset import Dataset
from genrec.errors import ConfigError, DataError, DownloadError, GenrecError, NotFittedError

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
