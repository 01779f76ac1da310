"""Helpers shared by the benchmark scripts: locating real data and the results folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def data_dir(name: str) -> Path:
    """A real data set's folder (WHYREC_DATA or ../shared/datasets); exits with a message if absent."""
    roots = [Path(os.environ["WHYREC_DATA"])] if os.environ.get("WHYREC_DATA") else []
    roots.append(ROOT.parent / "shared" / "datasets")
    for root in roots:
        if (root / name).is_dir():
            return root / name
    sys.exit(f"data set {name!r} not found: set WHYREC_DATA or place it at ../shared/datasets/{name}")
