"""Insights: global and per-segment drivers of the recommendations, with uncertainty."""

from whyrec.insights.analysis import insights, summary_lines
from whyrec.insights.importance import (
    bootstrap_mean,
    co_relevance,
    dependence,
    rank_stability,
    segment_importance,
    what_if,
)
from whyrec.insights.segments import segment_labels

__all__ = [
    "bootstrap_mean",
    "co_relevance",
    "dependence",
    "insights",
    "rank_stability",
    "segment_importance",
    "segment_labels",
    "summary_lines",
    "what_if",
]
