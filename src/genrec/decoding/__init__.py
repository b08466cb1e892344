"""Decoding: trie-constrained beam search and sampling, independent of the network. It only
decodes; the adapters that make a network a Recommender live in ``genrec.recommend``."""

from genrec.decoding.beam_search import beam_search
from genrec.decoding.sampling import sample

__all__ = ["beam_search", "sample"]
