"""ASGI middleware: each request's time inside the app, as a header and as Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from whyrec.serve.metrics import Metrics


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>`: the request's time inside the app.

    Written as plain ASGI (not BaseHTTPMiddleware) to keep its own cost to microseconds.
    """

    def __init__(self, app: Any, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope["whyrec.started"] = start  # for the error log line's duration
        status = [500]

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                elapsed = (time.perf_counter() - start) * 1e3
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if self.metrics is not None:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                self.metrics.request(path, scope["method"], status[0], time.perf_counter() - start)
