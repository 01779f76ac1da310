"""Benchmark records: every result file says which command, data, seed and machine made it."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import whyrec
from whyrec._io import write_json_atomic


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
