"""Explanations: the Explanation result and the explainers that produce it."""

from whyrec.explain.base import EXPLAINERS, Explainer, explain_pairs, get_explainer
from whyrec.explain.captum_methods import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    Saliency,
    ShapleySampling,
)
from whyrec.explain.explanation import Explanation, Explanations, Reason
from whyrec.explain.lrp import LRP
from whyrec.explain.removal import Occlusion, Shapley

__all__ = [
    "EXPLAINERS",
    "LRP",
    "DeepLift",
    "Explainer",
    "Explanation",
    "Explanations",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShap",
    "Lime",
    "Occlusion",
    "Reason",
    "Saliency",
    "Shapley",
    "ShapleySampling",
    "explain_pairs",
    "get_explainer",
]
