"""The models whyrec tunes and compares: how to build each one, its search space and its fixed settings.

One catalogue serves ``whyrec tune``, :func:`~whyrec.tuning.compare.compare` and every benchmark,
so a model is described once, with the search space its tuning draws from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models import baselines
from whyrec.models.presets import preset_for
from whyrec.models.recommender import Recommender
from whyrec.models.reconet import RecoNet


@dataclass(frozen=True)
class IntRange:
    """Integers in [low, high], sampled on a log scale when `log`."""

    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    """Reals in [low, high], sampled on a log scale when `log` (for scales spanning decades)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """One of `values` (ordered where the values are numbers)."""

    values: tuple[Any, ...]


Dimension = IntRange | FloatRange | Choice


@dataclass(frozen=True)
class Candidate:
    """A model in the study: how to build it, its search space, and whether it can serve cold users."""

    factory: type[Recommender]
    space: Mapping[str, Dimension]
    fixed: Mapping[str, Any]
    cold_start: bool = False
    seeded: bool = True
    epochs: bool = False  # trained epoch by epoch (its tuning trials can be pruned on validation recall)
    # maps the searched parameters to the model's own, where a model is searched in other coordinates
    translate: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # the integer parameter that sets the model's size (factors, embedding width), which a study's
    # growth trials double (see whyrec.tuning.search); None where the model has no such parameter
    capacity: str | None = None


def check_space(name: str, space: Mapping[str, Dimension]) -> None:
    """Refuse an empty or inverted range, a log scale through zero, an empty choice."""
    for key, dim in space.items():
        where = f"the search range of {name}.{key}"
        if isinstance(dim, Choice):
            if not dim.values:
                raise ParameterError(f"{where} is empty")
            continue
        if not dim.low < dim.high:
            raise ParameterError(f"{where} is empty or inverted: low={dim.low} must be below high={dim.high}")
        if dim.log and dim.low <= 0:
            raise ParameterError(f"{where} is on a log scale, so it must start above 0 (low={dim.low})")


def _ials_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """implicit's α and λ from the searched unobserved weight w = 1/α and relative λ = λ/α."""
    searched = ("unobserved_weight", "relative_l2")
    out = {k: v for k, v in params.items() if k not in searched}
    given = [k for k in searched if k in params]
    if given and len(given) < len(searched):
        raise ParameterError(
            "iALS needs both unobserved_weight and relative_l2 (or implicit's alpha and regularization)"
        )
    if given:
        out["alpha"] = 1.0 / float(params["unobserved_weight"])
        out["regularization"] = float(params["relative_l2"]) * out["alpha"]
    return out


# FM's dim reaches 1024: with a top of 256, FM's best trial sat on the range's upper edge.
_FM_SPACE: dict[str, Dimension] = {
    "dim": IntRange(8, 1024, log=True),
    "lr": FloatRange(1e-4, 5e-2, log=True),
    "l2": FloatRange(1e-9, 1.0, log=True),
}

