"""Request size and rate limits."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

Scope = dict[str, Any]


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`.

    A declared Content-Length over the limit is refused before anything is read; a body
    without one (chunked) is read up to the limit and refused as soon as it goes over, so a
    client cannot make the server buffer more than `max_bytes`.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await _too_large(send, self.max_bytes)
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(bytes(body), message), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        await self.app(scope, _replay(bytes(body)), send)


def _replay(body: bytes, then: dict[str, Any] | None = None) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if then is not None:
            return then
        return {"type": "http.disconnect"}

    return receive


async def _too_large(send: Any, limit: int) -> None:
    payload = json.dumps({"error": {"code": "body_too_large", "message": f"request body over {limit} bytes"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


class RateLimiter:
    """A token bucket per API token: `rate` requests a second, bursts of up to twice that."""

    def __init__(self, default_rate: float) -> None:
        self.default_rate = default_rate
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, token_id: int, rate: float | None) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        rate = rate or self.default_rate
        capacity = max(1.0, 2 * rate)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(token_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[token_id] = (tokens - 1, now)
                return 0.0
            self._buckets[token_id] = (tokens, now)
            return (1 - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
