"""Evaluation: ranking metrics, whether explanations are right (pertinence), and planted truth.

The ranking metrics live in :mod:`whyrec.metrics`, below the models, because early stopping uses
them while a model trains; they are re-exported here beside the rest of the evaluation.
"""

from whyrec.evaluate.ground_truth import driver_hits, planted_driver_recovery
from whyrec.evaluate.pertinence import (
    Curve,
    agreement,
    deletion_curve,
    insertion_curve,
    random_orders,
    token_orders,
    top1_significance,
)
from whyrec.metrics import evaluate, evaluate_curve, summarise

__all__ = [
    "Curve",
    "agreement",
    "deletion_curve",
    "driver_hits",
    "evaluate",
    "evaluate_curve",
    "insertion_curve",
    "planted_driver_recovery",
    "random_orders",
    "summarise",
    "token_orders",
    "top1_significance",
]