# Search spaces from the papers' and the benchmark literature's ranges (Rendle et al. 2022 for iALS,
# Steck 2019 for EASE, Liang et al. 2018 for Mult-VAE, Hsieh et al. 2017 for CML), written once and
# log-scaled where a parameter spans decades.
CANDIDATES: dict[str, Candidate] = {
    "popularity": Candidate(baselines.Popularity, {}, {}, cold_start=True, seeded=False),
    # item-kNN's usual variants (Dacrema et al. 2019): shrinkage, asymmetric cosine, user weighting
    "item_knn": Candidate(
        baselines.ItemKNN,
        {
            "neighbours": IntRange(5, 2000, log=True),
            "alpha": FloatRange(0.0, 1.0),
            "shrink": FloatRange(0.0, 1000.0),
            "weighting": Choice(("none", "tfidf", "bm25")),
        },
        {},
        seeded=False,
    ),
    # RP3beta's ranges as Paudel et al. 2017 and Dacrema et al. 2019 search them
    "rp3beta": Candidate(
        baselines.RP3beta,
        {
            "neighbours": IntRange(5, 2000, log=True),
            "alpha": FloatRange(0.0, 2.0),
            "beta": FloatRange(0.0, 1.0),
            "normalize": Choice((False, True)),
        },
        {},
        seeded=False,
    ),
    "user_knn": Candidate(baselines.UserKNN, {"neighbours": IntRange(5, 2000, log=True)}, {}, seeded=False),
    "ease": Candidate(baselines.EASE, {"l2": FloatRange(1.0, 1e5, log=True)}, {}, seeded=False),
    # iALS is searched in Rendle et al.'s coordinates: the weight of unobserved pairs (1/α in implicit's
    # confidence 1 + α·r) and the regularisation relative to it (λ/α). In implicit's own coordinates
    # λ and α must grow together, and TPE searching them independently fell short of a small grid.
    "ials": Candidate(
        baselines.ALS,
        {
            "factors": IntRange(16, 1024, log=True),
            "unobserved_weight": FloatRange(1e-3, 1.0, log=True),
            "relative_l2": FloatRange(1e-3, 1e2, log=True),
            "iterations": IntRange(5, 40),
        },
        {},
        translate=_ials_parameters,
        capacity="factors",
    ),
    "bpr": Candidate(
        baselines.BPR,
        {
            "factors": IntRange(16, 512, log=True),
            "learning_rate": FloatRange(1e-4, 0.3, log=True),
            "regularization": FloatRange(1e-6, 1.0, log=True),
            "iterations": IntRange(50, 800, log=True),
        },
        {},
        capacity="factors",
    ),
    "mult_vae": Candidate(
        baselines.MultVAE,
        {
            "hidden": IntRange(20, 1200, log=True),
            "latent": IntRange(25, 400, log=True),
            "dropout": FloatRange(0.0, 0.8),
            "beta": FloatRange(0.01, 1.0, log=True),
            "lr": FloatRange(1e-4, 1e-2, log=True),
        },
        {"epochs": 60},
        epochs=True,
        capacity="hidden",
    ),
    "cml": Candidate(
        baselines.CML,
        {
            "dim": IntRange(16, 256, log=True),
            "margin": FloatRange(0.05, 4.0, log=True),
            "lr": FloatRange(1e-4, 5e-2, log=True),
        },
        {"epochs": 20},
        epochs=True,
        capacity="dim",
    ),
    "fm": Candidate(
        baselines.FactorizationMachine, _FM_SPACE, {"epochs": 20, "use_attributes": False}, epochs=True, capacity="dim"
    ),
    "fm_attributes": Candidate(
        baselines.FactorizationMachine,
        {**_FM_SPACE, "id_dropout": FloatRange(0.0, 0.7)},
        {"epochs": 20, "use_attributes": True},
        cold_start=True,
        epochs=True,
        capacity="dim",
    ),
    "ocular": Candidate(
        baselines.OCuLaR,
        {"factors": IntRange(2, 400, log=True), "l2": FloatRange(0.01, 1000.0, log=True)},
        {"use_attributes": False},
        capacity="factors",
    ),
    "ocular_attributes": Candidate(
        baselines.OCuLaR,
        {"factors": IntRange(2, 400, log=True), "l2": FloatRange(0.01, 1000.0, log=True)},
        {"use_attributes": True},
        cold_start=True,
        capacity="factors",
    ),
}
_RECONET_SPACE: dict[str, Dimension] = {
    "dim": IntRange(32, 512, log=True),
    "beta": FloatRange(0.1, 4.0, log=True),
    "weight_decay": FloatRange(1e-10, 1e-3, log=True),
    "lr": FloatRange(5e-4, 5e-2, log=True),
    "lr_decay": FloatRange(0.7, 1.0),
    "batch_size": Choice((128, 256, 512, 1024, 2048, 4096)),
}
for _name, _hidden, _attributes in (
    ("reconet", (), False),
    ("reconet_attributes", (), True),
    ("reconet_layer", (256,), False),
    ("reconet_layer_attributes", (256,), True),
):
    _space = dict(_RECONET_SPACE)
    if _hidden:
        _space["hidden"] = Choice((128, 256, 512))  # the width of the one hidden layer
    # the paper's objective and output layer
    fixed = {"hidden": _hidden, "use_attributes": _attributes, "attribute_output": False, "sampling": "removal"}
    CANDIDATES[_name] = Candidate(RecoNet, _space, fixed, cold_start=_attributes, epochs=True, capacity="dim")
