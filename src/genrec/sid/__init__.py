"""Semantic IDs: quantizers that turn item embeddings into short code tuples, and diagnostics."""

from genrec.sid.diagnostics import (
    code_usage,
    collision_stats,
    perplexity,
    plot_usage,
    reconstruction_error,
    report,
)
from genrec.sid.quantizer import Quantizer
from genrec.sid.rkmeans import ResidualKMeans, RKMeansConfig, load_quantizer
from genrec.sid.rqvae import RQVAE, RQVAEConfig

__all__ = [
    "RQVAE",
    "Quantizer",
    "RKMeansConfig",
    "RQVAEConfig",
    "ResidualKMeans",
    "code_usage",
    "collision_stats",
    "load_quantizer",
    "perplexity",
    "plot_usage",
    "reconstruction_error",
    "report",
]
