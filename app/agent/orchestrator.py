"""Advance runs: claim, replay the pipeline from its steps, park or finish.

One loop for every kind of run. It holds the run's lease while it works and
renews it, so a worker that dies simply lets the lease lapse and another
worker picks the run up where its steps end.

Only a cause a person must act on fails a run. A passing fault (a system's
outage, a dropped database connection) sends it back to the queue with
backoff; an approved write that failed parks it in needs_attention. The worker
loop also sweeps now and then for parked runs that have work, so none is
ever forgotten. The loop itself (many runs at once, bounded) is in app/agent/worker.py.

Every store call goes through `io` (a thread pool): one worker advances many
runs on one event loop, and none of them may wait while another's SQL runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from app.agent.lease import Lease
from app.agent.offload import Offloader, to_thread
from app.agent.policy import Policy
from app.agent.ports import ActionRecord, LeaseLost, NewStep, RunSnapshot, RunStore, Transient
from app.agent.run import RunContext, RunFailed, Suspend
from app.llm.base import Model, ModelError
from tools.base import Catalogue

log = logging.getLogger("switchboard.agent")

Pipeline = Callable[[RunContext], Awaitable[dict[str, Any] | None]]


BACKOFF_MAX_SECONDS = 300.0
# advance_now, when another worker holds the run: how long it waits for it, and how often it
# looks (from every 50 ms, doubling up to every second).
OTHERS_WAIT_SECONDS = 120.0
OTHERS_POLL_FIRST, OTHERS_POLL_MOST = 0.05, 1.0
# A model that keeps answering "rate limited" or "overloaded" after its SDK's own retries sends
# the run back to the queue this many passes in a row (1 + 2 + 4 … ≈ 4 minutes); then it fails.
MODEL_RETRIES = 8


def backoff(retries: int, *, rng: random.Random | None = None, cap: float = BACKOFF_MAX_SECONDS) -> float:
    """Seconds before the next try after `retries` passing faults in a row: 1, 2, 4 … `cap`, jittered."""
    base = min(cap, 2.0 ** max(0, retries))
    return base * (0.75 + 0.5 * (rng or random).random())


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Orchestrator:
    def __init__(
        self,
        store: RunStore,
        model: Model,
        catalogue: Callable[[], Catalogue | Awaitable[Catalogue]],
        policy: Callable[[], Policy],
        pipelines: dict[str, Pipeline],
        *,
        lease_seconds: float = 30.0,
        on_parked: Callable[[str, list[ActionRecord]], Awaitable[None]] | None = None,
        on_succeeded: Callable[[str, list[ActionRecord]], Awaitable[None]] | None = None,
        sweep_seconds: float = 30.0,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        io: Offloader | None = None,
        lease_margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.model = model
        self.catalogue = catalogue
        self.policy = policy
        self.pipelines = pipelines
        self.lease_seconds = lease_seconds
        # How much sooner than the store's expiry a worker counts its lease as gone (clock skew
        # between workers; None: a fifth of the lease), and the monotonic clock it counts on.
        # An approved write is sent and waited on only inside the lease: see app/agent/lease.py.
        self.lease_margin = lease_margin
        self.clock = clock
        # Told when a run parks waiting for people (e.g. to post a notice), with the run's actions
        # as the pass left them (so a hook with nothing to do needs no read); never fails the run.
        self.on_parked = on_parked
        # Told when a run ends succeeded, with its actions (e.g. to key its item by what a write
        # of it created); never fails the run.
        self.on_succeeded = on_succeeded
        # How often the worker loop looks for parked runs that have work (the safety net).
        self.sweep_seconds = sweep_seconds
        # The longest wait between passes of a run meeting passing faults (a setting, so a
        # bounded fault test can shorten it without changing what is retried).
        self.backoff_max = backoff_max
        # Where blocking store calls run (a thread pool sized to the database's connections).
        # Each trip to it costs far more than a call (a thread woken, the loop woken back), so
        # a pass makes as few as it can: see `_begin` and `release`.
        self.io: Offloader = io or to_thread
        # Passes whose lease was given up by the write that ended them (set_status, requeue).
        self._ended: set[tuple[str, str]] = set()
        # What claimed passes start from, read in the claim's own trip (see `_claim_and_begin`).
        self._started: dict[tuple[str, str], RunSnapshot] = {}

    def _begin(self, run_id: str, owner: str) -> RunSnapshot:
        """What a pass starts from: the run. (The gate is read when the pass first proposes a
        write: see RunContext.policy.)"""
        return self.store.load(run_id, owner=owner)

    def _claim_and_begin(
        self, claim: Callable[[], str | None], owner: str
    ) -> tuple[str | None, RunSnapshot | None]:
        """Claim, then read what the pass starts from, in the same trip to the store's thread.
        A failed read is left to `advance`, which reads again and handles it as any pass does."""
        run_id = claim()
        if run_id is None:
            return None, None
        try:
            return run_id, self._begin(run_id, owner)
        except Exception:
            log.debug("reading claimed run %s failed; the pass reads it again", run_id, exc_info=True)
            return run_id, None

    async def _claimed(self, claim: Callable[[], str | None], owner: str) -> str | None:
        run_id, start = await self.io(self._claim_and_begin, claim, owner)
        if run_id is not None and start is not None:
            self._started[(run_id, owner)] = start
        return run_id

    async def _end(self, run_id: str, owner: str, status: str, **fields: Any) -> str:
        """End the pass with `status` (one commit with what it held); the lease goes with it."""
        status = await self.io(self.store.set_status, run_id, owner, status, **fields)
        self._ended.add((run_id, owner))
        return status

    async def advance(self, run_id: str, owner: str, *, on_delta: Callable[[str], None] | None = None) -> str:
        """Move a claimed run as far as it can go; returns the status it was left in.

        `on_delta` is told answer text as a streaming model writes it (see RunContext).
        """
        lease = Lease(self.lease_seconds, margin=self.lease_margin, clock=self.clock)
        heartbeat = asyncio.create_task(self._heartbeat(run_id, owner, lease))
        retries = 0
        ctx: RunContext | None = None
        try:
            snapshot = self._started.pop((run_id, owner), None)
            if snapshot is None:
                snapshot = await self.io(self._begin, run_id, owner)
            retries = snapshot.retries
            pipeline = self.pipelines.get(snapshot.kind)
            if pipeline is None:
                raise RunFailed(f"no pipeline for runs of kind {snapshot.kind!r}")
            catalogue = self.catalogue()
            if inspect.isawaitable(catalogue):
                catalogue = await catalogue
            ctx = RunContext(
                snapshot,
                store=self.store,
                owner=owner,
                model=self.model,
                catalogue=catalogue,
                policy=self.policy,
                on_delta=on_delta,
                io=self.io,
                lease=lease,
            )
            try:
                result = await ctx.drive(pipeline)
            except Suspend:
                await self._fail_unreached(ctx)
                return await self._park(run_id, owner, ctx.held(), ctx.actions())
            if await self._fail_unreached(ctx):
                return await self._park(run_id, owner, ctx.held(), ctx.actions())
            # What the pass still holds (its last answer) commits with the status: one transaction.
            status = await self._end(run_id, owner, "succeeded", result=result or {}, **ctx.held())
            await self._tell(self.on_succeeded, run_id, ctx.actions())
            return status
        except LeaseLost:
            log.warning("lost the lease on run %s; another worker has it", run_id)
            return "lost"
        except (RunFailed, ModelError) as exc:
            if isinstance(exc, ModelError) and exc.retryable and retries < MODEL_RETRIES:
                return await self._retry_later(run_id, owner, exc, retries)
            if ctx is not None:  # an approved write the failed run will not come back to: failed, not left
                await self._fail_unreached(ctx, failed=str(exc))
            return await self._fail(run_id, owner, str(exc))
        except Exception as exc:
            if isinstance(exc, Transient) or self.store.is_transient(exc):
                return await self._retry_later(run_id, owner, exc, retries)
            # a bug: record it on the run, keep the worker alive
            log.exception("run %s failed", run_id)
            return await self._fail(run_id, owner, f"{type(exc).__name__}: {exc}")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _park(self, run_id: str, owner: str, held: dict[str, Any], actions: list[ActionRecord]) -> str:
        status = await self._end(run_id, owner, "waiting_approval", **held)
        if status != "queued":
            await self._tell(self.on_parked, run_id, actions)
        return status

    @staticmethod
    async def _tell(
        hook: Callable[[str, list[ActionRecord]], Awaitable[None]] | None,
        run_id: str,
        actions: list[ActionRecord],
    ) -> None:
        if hook is None:
            return
        try:
            await hook(run_id, actions)
        except Exception:
            log.exception("notifying about run %s failed", run_id)

    async def _fail_unreached(self, ctx: RunContext, *, failed: str | None = None) -> bool:
        """An approved write the pipeline no longer reaches waits for a person, not forever.
        `failed`: why the run failed, when it did (the write was then not sent)."""
        missed = ctx.unreached_approved() if failed is None else ctx.unreached_writes()
        for a in missed:
            log.warning("run %s did not reach approved action %s (%s)", ctx.run.id, a.id, a.tool)
            if failed is None:
                why = (
                    f"the run did not come back to this approved write ({a.tool} is no longer "
                    "offered, or the pipeline changed); retry it or dismiss it"
                )
            elif a.status == "executing":  # an attempt went out: it may have landed
                why = (
                    f"the run failed before this write's answer was known ({failed[:300]}); an attempt "
                    f"may have reached {a.connection}: check there, then dismiss it or finish it by hand"
                )
            else:
                why = (
                    f"the run failed before this approved write was sent, so it was not sent: {failed[:300]}"
                )
            await self.io(self.store.fail_action, a.id, ctx.owner, why)
        return bool(missed)

    async def _retry_later(self, run_id: str, owner: str, exc: BaseException, retries: int) -> str:
        """A passing fault: back to the queue with backoff. If even that fails, the lease lapses
        and the run is claimed again anyway."""
        delay = backoff(retries, cap=self.backoff_max)
        message = f"will retry in {delay:.0f}s: {type(exc).__name__}: {str(exc)[:500]}"
        log.warning("run %s: %s", run_id, message)
        try:
            await self.io(self.store.requeue, run_id, owner, error=message, delay=delay)
            self._ended.add((run_id, owner))
        except LeaseLost:
            return "lost"
        except Exception:
            log.exception("could not requeue run %s; its lease will lapse", run_id)
        return "queued"

    async def _fail(self, run_id: str, owner: str, message: str) -> str:
        step = NewStep(kind="error", name=f"error:{uuid.uuid4().hex[:8]}", data={"error": message})
        try:
            await self._end(run_id, owner, "failed", error=message, steps=[step])
        except LeaseLost:
            return "lost"
        return "failed"

    async def _heartbeat(self, run_id: str, owner: str, lease: Lease) -> None:
        """Renew the lease every third of it. Each renewal moves the deadline of a write waiting
        for its answer; a lost lease cancels it (a failed renewal moves nothing)."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            started = lease.renewing()
            try:
                renewed = await self.io(self.store.renew_lease, run_id, owner, self.lease_seconds)
            except Exception:  # a dropped connection: try again at the next beat
                log.warning("renewing the lease on run %s failed", run_id, exc_info=True)
                continue
            if not renewed:
                lease.lost()
                return
            lease.renewed(started)

    async def claim(self, owner: str) -> str | None:
        """Claim one runnable run (its lease now ours), or None. What its pass starts from is read
        in the same trip; `advance` takes it from there."""
        return await self._claimed(partial(self.store.claim, owner, self.lease_seconds), owner)

    async def release(self, run_id: str, owner: str) -> None:
        """Give up the lease, unless the write that ended the pass already did (no trip then)."""
        self._started.pop((run_id, owner), None)  # claimed but never advanced
        if (run_id, owner) in self._ended:
            self._ended.discard((run_id, owner))
            return
        await self.io(self.store.release, run_id, owner)

    async def run_once(self, owner: str) -> str | None:
        """Claim one runnable run and advance it; None when there was nothing to do."""
        run_id = await self.claim(owner)
        if run_id is None:
            return None
        try:
            await self.advance(run_id, owner)
        finally:
            await self.release(run_id, owner)
        return run_id

    async def advance_now(
        self,
        run_id: str,
        owner: str,
        *,
        on_delta: Callable[[str], None] | None = None,
        wait: float = OTHERS_WAIT_SECONDS,
    ) -> str | None:
        """Advance a particular run here and now; None when another took it.

        The caller has just queued the run and reads its outcome next (a workflow's draft, an
        MCP client's write), but a worker may claim it first (PostgreSQL wakes workers the
        moment a run is queued): then this waits, at most `wait` seconds, until that worker has
        brought it to a stop, and takes it over if it is queued again meanwhile (a run in a
        backoff is taken once its wait is over, within `wait`)."""
        take = partial(self._take, run_id, owner)
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + wait, OTHERS_POLL_FIRST
        while await self._claimed(take, owner) is None:
            # Running elsewhere, or queued (ended as queued by the other worker, or in a short
            # backoff): look again. Stopped (done, parked for people): the caller reads it.
            status = await self.io(self.store.status, run_id)
            if status not in ("running", "queued") or loop.time() > deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, OTHERS_POLL_MOST)
        try:
            return await self.advance(run_id, owner, on_delta=on_delta)
        finally:
            await self.release(run_id, owner)

    def _take(self, run_id: str, owner: str) -> str | None:
        return run_id if self.store.claim_run(run_id, owner, self.lease_seconds) else None

    async def sweep(self) -> int:
        """Requeue parked runs that have work; never raises (the loop goes on)."""
        try:
            return await self.io(self.store.sweep)
        except Exception:
            log.exception("sweeping for parked runs failed")
            return 0

    async def drain(self, owner: str, *, limit: int = 1000) -> int:
        """Advance runs one at a time until none is runnable (tests, batch triage)."""
        await self.sweep()
        n = 0
        while n < limit and await self.run_once(owner) is not None:
            n += 1
        return n
