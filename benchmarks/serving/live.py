"""The live service under load: no stall behind slow explanations, a mixed load with events, and
latency from a native load generator (hey) beside the Python client, for 1 and 2 workers.

    python -m benchmarks.serving.live --seconds 30 --seed 0 [--old-src /path/to/old/checkout/src]

Trains RecoNet on ml-1m-half (one epoch: latency depends on the model's size, not its accuracy),
and starts `whyrec serve` in its own process with a SQLite event store. Three measurements:

- **stall**: LRP /explain latency (one client, closed loop) alone, then while two other clients
  keep asking for KernelSHAP; with `--old-src`, the same against an older checkout's server (the
  one whose handlers ran on the event loop), for the before/after;
- **mixed**: 32 clients for `--seconds`: 50% /recommend, 30% /explain (LRP), 20% POST /events,
  for 1 and 2 server workers: errors, throughput, end-to-end and handler (Server-Timing) latency;
- **native**: Debian's `hey` (32 connections, `--seconds`) on /explain, per-request times from its
  CSV output, for 1 and 2 workers.

Server and clients share this machine's cores (2 here), which the latencies include. Writes
benchmarks/serving/results/serve_live_ml-1m-half.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import data_dir, free_port, results_dir, served_model
from benchmarks.provenance import write_result

RESULTS = results_dir("serving")


def _start(model_dir: Path, store: Path | None, workers: int, src: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "whyrec", "serve", "--model", f"ml1m={model_dir}", "--port", str(port)]
    if store is not None:
        command += ["--store", str(store), "--workers", str(workers)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if src:
        env["PYTHONPATH"] = src
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                time.sleep(3.0 if store is not None else 0.5)  # the explanation workers start with the server
                return server, url
        except httpx.HTTPError:
            time.sleep(0.3)
        if server.poll() is not None:
            raise SystemExit(server.stderr.read().decode())
    raise SystemExit("the server did not start")


def _old_model(src: str, out: Path, seed: int) -> Path:
    """The same model trained and saved by the older checkout (its own artifact format)."""
    script = (
        "import sys; from whyrec.data import load_movielens, split; from whyrec.models import RecoNet; "
        f"parts = split(load_movielens({str(data_dir('ml-1m'))!r}), seed={seed}); "
        f"RecoNet(sampling='removal', dim=64, batch_size=2048, lr=5e-2, epochs=1, seed={seed})"
        f".fit(parts.train).save({str(out)!r})"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        env={**os.environ, "PYTHONPATH": src},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out


def _stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _summary(values: list[float]) -> dict:
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if not len(array):
        return {}
    return {p: float(np.percentile(array, q)) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))} | {
        "mean": float(array.mean()),
        "max": float(array.max()),
        "n": len(array),
    }


def _timing(response: httpx.Response) -> dict[str, float]:
    """`Server-Timing` entries by name (app: inside the app; compute: computing, without queueing)."""
    out = {}
    for value in response.headers.get_list("server-timing"):
        for entry in value.split(","):
            name, _, duration = entry.strip().partition(";dur=")
            if duration:
                out[name] = float(duration)
    return out


async def _loop(url: str, make, stop: float, rng: np.random.Generator, out: dict) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        while time.perf_counter() < stop:
            kind, method, path, body = make(rng)
            start = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
            except httpx.HTTPError:
                out.setdefault("errors", {}).setdefault(kind, 0)
                out["errors"][kind] += 1
                continue
            elapsed = (time.perf_counter() - start) * 1e3
            if response.status_code >= 400:
                out.setdefault("errors", {}).setdefault(kind, 0)
                out["errors"][kind] += 1
                continue
            out.setdefault(kind, {"latency": [], "handler": [], "compute": []})
            timing = _timing(response)
            out[kind]["latency"].append(elapsed)
            out[kind]["handler"].append(timing.get("app", np.nan))
            out[kind]["compute"].append(timing.get("compute", np.nan))


async def _run(url: str, groups: list[tuple[int, object]], seconds: float, seed: int) -> dict:
    out: dict = {}
    stop = time.perf_counter() + seconds
    tasks = []
    for g, (clients, make) in enumerate(groups):
        tasks += [_loop(url, make, stop, np.random.default_rng([seed, g, n]), out) for n in range(clients)]
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    out["wall"] = time.perf_counter() - started
    return out


def _report(raw: dict) -> dict:
    kinds = {k: v for k, v in raw.items() if k not in ("errors", "wall")}
    return {
        "wall_s": raw["wall"],
        "errors": raw.get("errors", {}),
        "requests": {k: len(v["latency"]) for k, v in kinds.items()},
        "throughput_per_s": sum(len(v["latency"]) for v in kinds.values()) / raw["wall"],
        "end_to_end_ms": {k: _summary(v["latency"]) for k, v in kinds.items()},
        "handler_ms": {k: _summary(v["handler"]) for k, v in kinds.items()},
        "compute_ms": {k: _summary(v["compute"]) for k, v in kinds.items()},
    }


def _hey(url: str, body: dict, seconds: float, connections: int) -> dict:
    hey = shutil.which("hey")
    if hey is None:
        return {"skipped": "Debian's hey is not installed (apt-get install hey)"}
    command = [
        hey,
        "-z",
        f"{seconds:g}s",
        "-c",
        str(connections),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-d",
        json.dumps(body),
        "-o",
        "csv",
        url + "/explain",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    latency = [float(r["response-time"]) * 1e3 for r in rows]
    statuses = [int(r["status-code"]) for r in rows]
    wall = max(float(r["offset"]) for r in rows) if rows else seconds
    return {
        "tool": "hey " + " ".join(command[1:-1]).replace(json.dumps(body), "BODY"),
        "requests": len(rows),
        "non_2xx": sum(s >= 300 for s in statuses),
        "throughput_per_s": len(rows) / wall,
        "end_to_end_ms": _summary(latency),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--stall-seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old-src", default=None, help="src/ of an older checkout, for the stall before/after")
    args = parser.parse_args()
    model, pairs = served_model(args.seed)
    fs = model.feature_space_
    event_users = [f"live-{n}" for n in range(200)]

    def lrp(r):
        return "explain_lrp", "POST", "/explain", {**pairs[int(r.integers(len(pairs)))], "method": "lrp"}

    def kernel_shap(r):
        return (
            "explain_kernel_shap",
            "POST",
            "/explain",
            {**pairs[int(r.integers(len(pairs)))], "method": "kernel_shap"},
        )

    def mixed(r):
        draw = r.random()
        if draw < 0.5:
            user = pairs[int(r.integers(len(pairs)))]["user_id"] if draw < 0.4 else event_users[int(r.integers(200))]
            return "recommend", "POST", "/recommend", {"user_id": user, "k": 10}
        if draw < 0.8:
            return "explain_lrp", "POST", "/explain", pairs[int(r.integers(len(pairs)))]
        event = {"user_id": event_users[int(r.integers(200))], "item_id": fs.item_ids[int(r.integers(fs.n_items))]}
        return "events", "POST", "/events", {"events": [event]}

    results: dict = {"model": {"n_tokens": fs.n_tokens, "n_items": fs.n_items, "dim": model.dim}}
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "model")
        # -- stall: LRP alone, then beside two KernelSHAP clients ----------------------------------------------
        servers = [("whyrec", None)] + ([("before", args.old_src)] if args.old_src else [])
        results["stall"] = {}
        for label, src in servers:
            store = None if src else Path(tmp) / "stall.db"
            served = path if not src else _old_model(src, Path(tmp) / "old-model", args.seed)
            server, url = _start(served, store, 1, src)
            try:
                asyncio.run(_run(url, [(1, lrp)], 3.0, args.seed))  # warm-up
                alone = _report(asyncio.run(_run(url, [(1, lrp)], args.stall_seconds, args.seed)))
                busy = _report(asyncio.run(_run(url, [(1, lrp), (2, kernel_shap)], args.stall_seconds, args.seed)))
            finally:
                _stop(server)
            ratio = busy["end_to_end_ms"]["explain_lrp"]["p50"] / alone["end_to_end_ms"]["explain_lrp"]["p50"]
            results["stall"][label] = {"lrp_alone": alone, "lrp_with_2_kernel_shap_clients": busy, "p50_ratio": ratio}
            print(
                f"stall [{label}]: LRP p50 alone {alone['end_to_end_ms']['explain_lrp']['p50']:.2f} ms, "
                f"with 2 KernelSHAP clients {busy['end_to_end_ms']['explain_lrp']['p50']:.2f} ms ({ratio:.2f}x)"
            )
        # -- mixed load and the native generator, 1 and 2 workers ---------------------------------------------
        results["mixed"], results["native"] = {}, {}
        for workers in (1, 2):
            server, url = _start(path, Path(tmp) / f"mixed-{workers}.db", workers)
            try:
                # every new user has one event before the load, so a recommendation for them can succeed
                seed_events = [
                    {"user_id": u, "item_id": fs.item_ids[n % fs.n_items]} for n, u in enumerate(event_users)
                ]
                httpx.post(url + "/events", json={"events": seed_events}, timeout=30).raise_for_status()
                asyncio.run(_run(url, [(4, mixed)], 3.0, args.seed))  # warm-up
                report = _report(asyncio.run(_run(url, [(args.clients, mixed)], args.seconds, args.seed)))
                report["server_alive_after"] = httpx.get(url + "/health", timeout=5).status_code == 200
                results["mixed"][f"{workers}_workers"] = report
                results["native"][f"{workers}_workers"] = _hey(url, pairs[0], args.seconds, args.clients)
                metrics = httpx.get(url + "/metrics", timeout=5).text
                results["mixed"][f"{workers}_workers"]["metrics_lines"] = sum(
                    line.startswith("whyrec_") for line in metrics.splitlines()
                )
            finally:
                _stop(server)
            m = results["mixed"][f"{workers}_workers"]
            n = results["native"][f"{workers}_workers"]
            print(
                f"mixed [{workers} workers]: {sum(m['requests'].values())} requests, errors {m['errors']}, "
                f"{m['throughput_per_s']:.0f}/s; hey: {n.get('requests')} requests, p50 "
                f"{n.get('end_to_end_ms', {}).get('p50', float('nan')):.1f} ms"
            )
    out = write_result(
        RESULTS / "serve_live_ml-1m-half.json",
        data="ml-1m-half RecoNet (1 epoch); (user, top-10 item) pairs of 500 users; events for 200 new users",
        seed=args.seed,
        results=results,
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
