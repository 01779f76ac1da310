"""Baseline recommenders behind the same verbs as RecoNet."""

from whyrec.models.baselines.cml import CML
from whyrec.models.baselines.factorization import ALS, BPR
from whyrec.models.baselines.fm import FactorizationMachine
from whyrec.models.baselines.linear import EASE
from whyrec.models.baselines.neighbours import ItemKNN, RP3beta, UserKNN
from whyrec.models.baselines.ocular import OCuLaR
from whyrec.models.baselines.popularity import Popularity
from whyrec.models.baselines.vae import MultVAE

__all__ = [
    "ALS",
    "BPR",
    "CML",
    "EASE",
    "FactorizationMachine",
    "ItemKNN",
    "MultVAE",
    "OCuLaR",
    "Popularity",
    "RP3beta",
    "UserKNN",
]
