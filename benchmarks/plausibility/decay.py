"""RecoNet's weight decay against its reasons, fidelity and accuracy: the measured choice of its default.

    python -m benchmarks.plausibility.decay --data ml-1m --decays 0 1e-6 3e-6 1e-5 --seed 0
    python -m benchmarks.plausibility.decay --data ml-100k --family reconet_attribute_output \
        --decays 1e-10 3e-6 1e-5 3e-5 --seed 0

Trains, at each weight decay, the configuration `whyrec train` starts a RecoNet family's search
from (the first prior of `--family`, by default ``reconet_masked_fast``, the masked objective),
and that model blended with iALS's first prior (the default's usual winner on MovieLens), on the
split of Table 1's seed; for the masked family, `RecoNet()` at its other defaults too. Reports
for each: test recall@50, and on the same 200 test users' top recommendation the plausibility of
the exact reasons (LRP; the blend's) beside their fidelity, as :mod:`benchmarks.plausibility.run`
measures them. Writes ``results/decay_NAME.json`` (another family: ``decay_NAME_FAMILY.json``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.plausibility.run import TOP, held_out_users, references, series_pairs
from benchmarks.provenance import run_main, write_result
from whyrec._runtime import tune_allocator
from whyrec.data.spec import load_spec
from whyrec.data.splits import split
from whyrec.evaluate.fidelity import fidelity
from whyrec.evaluate.plausibility import (
    group_hits,
    neighbour_agreement,
    reason_popularity,
    shared_attribute,
)
from whyrec.explain.base import default_method, explain_pairs
from whyrec.metrics import evaluate
from whyrec.tuning.catalogue import build
from whyrec.tuning.select import PRIORS

RESULTS = results_dir("plausibility")
MASKED = "reconet_masked_fast"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-1m", choices=list(MOVIELENS_NAMES))
    p.add_argument("--decays", nargs="+", type=float, default=[0.0, 1e-6, 3e-6, 1e-5])
    p.add_argument("--family", default=MASKED, choices=[MASKED, "reconet_attribute_output", "reconet_by_kind"])
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    tune_allocator()
    dataset = load_spec(f"movielens:{data_dir(args.data)}", seed=args.seed)
    parts = split(dataset, seed=args.seed)
    reference = references(dataset, parts)
    users, explainable = held_out_users(parts)
    rng = np.random.default_rng(args.seed)
    sampled = np.sort(rng.choice(explainable, min(args.pairs, len(explainable)), replace=False))
    ials = build("ials", dict(PRIORS["ials"][0]), args.seed, parts.train).fit(parts.train, parts.validation)
    fitted: dict[float, Any] = {}  # the RecoNet prior at each decay, trained once for itself and its blend
    out: dict[str, Any] = {}
    family = args.family
    labels = [f"{family} prior", f"blend ials prior + {family} prior"]
    for label in ["RecoNet()", *labels] if family == MASKED else labels:
        for decay in args.decays:
            started = time.perf_counter()
            model = _model(label, family, decay, ials, parts, args.seed, fitted)
            seconds = time.perf_counter() - started
            row = _measure(model, parts, sampled, users, reference, args.pairs, np.random.default_rng(args.seed))
            epoch = getattr(model, "best_epoch_", None)
            out.setdefault(label, {})[f"{decay:g}"] = {"fit_seconds": seconds, "best_epoch": epoch, **row}
            print(
                f"{label} weight_decay {decay:g}: recall@50 {row['recall@50']:.4f}, neighbours "
                f"{row['neighbours']['share']:.3f}, franchise {row['franchise']['share']:.3f}, "
                f"POS@5 {row['POS@5']:.3f}, fit {seconds:.0f} s",
                flush=True,
            )
    suffix = "" if family == MASKED else f"_{family}"
    path = write_result(
        RESULTS / f"decay_{MOVIELENS_NAMES[args.data]}{suffix}.json",
        data=f"{args.data} (random 60/20/20; top recommendation of {len(sampled)} test users)",
        seed=args.seed,
        results=out,
    )
    print(f"wrote {path}")


def _model(label: str, family: str, decay: float, ials: Any, parts: Any, seed: int, fitted: dict[float, Any]) -> Any:
    """`RecoNet()`, the first prior of the family's search, or its blend with iALS's first prior
    (weights on validation, as the selection blends), at weight decay `decay`."""
    from whyrec.models import Blend, RecoNet

    if label == "RecoNet()":
        return RecoNet(weight_decay=decay, seed=seed).fit(parts.train, parts.validation)
    if decay not in fitted:
        params = {**PRIORS[family][0], "weight_decay": decay}
        fitted[decay] = build(family, params, seed, parts.train).fit(parts.train, parts.validation)
    reconet = fitted[decay]
    if not label.startswith("blend"):
        return reconet
    blend = Blend.of([ials, reconet], [0.5, 0.5])
    weights, _ = blend.weigh(parts.validation)
    blend.weights, blend.weights_ = [float(w) for w in weights], weights
    return blend


def _measure(
    model: Any, parts: Any, sampled: np.ndarray, users: np.ndarray, ref: dict, n: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Recall@50, and the LRP reasons' plausibility and fidelity on the sampled users' top item."""
    known = parts.train.matrix() + parts.validation.matrix()
    bags = model.user_profiles(sampled)
    n_items = model.feature_space_.n_items
    targets = model.top_k(model.score(bags), 1, sp.csr_matrix(bags[:, :n_items])).items[:, 0]
    method = default_method(model)  # LRP for RecoNet, the blend of its members' exact reasons
    explained = explain_pairs(model, bags, targets, method=method)
    scores = fidelity(model, bags, explained, steps=5, cutoffs=(5,))
    series_bags, series_targets = series_pairs(model, users, ref["series"], ref["years"], n, rng)
    hits = explain_pairs(model, series_bags, series_targets, method=method)
    return {
        "recall@50": float(evaluate(model, parts.test, exclude=known, k=50)["recall@50"]),
        "neighbours": neighbour_agreement(explained, bags, ref["neighbours"], top=TOP),
        "genre": shared_attribute(explained, bags, ref["genres"], top=TOP),
        "popularity": reason_popularity(explained, bags, ref["counts"], top=TOP),
        "franchise": group_hits(hits, series_bags, ref["series"], top=TOP),
        "POS@5": scores["POS@5_auc"],
        "DEL": scores["DEL_auc"],
        "INS": scores["INS_auc"],
    }


if __name__ == "__main__":
    run_main(main)
