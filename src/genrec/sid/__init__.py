"""Semantic IDs: quantizers that turn item embeddings into short code tuples, and diagnostics."""

from genrec.sid.collisions import (
    add_dedup_level,
    count_collisions,
    reassign_last_level,
    reconstruction_cost,
)
from genrec.sid.diagnostics import (
    code_usage,
    collision_stats,
    perplexity,
    plot_usage,
    reconstruction_error,
    report,
)
from genrec.sid.load import load_quantizer
from genrec.sid.quantizer import Quantizer
from genrec.sid.rkmeans import ResidualKMeans, RKMeansConfig
from genrec.sid.rqvae import RQVAE, RQVAEConfig
from genrec.sid.semantic_ids import DEDUP_MODES, SemanticIds
from genrec.sid.trie import PrefixTrie

__all__ = [
    "DEDUP_MODES",
    "RQVAE",
    "PrefixTrie",
    "SemanticIds",
    "add_dedup_level",
    "count_collisions",
    "reassign_last_level",
    "reconstruction_cost",
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
