"""A bounded pool of worker processes for the slow explanation methods.

LIME, KernelSHAP, sampled Shapley, integrated gradients, counterfactuals and "why not" cost from
milliseconds to seconds. Run in the server's own process they would hold its cores and its GIL,
and every fast request would wait behind them. Here they run in separate processes (spawned, each
loading the served models once, with one torch thread each by default), at most ``workers +
queue`` at a time: past that bound a request is refused at once (429).

A job that runs past ``timeout`` seconds is answered 503 and *stopped*: its worker is killed and a
fresh one started in its place, so the bound counts only work that is still wanted. A worker that
dies (killed, out of memory) is replaced the same way, and its request is answered 503.

Workers end with the server whatever stops it: on a graceful shutdown :meth:`SlowPool.close` stops
them; if the server is killed, each worker notices within a second that its parent is gone and
exits (:func:`whyrec._runtime.exit_with_parent`).

``concurrent.futures.ProcessPoolExecutor`` is not used because it cannot stop one running job
without breaking the whole pool, nor kill its workers on Python 3.11.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from whyrec.errors import ServiceBusyError, ServiceTimeoutError
from whyrec.models.recommender import Recommender
from whyrec.serve.work import unpack
from whyrec.service import explain_answer, why_not_answer

log = logging.getLogger("whyrec.serve")
_CONTEXT = multiprocessing.get_context("spawn")


def _serve(conn: Connection, model_dirs: Mapping[str, str], threads: int, parent: int) -> None:
    """A worker's life: watch the parent, load the models, then answer jobs until told to stop."""
    from whyrec._runtime import exit_with_parent

    exit_with_parent(parent)
    import torch

    torch.set_num_threads(threads)
    models = {name: Recommender.load(directory) for name, directory in model_dirs.items()}
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the server closed its end
        if job is None:
            return
        kind, name, packed, options = job
        answer = explain_answer if kind == "explain" else why_not_answer
        try:
            conn.send(("ok", answer(models[name], unpack(packed), **options)))
        except Exception as exc:  # the request's own error (a whyrec error): re-raised in the server
            conn.send(("error", exc))


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, model_dirs: Mapping[str, str], threads: int) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_serve, args=(child, dict(model_dirs), threads, os.getpid()), daemon=True, name="whyrec-slow"
        )
        self.process.start()
        child.close()

    async def receive(self) -> Any:
        """The worker's next message, awaited without blocking the event loop (EOFError if it died)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        return self.conn.recv()

    def stop(self) -> None:
        """End the process now (a job in it is abandoned) and close the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class _Bounded:
    """At most `limit` jobs running or waiting; past it, 429 at once."""

    limit: int

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self.restarts = 0  # workers replaced after a timeout or a death

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self) -> None:
        with self._lock:
            if self._in_flight >= self.limit:
                raise ServiceBusyError(
                    f"{self._in_flight} slow explanations are running or queued (the limit is {self.limit}); "
                    "retry later, or ask for a fast method such as lrp"
                )
            self._in_flight += 1

    def _release(self, *_: Any) -> None:
        with self._lock:
            self._in_flight -= 1


