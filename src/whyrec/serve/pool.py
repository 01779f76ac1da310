"""A bounded pool of worker processes for the slow explanation methods.

LIME, KernelSHAP, sampled Shapley, integrated gradients, counterfactuals and "why not" cost from
milliseconds to seconds. Run in the server's own process they would hold its cores and its GIL,
and every fast request would wait behind them. Here they run in separate processes (spawned, each
loading the served models once, with one torch thread each by default), at most ``workers +
queue`` at a time: past that bound a request is refused at once (429), and one that runs past
``timeout`` seconds is answered 503. An answer that arrives late is dropped; the work it belonged
to still counts against the bound until its process is done with it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from whyrec.errors import ServiceBusyError, ServiceTimeoutError
from whyrec.models.recommender import Recommender
from whyrec.serve.work import unpack
from whyrec.service import explain_answer, why_not_answer

_models: dict[str, Recommender] = {}


def _load(model_dirs: Mapping[str, str], threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    for name, directory in model_dirs.items():
        _models[name] = Recommender.load(directory)


def _ping() -> bool:
    return True


def _run(kind: str, name: str, packed: Any, options: dict[str, Any]) -> dict[str, Any]:
    model, bag = _models[name], unpack(packed)
    answer = explain_answer if kind == "explain" else why_not_answer
    return answer(model, bag, **options)


class SlowPool:
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
        dirs = {}
        for name, directory in model_dirs.items():
            if directory is None:  # a model handed over in memory: the workers load a saved copy
                if self._scratch is None:
                    self._scratch = tempfile.TemporaryDirectory(prefix="whyrec-pool-")
                directory = str(models[name].save(Path(self._scratch.name) / name))
            dirs[name] = str(directory)
        self.workers, self.limit, self.timeout = workers, workers + queue, timeout
        self._initargs = (dirs, threads)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_load, initargs=self._initargs
        )
        for _ in range(self.workers):  # start the processes now, not on the first slow request
            executor.submit(_ping)
        return executor

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, kind: str, name: str, packed: Any, **options: Any) -> dict[str, Any]:
        with self._lock:
            if self._in_flight >= self.limit:
                raise ServiceBusyError(
                    f"{self._in_flight} slow explanations are running or queued (the limit is {self.limit}); "
                    "retry later, or ask for a fast method such as lrp"
                )
            self._in_flight += 1
        try:
            future: Future = self._executor.submit(_run, kind, name, packed, options)
        except BrokenProcessPool:
            self._done(None)
            self._executor = self._start()
            raise ServiceBusyError("the explanation workers restarted; retry the request") from None
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            future.cancel()  # still queued: never runs; already running: its answer is dropped
            raise ServiceTimeoutError(
                f"the {options.get('method', kind)} explanation took longer than {self.timeout:g} s "
                "(the server's --explain-timeout)"
            ) from None
        except BrokenProcessPool:
            self._executor = self._start()
            raise ServiceBusyError("an explanation worker died; the pool restarted, retry the request") from None

    def _done(self, _: Any) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._scratch is not None:
            self._scratch.cleanup()


class ThreadPool:
    """The same bound and time limit, with the work in threads of the server's own process (no
    isolation from the fast requests; for tests and for models that cannot be saved)."""

    def __init__(self, models: Mapping[str, Recommender], *, workers: int = 1, queue: int = 4, timeout: float = 10.0):
        from concurrent.futures import ThreadPoolExecutor

        self.models, self.limit, self.timeout = dict(models), workers + queue, timeout
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="whyrec-slow")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, kind: str, name: str, packed: Any, **options: Any) -> dict[str, Any]:
        with self._lock:
            if self._in_flight >= self.limit:
                raise ServiceBusyError(
                    f"{self._in_flight} slow explanations are running or queued (the limit is {self.limit}); "
                    "retry later, or ask for a fast method such as lrp"
                )
            self._in_flight += 1
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

    def _done(self, _: Any) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
