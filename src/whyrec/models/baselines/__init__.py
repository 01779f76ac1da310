"""Baseline recommenders behind the same verbs as RecoNet."""

from whyrec.models.baselines.popularity import Popularity

__all__ = ["Popularity"]
