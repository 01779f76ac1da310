"""`whyrec serve` as a real process: refusing unsafe starts, and no acknowledged event lost to kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from whyrec.data.events import EventStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(small_model, tmp_path_factory):
    return small_model.save(tmp_path_factory.mktemp("served") / "model")


def test_non_loopback_without_a_key_is_refused(monkeypatch, capsys, model_dir, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "serve", "-m", model_dir, "--host", "0.0.0.0")
    assert code == 2 and "refusing to serve on 0.0.0.0 without an API key" in err and len(err.splitlines()) == 1
    (tmp_path / "key").write_text("")
    code, _, err = run_cli(monkeypatch, capsys, "serve", "-m", model_dir, "--api-key-file", tmp_path / "key")
    assert code == 2 and "is empty" in err


def test_a_store_that_cannot_be_opened_stops_the_start(monkeypatch, capsys, model_dir, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "serve", "-m", model_dir, "--store", tmp_path / "no" / "e.db")
    assert code == 2 and "cannot open the event store" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(monkeypatch, capsys, "serve", "-m", model_dir, "--store", "postgresql://x@127.0.0.1:1/db")
    assert code == 2 and "cannot open the event store" in err and "Traceback" not in err


def _start(model_dir, port, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "whyrec", "serve", "-m", f"shop={model_dir}", "--port", str(port), *map(str, extra)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own session: every process it starts can be found, and none may outlive it
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
    process.kill()
    raise AssertionError("the server did not start within 60 s")


@pytest.mark.slow
def test_no_acknowledged_event_is_lost_to_kill_9(model_dir, small_model, tmp_path):
    store_path = tmp_path / "events.db"
    port = _free_port()
    server = _start(model_dir, port, "--store", store_path, "--slow-workers", "0")
    items = small_model.feature_space_.item_ids
    acknowledged: list[int] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                body = {"events": [{"user_id": "stream", "item_id": items[n % len(items)], "timestamp": float(n)}]}
                try:
                    response = client.post("/events", json=body)
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code == 201:
                    acknowledged.append(n)

    client = threading.Thread(target=stream)
    client.start()
    while len(acknowledged) < 50:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)  # mid-stream, no chance to flush or close anything
    server.wait()
    stop.set()
    client.join()
    # restarted, the server (and the store) hold every event that got a 2xx
    server = _start(model_dir, port, "--store", store_path, "--slow-workers", "0")
    try:
        history = httpx.get(f"http://127.0.0.1:{port}/users/stream/history", timeout=5).json()["events"]
        stored = {int(e["timestamp"]) for e in history}
        assert set(acknowledged) <= stored
        assert len(stored) - len(acknowledged) <= 1  # at most the one in flight when killed: stored, never acked
        assert EventStore(store_path).count() == len(stored)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_two_workers_share_one_store(model_dir, small_model, tmp_path):
    port = _free_port()
    server = _start(model_dir, port, "--store", tmp_path / "events.db", "--workers", "2", "--slow-workers", "0")
    try:
        item = small_model.feature_space_.item_ids[3]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for n in range(20):  # spread over both workers; every one sees what the others wrote
                assert (
                    client.post("/events", json={"events": [{"user_id": f"w{n}", "item_id": item}]}).status_code == 201
                )
            for n in range(20):
                assert client.get(f"/users/w{n}/history").json()["events"][0]["item_id"] == item
            metrics = client.get("/metrics").text
            assert "whyrec_requests_total" in metrics and "whyrec_event_store_write_seconds" in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _session(sid: int) -> set[int]:
    """The live processes of session `sid` (zombies, already dead, are not counted)."""
    found = set()
    for entry in os.listdir("/proc"):
        fields = _stat(int(entry)) if entry.isdigit() else None
        if fields is not None and int(fields[3]) == sid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _slow_burst(port: int, small_model, stop: threading.Event) -> None:
    """Slow explanations, back to back, until the server goes away."""
    fs = small_model.feature_space_
    body = {"user_id": fs.user_ids[0], "item_id": fs.item_ids[5], "method": "lime"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while not stop.is_set():
            try:
                client.post("/explain", json=body)
            except httpx.HTTPError:
                return


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_process_outlives_the_server(model_dir, small_model, stop_signal):
    port = _free_port()
    server = _start(model_dir, port, "--slow-workers", "1", "--slow-queue", "4", "--explain-timeout", "30")
    stop = threading.Event()
    clients = [threading.Thread(target=_slow_burst, args=(port, small_model, stop)) for _ in range(3)]
    try:
        deadline = time.time() + 30
        while len(_session(server.pid)) < 2 and time.time() < deadline:  # the worker has started
            time.sleep(0.1)
        assert len(_session(server.pid)) >= 2, "the server started no worker process"
        for client in clients:
            client.start()
        time.sleep(1.0)  # slow jobs running and queued
        os.kill(server.pid, stop_signal)  # the server alone: its children must follow on their own
        server.wait(timeout=60)
        deadline = time.time() + 10
        while _session(server.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert _session(server.pid) == set(), f"left running after {stop_signal.name}"
    finally:
        stop.set()
        for client in clients:
            if client.is_alive():
                client.join(timeout=30)
        if server.poll() is None:
            server.kill()
        for pid in _session(server.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_timed_out_job_is_stopped_and_a_404_does_not_wait_behind_it(model_dir, small_model):
    port = _free_port()
    server = _start(model_dir, port, "--slow-workers", "1", "--slow-queue", "8", "--explain-timeout", "0.05")
    fs = small_model.feature_space_
    slow = {"user_id": fs.user_ids[0], "item_id": fs.item_ids[5], "method": "lime"}
    results: list[int] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.time() + 30
            while len(_session(server.pid)) < 2 and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(3)  # the worker has loaded the model

            def ask() -> None:
                results.append(client.post("/explain", json=slow).status_code)

            threads = [threading.Thread(target=ask) for _ in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(0.02)
            start = time.perf_counter()
            missing = client.post("/why-not", json={"user_id": fs.user_ids[0], "item_id": "no-such-item"})
            waited = time.perf_counter() - start
            assert missing.status_code == 404 and "no-such-item" in missing.json()["detail"]
            assert waited < 1.0, f"the 404 waited {waited:.2f} s behind slow work"
            seen = fs.item_ids[small_model.train_matrix_[0].indices[0]]
            conflict = client.post("/why-not", json={"user_id": fs.user_ids[0], "item_id": seen})
            assert conflict.status_code == 409 and "already in the user's history" in conflict.json()["detail"]
            for thread in threads:
                thread.join(timeout=30)
        assert results and set(results) <= {503, 429} and 503 in results
        err = server.stderr
        server.terminate()
        server.wait(timeout=60)
        log = err.read().decode()
        assert "Traceback" not in log and "never retrieved" not in log
        lines = [json.loads(line.split(" WARNING ", 1)[1]) for line in log.splitlines() if " WARNING {" in line]
        assert {(line["route"], line["status"]) for line in lines} >= {("/why-not", 404), ("/why-not", 409)}
        assert all(set(line) == {"method", "route", "status", "duration_ms", "message"} for line in lines)
    finally:
        if server.poll() is None:
            server.kill()


@pytest.mark.slow
def test_the_pool_replaces_a_timed_out_or_killed_worker(small_model):
    import asyncio

    from whyrec.errors import ServiceBusyError, ServiceTimeoutError
    from whyrec.serve.pool import SlowPool
    from whyrec.serve.work import pack
    from whyrec.service import user_bag

    fs = small_model.feature_space_
    job = {"item_id": fs.item_ids[5], "method": "lime", "top": 3, "n": 10}
    packed = pack(user_bag(small_model, fs.user_ids[0]))

    async def scenario() -> None:
        pool = SlowPool({"m": small_model}, {"m": None}, workers=1, queue=2, timeout=60)
        pool.start()
        try:
            first = await pool.run("explain", "m", packed, **job)  # waits for the worker to load
            (old,) = pool.pids()
            pool.timeout = 0.03
            with pytest.raises(ServiceTimeoutError, match="it was stopped"):
                await pool.run("explain", "m", packed, **job)
            assert pool.restarts == 1 and pool.in_flight == 0 and old not in pool.pids()
            pool.timeout = 60
            again = await pool.run("explain", "m", packed, **job)  # the replacement answers the same
            assert again["score"] == first["score"] and again["item_id"] == first["item_id"]
            (second,) = pool.pids()
            asyncio.get_running_loop().call_later(0.03, os.kill, second, signal.SIGKILL)  # mid-job
            with pytest.raises(ServiceBusyError, match="worker died"):
                await pool.run("explain", "m", packed, **job)
            assert pool.restarts == 2 and second not in pool.pids()
            assert (await pool.run("explain", "m", packed, **job))["score"] == first["score"]
            workers = pool.pids()
        finally:
            pool.close()
        assert not any(os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid) for pid in [old, second, *workers])

    asyncio.run(scenario())


def _state(pid: int) -> str:
    fields = _stat(pid)
    return fields[0] if fields else "Z"


@pytest.mark.slow
def test_process_workers_serve_an_app_driven_on_fresh_event_loops(small_model):
    from fastapi.testclient import TestClient

    from whyrec.serve import create_app

    fs = small_model.feature_space_
    body = {"user_id": fs.user_ids[0], "item_id": fs.item_ids[5], "method": "kernel_shap", "top": 3}
    app = create_app({"shop": small_model}, slow_workers=1, explain_timeout=60)
    client = TestClient(app)  # no lifespan: each request runs on an event loop of its own
    first, second = client.post("/explain", json=body), client.post("/explain", json=body)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["score"] == second.json()["score"]
    app.state.service.close()
