"""RL post-training of generators with verifiable rewards (SRPO, REFERENCE.md §5)."""
