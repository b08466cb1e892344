"""Decoding: trie-constrained beam search and sampling, independent of the network."""

from genrec.decoding.beam_search import beam_search
from genrec.decoding.generative import GenerativeRecommender
from genrec.decoding.sampling import sample
from genrec.decoding.step_model import DecodeState, StepModel

__all__ = ["DecodeState", "GenerativeRecommender", "StepModel", "beam_search", "sample"]
