"""Evaluation: the one harness every model goes through, its metrics and results tables."""

from genrec.eval.harness import EvalResult, evaluate

__all__ = ["EvalResult", "evaluate"]
