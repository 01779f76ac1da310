"""The default model's exact reasons against iALS's decomposition, on every pair, with intervals.

    python -m benchmarks.plausibility.against_ials --data ml-1m ml-100k --seed 0

The plausibility run (:mod:`benchmarks.plausibility.run`) explains a sample of pairs with every
method of every model: enough to rank methods, not to tell apart two models a few points apart,
and each model's franchise test there draws its own pairs. This run asks only whether the
default's reasons are as plausible as those of whyrec's exact iALS decomposition. On the same
split and the same selection as that run, each model the selection kept is explained with its
exact method (the one its explanations use by default) on every pair:

- the top recommendation of every test user with a history of two or more, for the neighbour and
  genre tests and fidelity (POS@5, DEL, INS over Ke = 1..5);
- every pair of the franchise test: a top-10 film of a series whose history holds an earlier one.

Each share comes with its standard error over pairs. The default is then compared with iALS on
the pairs they share (:func:`whyrec.evaluate.plausibility.paired_difference`): for the neighbour
test the same users (each model's own top recommendation), for the franchise test the same
(user, film) pairs. Writes ``results/against_ials_NAME.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.plausibility.run import TOP, held_out_users, kept_models, references, series_candidates
from benchmarks.provenance import run_main, write_result
from whyrec._runtime import tune_allocator
from whyrec.data.spec import load_spec
from whyrec.data.splits import split
from whyrec.evaluate.fidelity import fidelity
from whyrec.evaluate.plausibility import (
    group_hits,
    neighbour_agreement,
    paired_difference,
    reason_popularity,
    shared_attribute,
)
from whyrec.explain.base import default_method, explain_pairs
from whyrec.metrics import evaluate

RESULTS = results_dir("plausibility")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["ml-1m", "ml-100k"], choices=list(MOVIELENS_NAMES))
    p.add_argument("--budget", type=float, default=None, help="selection budget in seconds (default: train's)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, split and selection")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    tune_allocator()
    for data in args.data:
        name = MOVIELENS_NAMES[data]
        results = study(data, args.budget, args.seed)
        path = write_result(
            RESULTS / f"against_ials_{name}.json",
            data=f"{data} (random 60/20/20; every explainable test user, every franchise pair)",
            seed=args.seed,
            results=results,
        )
        print(f"wrote {path}")


def study(data: str, budget: float | None, seed: int) -> dict[str, Any]:
    dataset = load_spec(f"movielens:{data_dir(data)}", seed=seed)
    parts = split(dataset, seed=seed)
    models, selection = kept_models(dataset, parts, MOVIELENS_NAMES[data], budget, seed, table1=False)
    reference = references(dataset, parts)
    users, explainable = held_out_users(parts)
    known = parts.train.matrix() + parts.validation.matrix()
    out: dict[str, Any] = {"selection": selection, "models": {}}
    values: dict[str, tuple[dict, dict]] = {}  # per model: user -> neighbour share, (user, film) -> hit
    for label, model in models.items():
        started = time.perf_counter()
        row, values[label] = _measure(model, parts.test, known, explainable, users, reference)
        row["seconds"] = time.perf_counter() - started
        out["models"][label] = row
        print(f"[{data}] {label} {row['method']}: {_line(row)}", flush=True)
    default = next(label for label in models if label.startswith("default"))
    if "ials" in values and default != "default: ials":
        out["paired"] = {
            test: paired_difference(*_aligned(values[default][i], values["ials"][i]))
            for i, test in enumerate(("neighbours", "franchise"))
        }
        print(f"[{data}] {default} minus ials, shared pairs: {out['paired']}", flush=True)
    return out


def _measure(
    model: Any, test: Any, known: sp.spmatrix, explainable: np.ndarray, users: np.ndarray, ref: dict
) -> tuple[dict[str, Any], tuple[dict, dict]]:
    """One model's row (recall@50 on `test`, `known` interactions excluded), and its per-pair
    values keyed for pairing with another model's."""
    method = default_method(model)
    bags = model.user_profiles(explainable)
    n_items = model.feature_space_.n_items
    targets = model.top_k(model.score(bags), 1, sp.csr_matrix(bags[:, :n_items])).items[:, 0]
    explained = explain_pairs(model, bags, targets, method=method)
    scores = fidelity(model, bags, explained, steps=5, cutoffs=(5,))
    near = neighbour_agreement(explained, bags, ref["neighbours"], top=TOP, per_pair=True)
    all_bags, rows, films = series_candidates(model, users, ref["series"], ref["years"])
    series_bags = all_bags[rows]
    hits = group_hits(
        explain_pairs(model, series_bags, films, method=method), series_bags, ref["series"], top=TOP, per_pair=True
    )
    row = {
        "method": method,
        "recall@50": float(evaluate(model, test, exclude=known, k=50)["recall@50"]),
        "neighbours": {k: v for k, v in near.items() if k != "values"},
        "genre": shared_attribute(explained, bags, ref["genres"], top=TOP),
        "popularity": reason_popularity(explained, bags, ref["counts"], top=TOP),
        "franchise": {k: v for k, v in hits.items() if k != "values"},
        "POS@5": scores["POS@5_auc"],
        "DEL": scores["DEL_auc"],
        "INS": scores["INS_auc"],
    }
    by_user = dict(zip(explainable.tolist(), near["values"], strict=True))
    by_pair = dict(zip(zip(users[rows].tolist(), films.tolist(), strict=True), hits["values"], strict=True))
    return row, (by_user, by_pair)


def _aligned(first: dict, second: dict) -> tuple[list[float], list[float]]:
    """The values of the keys both hold, in one order."""
    shared = sorted(first.keys() & second.keys())
    return [first[k] for k in shared], [second[k] for k in shared]


def _line(row: dict[str, Any]) -> str:
    def share(test: str) -> str:
        m = row[test]
        se = m["se"] if m["se"] is not None else float("nan")
        return f"{test} {m['share']:.3f} ± {1.96 * se:.3f} of {m['pairs']}"

    return f"{share('neighbours')}; {share('franchise')}; POS@5 {row['POS@5']:.3f}; recall@50 {row['recall@50']:.4f}"


if __name__ == "__main__":
    run_main(main)
