"""Decoding: trie-constrained beam search and sampling, independent of the network."""
