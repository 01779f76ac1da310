"""What every route depends on: the served models and their limits, the event store, the worker
pool, the compute slots and the API key check (as the FastAPI full-stack template's ``deps.py``)."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader

from whyrec.data.events import EventStore
from whyrec.errors import AuthenticationError, UnknownIdError
from whyrec.explain import methods_for
from whyrec.models.recommender import Recommender
from whyrec.serve.metrics import Metrics
from whyrec.serve.pool import SlowPool, ThreadPool
from whyrec.serve.work import FAST_METHODS
from whyrec.service import request_bag

API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Limits:
    """What this server accepts beyond the static schemas: the methods its models support, the
    fast ones among them (for insights), and list lengths n up to its smallest catalogue."""

    methods: tuple[str, ...]
    fast_methods: tuple[str, ...]
    max_n: int

    @classmethod
    def of(cls, models: Mapping[str, Recommender]) -> Limits:
        methods = sorted(set().union(*(methods_for(m) for m in models.values())))
        fast = tuple(m for m in methods if m in FAST_METHODS)
        return cls(tuple(methods), fast, min(m.feature_space_.n_items for m in models.values()))


@dataclass
class Service:
    """One server's state (see :func:`whyrec.serve.create_app` for the settings)."""

    models: dict[str, Recommender]
    model_dirs: dict[str, str | None]
    events: EventStore | None
    api_key: str | None
    explain_timeout: float
    slow_workers: int
    slow_queue: int
    slow_threads: int
    limiter: anyio.CapacityLimiter
    limits: Limits
    metrics: Metrics = field(default_factory=Metrics)
    insights: dict[tuple, Any] = field(default_factory=dict)
    _pool: SlowPool | ThreadPool | None = None

    def pick(self, name: str | None) -> tuple[str, Recommender]:
        """The served model `name` (the first one when None), or a 404 naming the served models."""
        key = next(iter(self.models)) if name is None else name
        if key not in self.models:
            raise UnknownIdError(f"unknown model {key!r}; served models: {', '.join(self.models)}")
        return key, self.models[key]

    def pool(self) -> SlowPool | ThreadPool:
        """The slow methods' workers: processes (``slow_workers`` > 0) or threads of this process."""
        if self._pool is None:
            workers = max(1, self.slow_workers)
            if self.slow_workers:
                self._pool = SlowPool(
                    self.models,
                    self.model_dirs,
                    workers=workers,
                    queue=self.slow_queue,
                    timeout=self.explain_timeout,
                    threads=self.slow_threads,
                )
            else:
                self._pool = ThreadPool(
                    self.models, workers=workers, queue=self.slow_queue, timeout=self.explain_timeout
                )
            self.metrics.pool = self._pool
        return self._pool

    def bag(self, model: Recommender, request: Any) -> Any:
        """The bag a request names (a user with their stored events, or a new profile)."""
        profile = getattr(request, "profile", None)
        items, attributes = (profile.items, profile.attributes) if profile is not None else ([], {})
        return request_bag(model, request.user_id, items, attributes, self.events)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def compute(self, response: Response, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a thread, at most ``limiter`` at once, its time reported as
        ``Server-Timing: compute;dur=<ms>`` (without its wait for a slot).

        CPU work never runs on the event loop: more threads than cores would only fight over the
        cores and the GIL, and stretch every request.
        """
        spent = [0.0]

        def timed() -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[0] = time.perf_counter() - start

        try:
            return await anyio.to_thread.run_sync(timed, limiter=self.limiter)
        finally:
            response.headers.append("server-timing", f"compute;dur={spent[0] * 1e3:.3f}")


def compute_slots(compute_threads: int | None) -> anyio.CapacityLimiter:
    """Requests computing at once in this process (default: the CPU count)."""
    return anyio.CapacityLimiter(compute_threads or os.cpu_count() or 1)


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")


def check_key(service: ServiceDep, key: str | None = Security(_header)) -> None:
    """Refuse a request without the server's API key (compared in constant time: no timing oracle)."""
    assert service.api_key is not None
    if key is None:
        raise AuthenticationError(f"this server requires an API key in the {API_KEY_HEADER} header")
    if not hmac.compare_digest(key.encode(), service.api_key.encode()):
        raise AuthenticationError("wrong API key")


def invalid(location: tuple[str, ...], message: str, kind: str) -> RequestValidationError:
    """A 422 in the same shape as the schema's own validation errors."""
    return RequestValidationError([{"loc": location, "msg": message, "type": kind}])


def check_method(service: Service, method: Any, location: tuple[str, ...], *, fast: bool = False) -> str | None:
    """`method`'s name if this server's models support it (only the fast ones where `fast`), else a 422."""
    if method is None:
        return None
    allowed = service.limits.fast_methods if fast else service.limits.methods
    if str(method) not in allowed:
        raise invalid(location, f"Input should be {', '.join(map(repr, allowed))}", "enum")
    return str(method)


def check_n(service: Service, request: Any, location: tuple[str, ...]) -> int:
    """The request's list length n: at most this server's smallest catalogue (a 422 above it); left
    out, the schema's default lowered to that catalogue."""
    n = int(request.n)
    if "n" not in request.model_fields_set:
        return min(n, service.limits.max_n)
    if n > service.limits.max_n:
        raise invalid(location, f"Input should be less than or equal to {service.limits.max_n}", "less_than_equal")
    return n
