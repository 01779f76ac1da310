"""Explanations: the Explanation result, the explainers that produce it, and the one entry point.

``explain(model, users_or_profiles, items, method=...)`` explains any model; every method is a
registered :class:`Explainer` and returns the same :class:`Explanations`.
"""

from whyrec.explain.base import (
    EXPLAINERS,
    Explainer,
    default_method,
    explain,
    explain_pairs,
    get_explainer,
    method_enum,
    methods_for,
)
from whyrec.explain.blend import BlendExplainer
from whyrec.explain.captum_methods import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    Saliency,
    ShapleySampling,
)
from whyrec.explain.counterfactual import Counterfactual, CounterfactualExplainer, WhyNot, counterfactual, why_not
from whyrec.explain.decomposition import Decomposition
from whyrec.explain.explanation import Explanation, Explanations, NamedVocabulary, Reason, Vocabulary
from whyrec.explain.groups import ReadOut
from whyrec.explain.layered import Group, by_kind, by_time, by_value, layers
from whyrec.explain.lrp import LRP
from whyrec.explain.removal import Occlusion, Shapley
from whyrec.explain.topk import AttributionTable, TopKExplanations, explain_top_k

__all__ = [
    "EXPLAINERS",
    "LRP",
    "AttributionTable",
    "BlendExplainer",
    "Counterfactual",
    "CounterfactualExplainer",
    "Decomposition",
    "DeepLift",
    "Explainer",
    "Explanation",
    "Explanations",
    "Group",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShap",
    "Lime",
    "NamedVocabulary",
    "Occlusion",
    "ReadOut",
    "Reason",
    "Saliency",
    "Shapley",
    "ShapleySampling",
    "TopKExplanations",
    "Vocabulary",
    "WhyNot",
    "by_kind",
    "by_time",
    "by_value",
    "counterfactual",
    "default_method",
    "explain",
    "explain_pairs",
    "explain_top_k",
    "get_explainer",
    "layers",
    "method_enum",
    "methods_for",
    "why_not",
]
