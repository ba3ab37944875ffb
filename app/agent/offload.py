"""Blocking calls (the run store's SQL) on a bounded thread pool, off the event loop.

A worker advances many runs on one loop: a store call made on the loop would
stall every other run while the database answers. The pool is sized to the
database's connection pool, so a thread never waits for a connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Offloader(Protocol):
    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


class Offload:
    """`await offload(fn, *args)` runs `fn` on this pool's threads, with the caller's context vars."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="store")
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """The default offloader: asyncio's own thread pool."""
    return await asyncio.to_thread(fn, *args, **kwargs)