class SlowPool(_Bounded):
    """Worker processes serving slow explanations (see the module docstring)."""

    def __init__(
        self,
        models: Mapping[str, Recommender],
        model_dirs: Mapping[str, str | None],
        *,
        workers: int = 1,
        queue: int = 4,
        timeout: float = 10.0,
        threads: int = 1,
    ) -> None:
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._dirs: dict[str, str] = {}
        for name, directory in model_dirs.items():
            if directory is None:  # a model handed over in memory: the workers load a saved copy
                if self._scratch is None:
                    self._scratch = tempfile.TemporaryDirectory(prefix="whyrec-pool-")
                directory = str(models[name].save(Path(self._scratch.name) / name))
            self._dirs[name] = str(directory)
        super().__init__(workers + queue)
        self.workers, self.timeout, self.threads = workers, timeout, threads
        self._idle: asyncio.Queue[_Worker] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all: set[_Worker] = set()
        self._closed = False

    def start(self) -> None:
        """Start the workers on the running event loop; each joins the idle queue once loaded.

        A pool is bound to one loop (its queue and pipe readers are): called from another loop (an
        app driven request by request on fresh loops), it starts its workers again on this one.
        """
        loop = asyncio.get_running_loop()
        if self._idle is not None and self._loop is loop:
            return
        for worker in list(self._all):  # workers that answered on an event loop now gone
            self._retire(worker, replace=False)
        self._idle, self._loop = asyncio.Queue(), loop
        for _ in range(self.workers):
            self._spawn()

    def _spawn(self) -> None:
        worker = _Worker(self._dirs, self.threads)
        self._all.add(worker)
        task = asyncio.get_running_loop().create_task(self._await_ready(worker))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never an unretrieved exception

    async def _await_ready(self, worker: _Worker) -> None:
        try:
            kind, _ = await worker.receive()
        except (EOFError, OSError):
            kind = "died"
        if kind != "ready" or self._closed:
            self._retire(worker, replace=not self._closed)
            return
        assert self._idle is not None
        self._idle.put_nowait(worker)

    def _retire(self, worker: _Worker, *, replace: bool) -> None:
        worker.stop()
        self._all.discard(worker)
        if replace and not self._closed:
            self.restarts += 1
            self._spawn()

    async def run(self, kind: str, name: str, packed: Any, **options: Any) -> dict[str, Any]:
        """Run one job in a worker: its answer, or 429 past the bound, 503 past the timeout."""
        self._admit()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._run(kind, name, packed, options)
        except TimeoutError:
            raise ServiceTimeoutError(
                f"the {options.get('method', kind)} explanation took longer than {self.timeout:g} s "
                "(the server's --explain-timeout); it was stopped"
            ) from None
        finally:
            self._release()

    async def _run(self, kind: str, name: str, packed: Any, options: dict[str, Any]) -> dict[str, Any]:
        self.start()
        assert self._idle is not None
        worker = await self._idle.get()
        try:
            worker.conn.send((kind, name, packed, options))
            status, value = await worker.receive()
        except asyncio.CancelledError:  # past the timeout, or the client left: stop the job with its worker
            self._retire(worker, replace=True)
            raise
        except (EOFError, OSError, BrokenPipeError):
            self._retire(worker, replace=True)
            log.warning("an explanation worker died during a %s job; a new one was started", kind)
            raise ServiceBusyError("an explanation worker died; it was replaced, retry the request") from None
        self._idle.put_nowait(worker)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop every worker: tell the idle ones to stop, kill whatever is still running."""
        self._closed = True
        for worker in list(self._all):
            with contextlib.suppress(OSError):  # a worker that already died
                worker.conn.send(None)
        for worker in list(self._all):
            worker.process.join(timeout=2)
            worker.stop()
        self._all.clear()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and metrics)."""
        return [w.process.pid for w in self._all if w.process.pid is not None]


class ThreadPool(_Bounded):
    """The same bound and time limit, with the work in threads of the server's own process: no
    isolation from the fast requests, and a job past the timeout is answered 503 but runs to its
    end (a thread cannot be stopped), still counted against the bound. For tests and for models
    that cannot be saved."""

    def __init__(self, models: Mapping[str, Recommender], *, workers: int = 1, queue: int = 4, timeout: float = 10.0):
        from concurrent.futures import ThreadPoolExecutor

        super().__init__(workers + queue)
        self.models, self.timeout = dict(models), timeout
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="whyrec-slow")

    def start(self) -> None:
        """Nothing to start: the threads start with the first job."""

    async def run(self, kind: str, name: str, packed: Any, **options: Any) -> dict[str, Any]:
        self._admit()
        model, bag = self.models[name], unpack(packed)
        answer: Any = explain_answer if kind == "explain" else why_not_answer
        future = self._executor.submit(answer, model, bag, **options)
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            future.cancel()
            raise ServiceTimeoutError(
                f"the {options.get('method', kind)} explanation took longer than {self.timeout:g} s "
                "(the server's --explain-timeout)"
            ) from None

    def _done(self, future: Any) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here, so an abandoned job's error is never logged as unretrieved
        self._release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        return []
