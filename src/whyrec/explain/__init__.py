"""Explanations: the Explanation result and the explainers that produce it."""

from whyrec.explain.base import EXPLAINERS, Explainer, explain_pairs, get_explainer
from whyrec.explain.explanation import Explanation, Explanations, Reason
from whyrec.explain.lrp import LRP

__all__ = [
    "EXPLAINERS",
    "LRP",
    "Explainer",
    "Explanation",
    "Explanations",
    "Reason",
    "explain_pairs",
    "get_explainer",
]
