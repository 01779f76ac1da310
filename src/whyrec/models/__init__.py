"""Models: the estimator contract, the one trainer, RecoNet, the baselines, CTR models and
attribution networks. Models never import explanations or evaluation; those layers sit above."""

from whyrec.models.attribution_network import AttributionNetwork, MLPClassifier
from whyrec.models.base import MODELS, Estimator, clone, load_model
from whyrec.models.baselines import (
    ALS,
    BPR,
    CML,
    EASE,
    FactorizationMachine,
    ItemKNN,
    MultVAE,
    OCuLaR,
    Popularity,
    RP3beta,
    UserKNN,
)
from whyrec.models.blend import Blend
from whyrec.models.ctr import CTRModel
from whyrec.models.recommender import Recommendations, Recommender, load_split
from whyrec.models.reconet import RecoNet
from whyrec.models.sampler import RemovalSampler, removal_counts
from whyrec.models.training import Monitor, Trainer, TrainingOptions

__all__ = [
    "ALS",
    "BPR",
    "CML",
    "EASE",
    "MODELS",
    "AttributionNetwork",
    "Blend",
    "CTRModel",
    "Estimator",
    "FactorizationMachine",
    "ItemKNN",
    "MLPClassifier",
    "Monitor",
    "MultVAE",
    "OCuLaR",
    "Popularity",
    "RP3beta",
    "RecoNet",
    "Recommendations",
    "Recommender",
    "RemovalSampler",
    "Trainer",
    "TrainingOptions",
    "UserKNN",
    "clone",
    "load_model",
    "load_split",
    "removal_counts",
]
