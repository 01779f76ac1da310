"""Tuning and model comparison: the model catalogue, one Optuna search per model, and the harness
that compares models on your data under one budget."""

from whyrec.tuning.catalogue import CANDIDATES, Candidate, Choice, FloatRange, IntRange, build
from whyrec.tuning.compare import compare, score_on_seeds
from whyrec.tuning.search import stored_best, tune

__all__ = [
    "CANDIDATES",
    "Candidate",
    "Choice",
    "FloatRange",
    "IntRange",
    "build",
    "compare",
    "score_on_seeds",
    "stored_best",
    "tune",
]
