"""Insights: global and per-segment drivers of the recommendations, with uncertainty."""

from whyrec.insights.importance import (
    AttributionTable,
    bootstrap_mean,
    co_relevance,
    dependence,
    explain_recommendations,
    rank_stability,
    segment_importance,
    what_if,
)
from whyrec.insights.segments import segment_labels

__all__ = [
    "AttributionTable",
    "bootstrap_mean",
    "co_relevance",
    "dependence",
    "explain_recommendations",
    "rank_stability",
    "segment_importance",
    "segment_labels",
    "what_if",
]
