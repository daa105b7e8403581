"""`Server-Timing` on every response: the time spent in the server, apart from the network and
the client, so load tests (and operators) can tell a slow answer from a slow road."""

from __future__ import annotations

import time
from typing import Any


class ServerTiming:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - began) * 1000
                headers = [*message.get("headers", []), (b"server-timing", f"app;dur={elapsed:.2f}".encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)
