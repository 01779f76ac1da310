"""Evaluation: top-k ranking metrics and protocols."""

from whyrec.evaluate.metrics import evaluate, evaluate_curve, summarise

__all__ = ["evaluate", "evaluate_curve", "summarise"]
