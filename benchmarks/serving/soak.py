"""A soak of the service under faults: mixed load for minutes, a worker killed, a restart, bad bodies.

    python -m benchmarks.serving.soak --seconds 300 --clients 12 --seed 0

Trains RecoNet on ml-1m-half (one epoch: the service's behaviour, not the model's accuracy, is
measured) and serves it with `whyrec serve` in its own session, with a SQLite event store, one
slow-method worker and an explanation timeout short enough for LIME and KernelSHAP to pass it.
First LRP `/explain` alone (the quiet run), then `--clients` closed-loop clients for `--seconds`:

- recommendations (40%), LRP explanations (30%), events (15%), slow explanations that time out
  (10%) and malformed or impossible requests (5%);
- a third of the way through, the slow worker is killed with SIGKILL in the middle of a job;
- two thirds of the way through, the server is stopped (SIGTERM) and started again on the store.

Every answer's status is checked against what its request may get (a slow explanation: 200, 429
or 503; a malformed body: 404, 409 or 422; ...). Requests refused while the server restarts are
counted apart. At the end every acknowledged (201) event is looked for in its user's history,
the server is stopped, and any process of its session still alive is counted as leaked.
Writes ``results/serve_soak_ml-1m-half.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import free_port, results_dir, served_model
from benchmarks.provenance import write_result

RESULTS = results_dir("serving")
# what each kind of request may be answered: anything else is unexpected
EXPECTED = {
    "recommend": {200},
    "explain_lrp": {200},
    "event": {201},
    "explain_slow": {200, 429, 503},
    "malformed": {404, 409, 422},
}
MIX = {"recommend": 0.40, "explain_lrp": 0.30, "event": 0.15, "explain_slow": 0.10, "malformed": 0.05}


class Server:
    """`whyrec serve` in its own session, restartable on the same store and port."""

    def __init__(self, model_dir: Path, store: Path, timeout: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            "-m",
            "whyrec",
            "serve",
            "--model",
            f"ml1m={model_dir}",
            "--port",
            str(self.port),
            "--store",
            str(store),
            "--slow-workers",
            "1",
            "--slow-queue",
            "4",
            "--explain-timeout",
            str(timeout),
        ]
        self.sessions: list[int] = []
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="whyrec-soak-", suffix=".log")[1])

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        self.sessions.append(self.process.pid)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit(f"the server did not start; its log is {self.log}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)

    def slow_worker(self) -> int | None:
        """The pid of the server's slow-method worker (not its resource tracker), when one runs."""
        assert self.process is not None
        for pid in session_processes(self.process.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                return pid
        return None


def session_processes(sid: int) -> set[int]:
    """Live processes of session `sid` (zombies, already dead, are not counted)."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.add(int(entry))
    return found


def requests_for(kind: str, pairs: list[dict], rng: np.random.Generator, client: int, n: int) -> tuple[str, Any]:
    """One request of `kind`: its path and JSON body (or raw bytes for a body that is not JSON)."""
    pair = pairs[int(rng.integers(len(pairs)))]
    if kind == "recommend":
        return "/recommend", {"user_id": pair["user_id"], "k": 10}
    if kind == "explain_lrp":
        return "/explain", {**pair, "method": "lrp"}
    if kind == "explain_slow":
        return "/explain", {**pair, "method": str(rng.choice(["lime", "kernel_shap"]))}
    if kind == "event":
        event = {"user_id": f"soak-{client}", "item_id": pair["item_id"], "timestamp": float(n)}
        return "/events", {"events": [event]}
    bad = [
        ("/explain", b"{not json"),
        ("/recommend", {"user_id": True, "k": 10}),
        ("/why-not", {"user_id": pair["user_id"], "item_id": "no-such-item"}),
        ("/explain", {"user_id": pair["user_id"], "item_id": pair["item_id"], "method": "astrology"}),
    ]
    return bad[int(rng.integers(len(bad)))]


async def client_loop(url: str, pairs: list[dict], client: int, stop: float, seed: int, out: dict) -> None:
    rng = np.random.default_rng([seed, client])
    kinds, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        n = 0
        while time.perf_counter() < stop:
            kind = str(rng.choice(kinds, p=weights))
            path, body = requests_for(kind, pairs, rng, client, n)
            n += 1
            start = time.perf_counter()
            try:
                if isinstance(body, bytes):
                    response = await http.post(path, content=body, headers={"content-type": "application/json"})
                else:
                    response = await http.post(path, json=body)
            except httpx.HTTPError:
                out["refused"][kind] += 1  # the server is down (its restart): not an answer
                await asyncio.sleep(0.05)
                continue
            out["statuses"][f"{kind} {response.status_code}"] += 1
            if response.status_code not in EXPECTED[kind]:
                out["unexpected"].append({"kind": kind, "status": response.status_code, "body": response.text[:300]})
            if kind == "explain_lrp" and response.status_code == 200:
                out["lrp_ms"].append((time.perf_counter() - start) * 1e3)
            if kind == "event" and response.status_code == 201:
                out["acknowledged"].append((client, body["events"][0]["item_id"], body["events"][0]["timestamp"]))


async def faults(server: Server, seconds: float, out: dict) -> None:
    """Kill the slow worker mid-job a third of the way in; restart the server two thirds in."""
    await asyncio.sleep(seconds / 3)
    for _ in range(200):  # wait for a moment when it is running a job (its CPU time grows)
        pid = server.slow_worker()
        if pid is not None and await _busy(pid):
            os.kill(pid, signal.SIGKILL)
            out["faults"].append({"at_s": round(seconds / 3, 1), "fault": "SIGKILL to the slow worker", "pid": pid})
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(seconds / 3)
    started = time.perf_counter()
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)
    out["faults"].append({"fault": "server restarted (SIGTERM, start)", "seconds_down": time.perf_counter() - started})


async def _busy(pid: int) -> bool:
    """Whether `pid` is using the CPU now (its user + system time grows over 50 ms)."""

    def cpu() -> int:
        return sum(map(int, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]))

    try:
        before = cpu()
        await asyncio.sleep(0.05)
        return cpu() > before
    except OSError:
        return False


async def soak(server: Server, pairs: list[dict], clients: int, seconds: float, seed: int) -> dict:
    out: dict[str, Any] = {
        "statuses": Counter(),
        "refused": Counter(),
        "unexpected": [],
        "lrp_ms": [],
        "acknowledged": [],
        "faults": [],
    }
    stop = time.perf_counter() + seconds
    loops = [client_loop(server.url, pairs, c, stop, seed, out) for c in range(clients)]
    await asyncio.gather(faults(server, seconds, out), *loops)
    return out


def quiet_lrp(url: str, pairs: list[dict], seconds: float) -> list[float]:
    """LRP /explain latency of one client alone, closed loop (ms)."""
    times = []
    with httpx.Client(base_url=url, timeout=30) as http:
        stop = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < stop:
            start = time.perf_counter()
            response = http.post("/explain", json={**pairs[n % len(pairs)], "method": "lrp"})
            if response.status_code == 200:
                times.append((time.perf_counter() - start) * 1e3)
            n += 1
    return times


def lost_events(url: str, acknowledged: list[tuple[int, Any, float]]) -> int:
    """Acknowledged events missing from their user's stored history."""
    lost = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        for client in sorted({a[0] for a in acknowledged}):
            history = http.get(f"/users/soak-{client}/history").json().get("events", [])
            stored = {float(e["timestamp"]) for e in history}
            lost += sum(1 for a in acknowledged if a[0] == client and float(a[2]) not in stored)
    return lost


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(array, 50)), "p99": float(np.percentile(array, 99)), "n": len(array)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=0.5, help="the server's --explain-timeout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, pairs = served_model(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(model.save(Path(tmp) / "model"), Path(tmp) / "events.db", args.timeout)
        server.start()
        try:
            quiet = quiet_lrp(server.url, pairs, 20.0)
            out = asyncio.run(soak(server, pairs, args.clients, args.seconds, args.seed))
            lost = lost_events(server.url, out["acknowledged"])
        finally:
            server.stop()
        time.sleep(2)  # workers exit within a second of their parent
        leaked = sorted(set().union(*(session_processes(sid) for sid in server.sessions)))
        log = server.log.read_text(errors="replace")
    results = {
        "seconds": args.seconds,
        "clients": args.clients,
        "explain_timeout_s": args.timeout,
        "requests": sum(out["statuses"].values()),
        "by_status": dict(sorted(out["statuses"].items())),
        "refused_while_restarting": dict(out["refused"]),
        "unexpected_statuses": len(out["unexpected"]),
        "unexpected_examples": out["unexpected"][:10],
        "events_acknowledged": len(out["acknowledged"]),
        "events_lost": lost,
        "leaked_processes": len(leaked),
        "faults": out["faults"],
        "lrp_ms_quiet": percentiles(quiet),
        "lrp_ms_under_load": percentiles(out["lrp_ms"]),
        "server_log": {"tracebacks": log.count("Traceback"), "unretrieved_futures": log.count("never retrieved")},
    }
    path = write_result(RESULTS / "serve_soak_ml-1m-half.json", data="ml-1m-half", seed=args.seed, results=results)
    print(
        f"{results['requests']:,} requests, {results['unexpected_statuses']} unexpected statuses, "
        f"{lost} of {len(out['acknowledged'])} acknowledged events lost, {len(leaked)} leaked processes; "
        f"LRP p50/p99 {results['lrp_ms_quiet']['p50']:.1f}/{results['lrp_ms_quiet']['p99']:.1f} ms quiet, "
        f"{results['lrp_ms_under_load']['p50']:.1f}/{results['lrp_ms_under_load']['p99']:.1f} ms under load. "
        f"Wrote {path}"
    )


if __name__ == "__main__":
    main()
