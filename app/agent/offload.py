"""Blocking calls (the run store's SQL) on a bounded thread pool, off the event loop.

A worker advances many runs on one loop: a store call made on the loop would
stall every other run while the database answers. The pool is sized to the
database's connection pool, so a thread never waits for a connection. Each call's
wait, as the run saw it, is kept in `switchboard_store_call_seconds` under the
function's name: when runs slow down, it tells whether the database is why.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from app.observability.metrics import STORE_CALL_SECONDS

T = TypeVar("T")


class Offloader(Protocol):
    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


class Offload:
    """`await offload(fn, *args)` runs `fn` on this pool's threads, with the caller's context vars."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None
        self._timers: dict[str, Any] = {}  # a histogram's child per call name, looked up once

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="store")
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        started = time.perf_counter()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except asyncio.CancelledError:
            raise  # the call goes on in its thread: how long it took is not known here
        except BaseException:
            self._timer(fn).observe(time.perf_counter() - started)
            raise
        self._timer(fn).observe(time.perf_counter() - started)
        return result

    def _timer(self, fn: Callable[..., Any]) -> Any:
        while isinstance(fn, functools.partial):
            fn = fn.func
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        timer = self._timers.get(name)
        if timer is None:
            timer = self._timers[name] = STORE_CALL_SECONDS.labels(name)
        return timer

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """The default offloader: asyncio's own thread pool."""
    return await asyncio.to_thread(fn, *args, **kwargs)
