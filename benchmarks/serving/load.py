"""Load test of POST /explain on an ml-1m-half model: 32 concurrent clients for 30 s over loopback.

    python -m benchmarks.serving.load --clients 32 --seconds 30 --seed 0

Trains RecoNet on ml-1m-half (one epoch: latency depends on the model's size, not its accuracy),
starts `whyrec serve` in its own process on 127.0.0.1, and runs a closed loop of `--clients`
concurrent httpx clients, each asking to explain a (user, recommended item) pair, for a bounded
time. Reports end-to-end latency (client side) and in-process handler time (the server's
Server-Timing header) separately, plus errors and throughput. Writes
benchmarks/serving/results/serve_load_ml-1m-half.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import free_port, results_dir, served_model
from benchmarks.provenance import write_result

RESULTS = results_dir("serving")


async def _client(url: str, pairs: list[dict], stop: float, rng: np.random.Generator, out: dict) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        while time.perf_counter() < stop:
            body = pairs[int(rng.integers(len(pairs)))]
            start = time.perf_counter()
            try:
                response = await client.post("/explain", json=body)
                elapsed = (time.perf_counter() - start) * 1e3
                if response.status_code != 200:
                    out["errors"] += 1
                    continue
                out["latency"].append(elapsed)
                timing = server_timing(response.headers.get_list("server-timing"))
                out["handler"].append(timing.get("app", np.nan))
                out["compute"].append(timing.get("compute", np.nan))
            except httpx.HTTPError:
                out["errors"] += 1


async def _load(url: str, pairs: list[dict], clients: int, seconds: float, seed: int) -> dict:
    out = {"latency": [], "handler": [], "compute": [], "errors": 0}
    stop = time.perf_counter() + seconds
    rngs = [np.random.default_rng([seed, n]) for n in range(clients)]
    started = time.perf_counter()
    await asyncio.gather(*(_client(url, pairs, stop, rng, out) for rng in rngs))
    out["wall"] = time.perf_counter() - started
    return out


def server_timing(values: list[str]) -> dict[str, float]:
    """`Server-Timing` entries by name (app: inside the app; compute: computing, without queueing)."""
    out = {}
    for value in values:
        for entry in value.split(","):
            name, _, duration = entry.strip().partition(";dur=")
            if duration:
                out[name] = float(duration)
    return out


def _summary(values: list[float]) -> dict:
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    return {p: float(np.percentile(array, q)) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))} | {
        "mean": float(array.mean()),
        "max": float(array.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, pairs = served_model(args.seed)
    fs = model.feature_space_
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "model")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "whyrec", "serve", "--model", f"ml1m={path}", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            asyncio.run(_load(url, pairs, 4, 3.0, args.seed))  # warm-up
            result = asyncio.run(_load(url, pairs, args.clients, args.seconds, args.seed))
            alive = httpx.get(url + "/health", timeout=5).status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=20)
    results = {
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": len(result["latency"]),
        "errors": result["errors"],
        "throughput_per_s": len(result["latency"]) / result["wall"],
        "end_to_end_ms": _summary(result["latency"]),
        "handler_ms": _summary(result["handler"]),
        "compute_ms": _summary(result["compute"]),
        "server_alive_after": alive,
        "model": {"n_tokens": fs.n_tokens, "n_items": fs.n_items, "dim": model.dim},
        "note": "server (1 uvicorn worker) and clients share the same 2 cores; end-to-end latency in a "
        "closed loop is dominated by queueing: about clients / throughput. handler_ms is the time inside the "
        "app (queueing for a compute slot included); compute_ms the time computing once a slot is free",
    }
    out = write_result(
        RESULTS / "serve_load_ml-1m-half.json",
        data="ml-1m-half model; POST /explain (LRP) of (user, top-10 recommended item) pairs of 500 users",
        seed=args.seed,
        results=results,
    )
    c, h, e = results["compute_ms"], results["handler_ms"], results["end_to_end_ms"]
    print(
        f"{results['requests']} requests, {results['errors']} errors, {results['throughput_per_s']:.0f}/s; "
        f"compute p50 {c['p50']:.2f} ms p99 {c['p99']:.2f} ms; handler p50 {h['p50']:.2f} ms p99 {h['p99']:.2f} ms; "
        f"end-to-end p50 {e['p50']:.2f} ms p99 {e['p99']:.2f} ms -> {out}"
    )


if __name__ == "__main__":
    main()
