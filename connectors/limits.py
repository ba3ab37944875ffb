"""How many calls may be in flight at once to one system (a connection, a model provider).

A vendor's limits are of two kinds: calls per second (the token bucket in
`connectors/http.py`) and calls at once. This is the second: a worker
advancing many runs would otherwise send all of them to one system together.
A call that had to wait is counted (`waits`, `waited_seconds`) and logged, so a
slow worker says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx

log = logging.getLogger("switchboard.limits")


class ConcurrencyLimit:
    """At most `limit` holders at once (None: no limit); waits are counted, never hidden."""

    # Every limit alive in this process, for the metrics scrape (app/observability/metrics.py).
    live: ClassVar[weakref.WeakSet[ConcurrencyLimit]] = weakref.WeakSet()

    def __init__(self, name: str, limit: int | None):
        if limit is not None and limit < 1:
            raise ValueError("a concurrency limit must be at least 1")
        self.name = name
        self.limit = limit
        self._sem = asyncio.Semaphore(limit) if limit else None
        self.in_flight = 0
        self.peak = 0
        # Calls that found every slot taken, and the seconds they waited in all.
        self.waits = 0
        self.waiting = 0
        self.waited_seconds = 0.0
        ConcurrencyLimit.live.add(self)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem is not None:
            await self._enter(self._sem)
        self._count_in()
        try:
            yield
        finally:
            self.in_flight -= 1
            if self._sem is not None:
                self._sem.release()

    async def _enter(self, sem: asyncio.Semaphore) -> None:
        if sem.locked():
            started = time.monotonic()
            self.waits += 1  # counted as it starts, so a stall shows while it lasts
            self.waiting += 1
            try:
                await sem.acquire()
            finally:
                self.waiting -= 1
            waited = time.monotonic() - started
            self.waited_seconds += waited
            log.info(
                "waited %.0f ms for a free slot of %s (%s at once)", waited * 1000, self.name, self.limit
            )
        else:
            await sem.acquire()

    def _count_in(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def stats(self) -> dict[str, float | int | None]:
        return {
            "limit": self.limit,
            "in_flight": self.in_flight,
            "peak": self.peak,
            "waits": self.waits,
            "waiting": self.waiting,
            "waited_seconds": round(self.waited_seconds, 3),
        }


class ConcurrencyLimitTransport(httpx.AsyncBaseTransport):
    """Holds a slot of `limit` for each request, retries included (each attempt takes its own)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: ConcurrencyLimit):
        self.inner = inner
        self.limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.limit.slot():
            return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
