"""`whyrec data inspect` on MovieLens 100K: the whole command, timed as a user runs it.

    python -m benchmarks.data_inspect.run

Runs ``whyrec data inspect movielens:PATH --json`` in a fresh process three times (imports, loading,
the report and the split preview included) and writes benchmarks/data_inspect/results/data_inspect_ml-100k.json
with the median time and the report itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import data_dir, results_dir
from benchmarks.provenance import write_result

RESULTS = results_dir("data_inspect")

WHYREC = Path(sys.executable).with_name("whyrec")


def main() -> None:
    spec = f"movielens:{data_dir('ml-100k')}"
    times, report = [], None
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([str(WHYREC), "data", "inspect", spec, "--json"], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        report = json.loads(done.stdout)
    seconds = sorted(times)[1]
    path = write_result(
        RESULTS / "data_inspect_ml-100k.json",
        data="ml-100k (ratings >= 3; random 60/20/20 split previewed)",
        seed=0,
        results={"seconds_median": seconds, "seconds_runs": times, "report": report},
    )
    print(f"whyrec data inspect on ml-100k: {seconds:.2f} s (median of 3) -> {path}")


if __name__ == "__main__":
    main()
