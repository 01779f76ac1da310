"""Figure 4 of the RecoNet paper: recall@k of cold-start users, whose whole history was removed from training.

10% of the test users lose all their training and validation history, and models are compared on
them by recall@k, k = 1..50, once given their profile without retraining and once from attributes
alone (:func:`coldstart_study`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.provenance import earlier_runs, require_same_settings
from whyrec.data.dataset import Dataset
from whyrec.data.profiles import build_profiles
from whyrec.data.splits import split
from whyrec.errors import DataError, ParameterError
from whyrec.metrics import evaluate_curve
from whyrec.tuning import CANDIDATES, build
from whyrec.tuning.catalogue import is_reconet, require_known

COLD_RECIPE = {"cold_rate": 0.2}  # whyrec's cold-start recipe for RecoNet (see whyrec.models.sampler)
PROTOCOLS = ("new_users", "attributes_only")


def serves_new_users(name: str) -> bool:
    """Whether model `name` scores a profile it never trained on (fold-in or bag input)."""
    return bool(CANDIDATES[name].factory.supports_profiles)


def coldstart_study(
    dataset: Dataset,
    *,
    models: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0,),
    fraction: float = 0.1,
    max_k: int = 50,
) -> dict[str, Any]:
    """Figure 4: recall@k (k = 1..max_k) of users whose whole history was removed from training.

    Each seed draws its own split and cold users and seeds the models; curves are averaged over
    the seeds and each seed's curves are kept under ``per_seed``.

    Every model is trained once, without the cold users, and compared under two protocols:

    - ``new_users`` (the paper's section 5.2): at serving time a cold user brings their profile,
      that is the attributes and the training/validation interactions the model never saw, and
      the model scores it without retraining (RecoNet's bag, iALS/OCuLaR fold-in, EASE and kNN
      rows, Mult-VAE's encoder; FM uses the attributes only). Those interactions are excluded
      from the ranking.
    - ``attributes_only``: the user arrives with attributes and no history at all; only models
      that read user attributes (and popularity) take part.

    RecoNet variants with attributes are also trained with :data:`COLD_RECIPE`, reported as
    ``<name>+cold_recipe``.
    """
    names = list(models or [n for n in CANDIDATES if serves_new_users(n)])
    for name in names:
        require_known(name)
        if not serves_new_users(name):
            capable = ", ".join(n for n in CANDIDATES if serves_new_users(n))
            raise ParameterError(f"{name} cannot score users it was not trained on; cold-start models: {capable}")
    if not seeds:
        raise ParameterError("the cold-start study needs at least one seed")
    variants = [(name, dict((params or {}).get(name, {}))) for name in names]
    variants += [
        (f"{name}+cold_recipe", {**dict((params or {}).get(name, {})), **COLD_RECIPE})
        for name in names
        if is_reconet(name) and CANDIDATES[name].fixed.get("use_attributes")
    ]
    per_seed = {seed: _coldstart_curves(dataset, variants, seed, fraction, max_k) for seed in seeds}
    out: dict[str, Any] = {
        "cold_users": int(np.mean([r["cold_users"] for r in per_seed.values()])),
        "fraction": fraction,
        "seeds": list(seeds),
        "params": {label: params for label, params in variants},  # the configuration each curve was drawn with
    }
    for protocol in PROTOCOLS:
        curves = {
            label: np.mean([per_seed[s][protocol][label] for s in seeds], axis=0).tolist()
            for label in per_seed[seeds[0]][protocol]
        }
        result: dict[str, Any] = {"curves": curves, **_over_popularity(curves)}
        result["recall@50_per_seed"] = {
            label: [per_seed[s][protocol][label][max_k - 1] for s in seeds] for label in curves
        }
        out[protocol] = result
    out["per_seed"] = {str(s): r for s, r in per_seed.items()}
    return out


def _coldstart_curves(
    dataset: Dataset, variants: Sequence[tuple[str, dict[str, Any]]], seed: int, fraction: float, max_k: int
) -> dict[str, Any]:
    full = split(dataset, seed=seed)
    parts = split(dataset, seed=seed, cold_start=fraction)
    if len(parts.cold_users) == 0:
        raise DataError("no test user became a cold-start user; the dataset is too small or the fraction is 0")
    known = full.train.matrix() + full.validation.matrix()  # what each user had before the test
    out: dict[str, Any] = {"cold_users": len(parts.cold_users), **{p: {} for p in PROTOCOLS}}
    for label, options in variants:
        name = label.split("+")[0]
        model = build(name, options, seed, parts.train).fit(parts.train, parts.validation)
        out["new_users"][label] = evaluate_curve(
            _ProfileScorer(model, known), parts.test, exclude=known, users=parts.cold_users, max_k=max_k
        ).tolist()
        if CANDIDATES[name].cold_start:
            out["attributes_only"][label] = evaluate_curve(
                model, parts.test, users=parts.cold_users, max_k=max_k
            ).tolist()
    return out


class _ProfileScorer:
    """`score_users` of users the model never saw, from bags built out of `history` rows."""

    def __init__(self, model: Any, history: sp.csr_matrix) -> None:
        self.model, self.history = model, history

    def score_users(self, users: np.ndarray) -> np.ndarray:
        m = self.model
        return m.score(build_profiles(self.history[users], m.user_attributes_[users], m.item_attributes_))


def add_to_coldstart(previous: Mapping[str, Any], results: Mapping[str, Any], data: str) -> dict[str, Any]:
    """A stored cold-start study (`previous`, its result JSON) with the curves of `results` added.

    The new curves must come from the same data, seeds, share of cold users and tuned parameters'
    source; a curve already there is replaced, and the provenance of the runs behind the curves
    kept is carried along under ``"earlier_runs"``, as :func:`add_to_study` does.
    """
    old = previous["results"]
    settings = {
        "data": (previous.get("data"), data),
        "seeds": (old["seeds"], results["seeds"]),
        "fraction": (old["fraction"], results["fraction"]),
        "params_from": (old.get("params_from"), results.get("params_from")),
    }
    require_same_settings(settings, "curves to a cold-start study")
    merged: dict[str, Any] = {
        **{k: v for k, v in old.items() if k not in PROTOCOLS},
        "params": {**old["params"], **results["params"]},
        "per_seed": {
            seed: {**runs, **{p: {**runs[p], **results["per_seed"][seed][p]} for p in PROTOCOLS}}
            for seed, runs in old["per_seed"].items()
        },
        "earlier_runs": earlier_runs(previous, list(old["params"]), results["params"]),
    }
    for protocol in PROTOCOLS:
        curves = {**old[protocol]["curves"], **results[protocol]["curves"]}
        merged[protocol] = {
            "curves": curves,
            **_over_popularity(curves),
            "recall@50_per_seed": {**old[protocol]["recall@50_per_seed"], **results[protocol]["recall@50_per_seed"]},
        }
    return merged


def _over_popularity(curves: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Each curve's last recall over popularity's, when popularity has one above zero."""
    popularity = curves.get("popularity")
    if popularity is None or popularity[-1] <= 0:
        return {}
    return {"recall@50_over_popularity": {n: c[-1] / popularity[-1] for n, c in curves.items()}}


def coldstart_figure(results: Mapping[str, Any], protocol: str = "new_users") -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, curve in results[protocol]["curves"].items():
        figure.add_trace(go.Scatter(x=list(range(1, len(curve) + 1)), y=curve, mode="lines", name=name))
    what = "profile given at serving time" if protocol == "new_users" else "attributes only"
    figure.update_layout(
        title=f"Cold-start users ({results['cold_users']}, {what}): recall@k",
        xaxis_title="k",
        yaxis_title="recall@k",
        template="plotly_white",
    )
    return figure
