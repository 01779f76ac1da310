"""Benchmark records: every result file says which command, data, seed and machine made it, and a
file that gathers rows of several runs says which run made each row."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import whyrec
from whyrec._io import write_json_atomic
from whyrec.errors import ParameterError


def machine() -> dict[str, Any]:
    """The hardware and software a measurement ran on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(memory_gib, 1) if memory_gib else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
    }


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_result(path: str | os.PathLike, *, data: Any, seed: Any, results: Mapping[str, Any], **extra: Any) -> Path:
    """Write a benchmark result JSON with its provenance (command, data, seed, machine)."""
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": data,
        "seed": seed,
        "whyrec_version": whyrec.__version__,
        "git_revision": git_revision(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **extra,
        "results": dict(results),
    }
    path = Path(path)
    write_json_atomic(path, payload)
    return path


def run_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The run that wrote a result JSON (as :func:`write_result` records it): command, revision, date."""
    return {k: result.get(k) for k in ("command", "git_revision", "date")}


def timed(function: Callable[[], Any], *, repeat: int = 5, warmup: int = 1) -> tuple[float, list[float], Any]:
    """Median wall time (s) of `function` over `repeat` runs after `warmup`, all times, last result."""
    result = None
    for _ in range(warmup):
        result = function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times, result


def require_same_settings(settings: Mapping[str, tuple[Any, Any]], what: str) -> None:
    """Refuse to add `what` when a stored setting (first of each pair) differs from this run's, naming each."""
    differ = [f"{key} {was!r} there, {now!r} here" for key, (was, now) in settings.items() if was != now]
    if differ:
        raise ParameterError(f"cannot add {what} run with other settings: " + "; ".join(differ))


def earlier_runs(
    previous: Mapping[str, Any], names: Sequence[str], replaced: Collection[str], key: str = "models"
) -> list[dict]:
    """The runs behind a stored result's rows `names` that survive `replaced`: command, revision, date,
    and the rows each one still contributes under `key` (the file's own run made the rows no earlier
    run claims)."""
    runs = list(previous["results"].get("earlier_runs", []))
    attributed = {m for run in runs for m in run[key]}
    latest = [m for m in names if m not in attributed]
    runs.append({**run_of(previous), key: latest})
    earlier = [{**run, key: [m for m in run[key] if m not in replaced]} for run in runs]
    return [run for run in earlier if run[key]]


def stored_result(target: Path, key: str, kind: str, chosen: Sequence[str] | None) -> dict[str, Any]:
    """The stored result JSON that ``--add`` adds `chosen` rows to (its ``results[key]`` must exist),
    or a one-line error naming what is wrong."""
    import json

    from whyrec.errors import DataError

    if not chosen:
        raise ParameterError("--add needs --models: the models to add")
    if not target.exists():
        raise ParameterError(f"--add: {target} does not exist; run the study without --add first")
    try:
        previous = json.loads(target.read_text())
        previous["results"][key]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"--add: {target} is not {kind}'s result JSON ({exc})") from exc
    return dict(previous)


def run_main(main: Callable[[], None]) -> None:
    """Run a benchmark's `main`, turning a whyrec error into one line on stderr and exit status 2."""
    from whyrec.errors import WhyrecError

    try:
        main()
    except WhyrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
