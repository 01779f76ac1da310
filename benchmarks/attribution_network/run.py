"""Attribution networks (tower and masked) against a black-box MLP: accuracy and read-out.

    python -m benchmarks.attribution_network.run --task synthetic --seed 0 --seed 1 --seed 2
    python -m benchmarks.attribution_network.run --task movielens:../shared/datasets/ml-1m --name ml-1m-half
    python -m benchmarks.attribution_network.run --task frappe:../shared/datasets/frappe

Writes ``results/attribution_network_NAME.json`` and ``.html``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.attribution_network.study import attribution_study
from benchmarks.common import results_dir
from benchmarks.provenance import run_main

RESULTS = results_dir("attribution_network")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="synthetic", help="synthetic | movielens:PATH | frappe:PATH")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and HTML results")
    p.add_argument("--name", help="name used in the file names (default: from the task)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default 80 synthetic, 30 MovieLens)")
    p.add_argument("--seed", type=int, action="append", help="seed; repeat for several (metrics averaged)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    attribution_study(args.task, args.out, name=args.name, seed=args.seed or [0], epochs=args.epochs, log=print)


if __name__ == "__main__":
    run_main(main)
