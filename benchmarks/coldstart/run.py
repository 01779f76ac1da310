"""Figure 4: recall@k of cold-start users (10% of test users, history removed from training).

    python -m benchmarks.coldstart.run --data movielens:../shared/datasets/ml-100k --name ml-100k

Two protocols: the user's profile is given at serving time (the paper's), or attributes only. The
models use Table 1's tuned configurations (``benchmarks/accuracy/results/accuracy_NAME.json``) when
that file exists. ``--add --models a,b`` adds curves to a stored study with the same settings.
Writes ``results/coldstart_NAME.json`` and an HTML page of both curves.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks.coldstart.figure4 import PROTOCOLS, add_to_coldstart, coldstart_figure, coldstart_study
from benchmarks.common import results_dir
from benchmarks.provenance import run_main, stored_result, write_result
from whyrec.data.spec import load_spec
from whyrec.viz.page import write_page

RESULTS = results_dir("coldstart")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synthetic", help="a whyrec data spec (see `whyrec train --help`)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and HTML results")
    p.add_argument("--tuned", type=Path, default=results_dir("accuracy"), help="folder of Table 1's results")
    p.add_argument("--name", help="name used in the file names (default: from the data)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...): split, cold users, models")
    p.add_argument("--models", help="comma-separated cold-start models (default: all that can)")
    p.add_argument("--add", action="store_true", help="add the --models' curves to the stored study")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    name = args.name or args.data.split(":")[0]
    tuned = args.tuned / f"accuracy_{name}.json"  # Table 1's tuned configurations, when present
    params = {}
    if tuned.exists():
        params = {k: v["params"] for k, v in json.loads(tuned.read_text())["results"]["models"].items()}
    chosen = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    target = args.out / f"coldstart_{name}.json"
    previous = stored_result(target, "params", "a cold-start study", chosen) if args.add else None
    seeds = list(range(args.seeds))
    results = coldstart_study(load_spec(args.data), models=chosen, params=params, seeds=seeds)
    results["params_from"] = tuned.name if params else "defaults"
    if previous is not None:
        results = add_to_coldstart(previous, results, args.data)
    path = write_result(target, data=args.data, seed=seeds, results=results)
    figures = [coldstart_figure(results, protocol) for protocol in PROTOCOLS]
    write_page(args.out / f"coldstart_{name}.html", f"Cold start on {name}", figures)
    for protocol in PROTOCOLS:
        for model, curve in results[protocol]["curves"].items():
            print(f"{protocol:>16} {model:>36}: cold-start recall@50 {curve[-1]:.4f}")
    print(f"Wrote {path}")


if __name__ == "__main__":
    run_main(main)
