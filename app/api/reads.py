"""The API's hot reads (the lists, one item) on a few threads of their own.

A plain `def` route runs on anyio's shared pool of 40 threads. Sixteen clients
listing approvals at once then keep sixteen threads runnable, and they spend
their time taking the interpreter's lock from each other: on a two-core machine
one list request cost 4.4 ms of CPU alone and 9 ms among sixteen, and its p95
tripled (bench/api.py). A read needs a core, not a thread, so these run on
`threads` threads (SWITCHBOARD_API_READ_THREADS) and wait their turn on the
event loop, where waiting costs nothing. More cores: more server processes
(`switchboard serve --workers N`), not more threads. Writes stay on the shared
pool, where one waiting for SQLite's writer never holds up a read."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.main import Container
from app.services import auth
from app.services.auth import Principal

T = TypeVar("T")


class Reads:
    def __init__(self, threads: int):
        if threads < 1:
            raise ValueError("the API's reads need at least one thread")
        self.threads = threads
        self._limiter: CapacityLimiter | None = None  # made on the event loop, at first use

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)


async def reads(request: Request) -> Reads:
    return request.app.state.reads  # type: ignore[no-any-return]


async def signed_in(c: Container, read: Reads, token: str) -> Principal | None:
    """`auth.authenticate` with its read on the read threads; the once-a-minute `last_used_at`
    write on the shared pool (it may wait for SQLite's writer)."""
    who, stale = await read(auth.identify, c.db, token)
    if who is not None and stale:
        await run_in_threadpool(auth.touch, c.db, who)
    return who
