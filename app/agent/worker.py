"""The worker loop: claim runs while there are free slots, advance each as its own task.

A run spends most of its time waiting on a model or a system, so one process
advances many at once, bounded by `concurrency` (its slots). Each claimed run
holds its own lease, renewed by its own heartbeat (Orchestrator.advance). On
stop the worker claims nothing more and lets the runs in flight finish; a run
it could not finish simply lets its lease lapse and another worker goes on
from its steps. The API's in-process worker, the demo and `switchboard worker`
all run this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from app.agent.orchestrator import Orchestrator, worker_id

log = logging.getLogger("switchboard.worker")


class Wakeup:
    """Tells an idle worker that work arrived; `set()` is safe from any thread."""

    def __init__(self) -> None:
        self._bound: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        # True while the worker waits with a free slot: a watcher that costs something to look
        # (SQLite's, app/store/signals.py) looks only then, not while every slot is busy.
        self.listening = False

    def event(self) -> asyncio.Event:
        """The event on the running loop (bound on first use, as the loop is not known before)."""
        if self._bound is None:
            self._bound = (asyncio.get_running_loop(), asyncio.Event())
        return self._bound[1]

    def set(self) -> None:
        if self._bound is not None:
            loop, event = self._bound
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


class Background:
    """Tasks started on the running loop and kept referenced until done (a task nobody holds
    may be collected mid-flight)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class Worker:
    """Advance up to `concurrency` runs at once until stopped."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        *,
        concurrency: int = 16,
        poll_seconds: float = 0.5,
        wakeup: Wakeup | None = None,
        owner: str | None = None,
        listen: Callable[[Callable[[], None]], Awaitable[None]] | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
    ):
        """`listen(wake)`, where given, runs beside the loop and calls `wake()` when another
        process queues a run (PostgreSQL's NOTIFY; on SQLite, a watch on its commit counter), so
        an idle worker need not wait for its poll.
        `prepare()`, where given, runs once before the first claim (the local model fits its
        classifier), so no run this worker claims waits on it; a failure is logged, not fatal."""
        if concurrency < 1:
            raise ValueError("a worker needs at least one slot")
        self.orchestrator = orchestrator
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.wakeup = wakeup or Wakeup()
        self.owner = owner or worker_id()
        self.listen = listen
        self.prepare = prepare
        # Each claim holds its lease under an owner of its own (`owner/n`): a run that parks and is
        # queued again may be claimed anew while its first pass is still releasing it, and that
        # release must not take the new pass's lease.
        self._claims = itertools.count(1)
        self.in_flight: dict[str, asyncio.Task[Any]] = {}
        # The most runs this worker held at once (what a test or an operator may want to see).
        self.peak = 0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Claim while there are free slots; when stopped, finish the runs in flight first."""
        stop = stop or asyncio.Event()
        wake = self.wakeup.event()
        next_sweep = time.monotonic()
        listener = asyncio.ensure_future(self.listen(self.wakeup.set)) if self.listen else None
        try:
            await self._prepare(stop)
            while not stop.is_set():
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.orchestrator.sweep_seconds
                    await self.orchestrator.sweep()
                wake.clear()
                full = await self._fill(stop)
                await self._idle(stop, wake, full)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            await self.drain()

    async def _prepare(self, stop: asyncio.Event) -> None:
        if self.prepare is None or stop.is_set():
            return
        try:
            await self.prepare()
        except Exception:  # a worker that could not warm up still works, only its first run is slower
            log.exception("preparing the worker failed; going on without it")

    async def drain(self) -> None:
        """Wait for every run in flight to reach a stopping point (parked, finished, requeued)."""
        while self.in_flight:
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)

    async def _fill(self, stop: asyncio.Event) -> bool:
        """Claim until the slots are full or nothing is runnable; True when they are full."""
        while len(self.in_flight) < self.concurrency and not stop.is_set():
            owner = f"{self.owner}/{next(self._claims)}"
            try:
                run_id = await self.orchestrator.claim(owner)
            except Exception:
                log.exception("claiming a run failed")
                return False
            if run_id is None:
                return False
            task = asyncio.get_running_loop().create_task(self._advance(run_id, owner))
            self.in_flight[owner] = task
            self.peak = max(self.peak, len(self.in_flight))
        return len(self.in_flight) >= self.concurrency

    async def _advance(self, run_id: str, owner: str) -> None:
        try:
            await self.orchestrator.advance(run_id, owner)
        except Exception:  # advance records its own failures; this is a last resort
            log.exception("advancing run %s failed", run_id)
        finally:
            try:
                await self.orchestrator.release(run_id, owner)
            except Exception:  # its lease lapses instead
                log.warning("releasing run %s failed", run_id, exc_info=True)
            self.in_flight.pop(owner, None)

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event, full: bool) -> None:
        """Full: wait for a slot to free. Otherwise wait for new work, a free slot's end, or the poll."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if not full:
            waiters.append(asyncio.ensure_future(wake.wait()))
        running = list(self.in_flight.values())
        self.wakeup.listening = not full
        try:
            await asyncio.wait(
                [*waiters, *running],
                timeout=None if full else self.poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self.wakeup.listening = False
            for w in waiters:
                w.cancel()
