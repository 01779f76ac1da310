"""The models a study compares: how to build each one, its search grid and its fixed settings.

One catalogue serves every harness (the accuracy and cold-start studies, tuning), so a model is
described once. Grids come from the papers' own ranges where they give them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models import baselines
from whyrec.models.presets import preset_for
from whyrec.models.recommender import Recommender
from whyrec.models.reconet import RecoNet


@dataclass(frozen=True)
class Candidate:
    """A model in the study: how to build it, its grid, and whether it can serve cold users."""

    factory: type[Recommender]
    grid: Mapping[str, Sequence[Any]]
    fixed: Mapping[str, Any]
    cold_start: bool = False
    seeded: bool = True


CANDIDATES: dict[str, Candidate] = {
    "popularity": Candidate(baselines.Popularity, {}, {}, cold_start=True, seeded=False),
    "item_knn": Candidate(baselines.ItemKNN, {"neighbours": [20, 50, 100, 200, 400, 800]}, {}, seeded=False),
    "user_knn": Candidate(baselines.UserKNN, {"neighbours": [20, 50, 100, 200, 400]}, {}, seeded=False),
    "ease": Candidate(baselines.EASE, {"l2": [50, 100, 200, 400, 800, 1600, 3200]}, {}, seeded=False),
    "ials": Candidate(
        baselines.ALS,
        {"factors": [32, 64, 128, 256], "regularization": [0.01, 0.1, 1.0, 10.0], "alpha": [1.0, 5.0, 20.0, 50.0]},
        {"iterations": 15},
    ),
    "bpr": Candidate(
        baselines.BPR,
        {"factors": [32, 64, 128], "learning_rate": [0.005, 0.01, 0.05], "regularization": [0.0001, 0.001, 0.01]},
        {"iterations": 200},
    ),
    "mult_vae": Candidate(
        baselines.MultVAE, {"dropout": [0.3, 0.5], "beta": [0.1, 0.2, 0.4], "lr": [1e-3, 3e-3]}, {"epochs": 60}
    ),
    "cml": Candidate(
        baselines.CML, {"dim": [32, 64, 128], "margin": [0.5, 1.0, 2.0], "lr": [3e-3, 1e-2]}, {"epochs": 20}
    ),
    "fm": Candidate(
        baselines.FactorizationMachine,
        {"dim": [32, 64, 128], "lr": [2e-3, 5e-3, 1e-2], "l2": [1e-6, 1e-5, 1e-4]},
        {"epochs": 20, "use_attributes": False},
    ),
    "fm_attributes": Candidate(
        baselines.FactorizationMachine,
        {"dim": [32, 64, 128], "lr": [2e-3, 5e-3, 1e-2], "l2": [1e-6, 1e-5, 1e-4], "id_dropout": [0.0, 0.1, 0.3]},
        {"epochs": 20, "use_attributes": True},
        cold_start=True,
    ),
    "ocular": Candidate(
        baselines.OCuLaR, {"factors": [50, 100, 200], "l2": [1.0, 10.0, 30.0, 100.0]}, {"use_attributes": False}
    ),
    "ocular_attributes": Candidate(
        baselines.OCuLaR,
        {"factors": [50, 100, 200], "l2": [1.0, 10.0, 30.0, 100.0]},
        {"use_attributes": True},
        cold_start=True,
    ),
}
_RECONET_GRID: dict[str, list[Any]] = {"dim": [64, 128], "beta": [0.5, 1.0, 2.0], "weight_decay": [0.0, 1e-6]}
for _name, _hidden, _attributes in (
    ("reconet", (), False),
    ("reconet_attributes", (), True),
    ("reconet_layer", (256,), False),
    ("reconet_layer_attributes", (256,), True),
):
    CANDIDATES[_name] = Candidate(
        RecoNet, _RECONET_GRID, {"hidden": _hidden, "use_attributes": _attributes}, cold_start=_attributes
    )


def is_reconet(name: str) -> bool:
    return CANDIDATES[name].factory is RecoNet


def build(name: str, params: Mapping[str, Any], seed: int, train: Dataset) -> Recommender:
    """The model `name` with `params`, its fixed settings and (where it has one) `seed`."""
    if name not in CANDIDATES:
        raise ParameterError(f"unknown model {name!r}; known models: {', '.join(CANDIDATES)}")
    candidate = CANDIDATES[name]
    options = {**candidate.fixed, **params}
    if candidate.factory is RecoNet:
        options = {**preset_for(train), **options}
    if candidate.seeded:
        options["seed"] = seed
    return candidate.factory(**options)
