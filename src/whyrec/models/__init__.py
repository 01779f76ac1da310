"""Recommender models: RecoNet, its training sampler, and baselines."""

from whyrec.models.base import Recommendations, Recommender, load_model, load_split
from whyrec.models.baselines import Popularity
from whyrec.models.reconet import RecoNet
from whyrec.models.sampler import RemovalSampler, removal_counts

__all__ = [
    "Popularity",
    "RecoNet",
    "Recommendations",
    "Recommender",
    "RemovalSampler",
    "load_model",
    "load_split",
    "removal_counts",
]
