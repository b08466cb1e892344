"""RL post-training of generators with verifiable rewards (SRPO of GREAM,
Hong et al., arXiv 2510.20815)."""