# RecoNet's default: the attribute-aware output layer, where an item's output vector adds its attributes' rows
CANDIDATES["reconet_attribute_output"] = Candidate(
    RecoNet,
    dict(_RECONET_SPACE),
    {"use_attributes": True, "attribute_output": True, "sampling": "removal"},
    cold_start=True,
    epochs=True,
    capacity="dim",
)
# and a mean per token group: the user's attribute values weigh the same whatever their history's length
CANDIDATES["reconet_by_kind"] = Candidate(
    RecoNet,
    dict(_RECONET_SPACE),
    {"use_attributes": True, "attribute_output": True, "pooling": "by_kind", "sampling": "removal"},
    cold_start=True,
    epochs=True,
    capacity="dim",
)

# the default's layer trained with the masked objective (one softmax row per user and epoch, its
# masked items the labels): an epoch costs one softmax row per user instead of one per interaction,
# so it runs many more of them, and its batch_size counts users
CANDIDATES["reconet_masked"] = Candidate(
    RecoNet,
    {
        "dim": _RECONET_SPACE["dim"],
        "mask_rate": FloatRange(0.01, 0.5, log=True),
        "weight_decay": _RECONET_SPACE["weight_decay"],
        "lr": _RECONET_SPACE["lr"],
        "lr_decay": FloatRange(0.9, 1.0),
        "batch_size": Choice((16, 32, 64, 128, 256, 512)),
    },
    {
        "use_attributes": True,
        "attribute_output": True,
        "sampling": "masked",
        "epochs": 200,
        "patience": 10,
        "min_delta": 0.0,
    },
    cold_start=True,
    epochs=True,
    capacity="dim",
)

# the same objective in a space bounded for training cost (dim <= 256, at most 40 epochs): the most
# accurate RecoNet that fits within a few times iALS's fit, tuned like every other model. Few epochs
# want higher learning and mask rates: searched in the other RecoNet ranges, both ended at the top.
CANDIDATES["reconet_masked_fast"] = Candidate(
    RecoNet,
    {
        "dim": IntRange(32, 256, log=True),
        "mask_rate": FloatRange(0.01, 0.9, log=True),
        "weight_decay": _RECONET_SPACE["weight_decay"],
        "lr": FloatRange(5e-4, 0.3, log=True),
        "lr_decay": FloatRange(0.8, 1.0),
        "batch_size": Choice((64, 128, 256, 512)),
    },
    {**CANDIDATES["reconet_masked"].fixed, "epochs": 40, "patience": 5},
    cold_start=True,
    epochs=True,
    capacity="dim",
)


def is_reconet(name: str) -> bool:
    return CANDIDATES[name].factory is RecoNet


def require_known(name: str) -> None:
    """Refuse a model name the catalogue does not hold, naming the ones it does."""
    if name not in CANDIDATES:
        raise ParameterError(f"unknown model {name!r}; known models: {', '.join(CANDIDATES)}")


def build(name: str, params: Mapping[str, Any], seed: int, train: Dataset) -> Recommender:
    """The model `name` with `params`, its fixed settings and (where it has one) `seed`."""
    require_known(name)
    candidate = CANDIDATES[name]
    options = {**candidate.fixed, **(candidate.translate(params) if candidate.translate else params)}
    if candidate.factory is RecoNet:
        options = {**preset_for(train), **options}
        if isinstance(options.get("hidden"), int):  # tuned as one width
            options["hidden"] = (options["hidden"],)
    if candidate.seeded:
        options["seed"] = seed
    return candidate.factory(**options)
