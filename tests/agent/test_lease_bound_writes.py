"""An approved write is sent, and waited on, only inside the worker's lease (app/agent/lease.py):
a worker that stalls leaves the write to whoever resumes it, who looks for it before writing.

The in-memory store with a wall clock the test moves, and the orchestrator's monotonic clock,
which the test moves too (a stall is time passing on it while nothing runs). Where a call must
outlive a lease, a short real lease cuts it off: the tests wait for outcomes, never for time.
What becomes of a write that was not sent is tested on every store (memory, SQLite, PostgreSQL).
(The review's scenario on the help-desk simulator: tests/acceptance/test_paused_worker.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.agent.lease import CutOff, Lease
from app.agent.memory import MemoryRunStore
from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.ports import ActionRecord
from app.llm.scripted import ScriptedModel, text
from tests.agent.fakes import FakeSystem, loop, one_send
from tests.agent.test_passing_faults import Clock, only_action
from tests.store.test_run_store_contract import Harness, MemoryHarness, SqlHarness, _sql_database
from tools.base import Catalogue

LEASE = 30.0
STUCK = 10.0  # a pass still going after this long never ends (a cut-off that never came)


class Monotonic:
    """The worker's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store(MemoryRunStore):
    """Can freeze a worker right after `executing` is committed (`stall`: its clock and the
    store's move past the lease while it does nothing), fail its renewals (`cannot_renew`:
    a dropped connection) and count them."""

    def __init__(self, wall: Clock, mono: Monotonic) -> None:
        super().__init__(clock=wall)
        self.wall, self.mono = wall, mono
        self.stall: set[str] = set()
        self.cannot_renew: set[str] = set()
        self.renewals = 0
        self.renewed: tuple[asyncio.AbstractEventLoop, asyncio.Event, int] | None = None

    def start_execution(self, action_id: str, owner: str, **kw: Any) -> Any:
        record = super().start_execution(action_id, owner, **kw)
        if owner in self.stall:
            self.mono.now += LEASE + 1
            self.wall.now += timedelta(seconds=LEASE + 1)
        return record

    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        if owner in self.cannot_renew:
            raise ConnectionError("the database went away")
        renewed = super().renew_lease(run_id, owner, seconds)
        self.renewals += 1
        if self.renewed is not None and self.renewals >= self.renewed[2]:
            loop, event, _ = self.renewed
            loop.call_soon_threadsafe(event.set)
        return renewed


class HangingSystem(FakeSystem):
    """Its first send is made (the system applies it), then never answered."""

    def __init__(self) -> None:
        super().__init__()
        self.hung = False
        self.cancelled = False

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        result = await super().send(args, key)
        if self.hung:
            return result
        self.hung = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return result


def rig(
    system: FakeSystem, *, lease: float = LEASE, real_clock: bool = False
) -> tuple[Store, Orchestrator, Monotonic, Clock]:
    wall, mono = Clock(), Monotonic()
    store = Store(wall, mono)
    cat = system.catalogue()
    orch = Orchestrator(
        store,
        ScriptedModel([one_send(), text("sent")]),
        lambda: cat,
        lambda: Policy(),
        {"t": loop},
        lease_seconds=lease,
        **({} if real_clock else {"clock": mono}),
    )
    return store, orch, mono, wall


async def approved(store: Store, orch: Orchestrator) -> tuple[str, str]:
    run_id = store.add_run("t", {})
    await orch.drain("w")
    a = only_action(store)
    store.decide(a, "approved", by="pat")
    return run_id, a


async def test_a_worker_whose_lease_ran_out_before_sending_does_not_send() -> None:
    system = FakeSystem()
    store, orch, _, wall = rig(system)
    run_id, a = await approved(store, orch)

    store.stall.add("A")  # A commits executing, then freezes past its lease
    assert await orch.run_once("A") == run_id
    assert system.looked == [] and system.writes == []  # nothing went out from A
    assert store.action(a).status == "approved" and store.status(run_id) == "queued"  # taken back
    assert "was not sent" in (store.runs[run_id].error or "")

    wall.past_backoff()
    await orch.drain("B")
    assert store.status(run_id) == "succeeded" and store.action(a).attempts == 1
    assert system.looked == [False] and len(system.writes) == 1  # a first attempt: nothing to look for


async def test_a_call_that_outlives_the_lease_is_cancelled_and_the_resumed_attempt_looks_first() -> None:
    system = HangingSystem()
    store, orch, _, wall = rig(system, lease=0.3)  # its clock stands still: only the call's wait runs out
    run_id, a = await approved(store, orch)

    store.cannot_renew.add("A")  # A's heartbeat cannot renew: the lease runs out under the call
    assert await asyncio.wait_for(orch.run_once("A"), STUCK) == run_id
    assert system.cancelled and len(system.writes) == 1  # the system made it; A never heard
    assert store.action(a).status == "executing" and store.status(run_id) == "queued"
    assert "was cancelled" in (store.runs[run_id].error or "")

    wall.past_backoff()
    await asyncio.wait_for(orch.drain("B"), STUCK)
    assert store.status(run_id) == "succeeded" and store.action(a).attempts == 2
    assert system.looked == [False, True] and len(system.writes) == 1  # found A's write, made no other
    assert "deduplicated" in str(store.action(a).result)


async def test_a_write_longer_than_the_lease_goes_on_while_the_heartbeat_renews_it() -> None:
    system = FakeSystem()
    store, orch, _, _ = rig(system, lease=1.5, real_clock=True)
    run_id, a = await approved(store, orch)
    send = system.send
    renewed = asyncio.Event()

    async def slow(args: dict[str, Any], key: str | None) -> Any:
        store.renewed = (asyncio.get_running_loop(), renewed, store.renewals + 4)
        await renewed.wait()  # four heartbeats: longer than the lease itself
        return await send(args, key)

    system.send = slow  # type: ignore[method-assign]
    cat = system.catalogue()
    orch.catalogue = lambda: cat
    assert await asyncio.wait_for(orch.run_once("A"), STUCK) == run_id
    assert store.status(run_id) == "succeeded" and store.action(a).attempts == 1
    assert system.looked == [False] and len(system.writes) == 1


async def test_renewals_move_the_wait_and_a_lost_lease_ends_it_at_once() -> None:
    mono = Monotonic()
    lease = Lease(3600.0, margin=600.0, clock=mono)
    assert lease.renewed(mono.now - 1000) == mono.now + 2000  # asked for 1000 s ago
    entered = asyncio.Event()

    async def wait() -> None:
        async with lease.held("a write"):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(wait())
    await entered.wait()
    [timeout] = lease._timeouts
    first = timeout.when()
    assert first is not None and 1999 < first - asyncio.get_running_loop().time() <= 2000
    lease.renewed(lease.renewing())  # renewed just now: the wait moves by those 1000 s
    assert (timeout.when() or 0) - first == pytest.approx(1000, abs=1)
    lease.renewed(mono.now - 500)  # an older renewal that answered late moves nothing
    assert (timeout.when() or 0) - first == pytest.approx(1000, abs=1)
    lease.lost()  # another worker holds the run: the wait ends now
    with pytest.raises(CutOff):
        await asyncio.wait_for(task, STUCK)


# -- a write not sent, on every store --------------------------------------------------------------
@pytest.fixture(params=["memory", "sqlite", "postgres"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A store of each kind (tests/store/test_run_store_contract.py), with the wall clock it keeps."""
    if request.param == "memory":
        yield MemoryHarness(72.0)
        return
    database = _sql_database(request.param, tmp_path)
    yield SqlHarness(next(database), 72.0)
    next(database, None)


async def stalling_rig(
    h: Harness, monkeypatch: pytest.MonkeyPatch, then: Callable[[str], None] = lambda run_id: None
) -> tuple[FakeSystem, Orchestrator, str, str]:
    """An approved write to a system that cannot deduplicate it (idempotency "none"); worker A
    stalls past its lease right after committing `executing`, and `then(run_id)` runs there."""
    system = FakeSystem()
    cat = Catalogue([replace(t, idempotency="none") if t.is_write else t for t in system.catalogue()])
    mono = Monotonic()
    orch = Orchestrator(
        h.store,
        ScriptedModel([one_send(), text("sent")]),
        lambda: cat,
        lambda: Policy(),
        {"t": loop},
        lease_seconds=LEASE,
        backoff_max=0,
        clock=mono,
    )
    run_id = h.new_run(kind="t")
    await orch.drain("w")
    [action] = h.store.load(run_id).actions
    h.decide(action.id, "approved")
    start = h.store.start_execution

    def stalled(action_id: str, owner: str, **kw: Any) -> ActionRecord:
        record = start(action_id, owner, **kw)
        if owner == "A":
            mono.now += LEASE + 1  # by A's clock its lease is gone; by the store's, not yet
            then(run_id)
        return record

    monkeypatch.setattr(h.store, "start_execution", stalled)
    return system, orch, run_id, action.id


async def test_a_write_not_sent_is_sent_on_the_next_pass_even_where_it_cannot_be_deduplicated(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing went out, so the write is not one whose outcome is unknown: it goes back to
    approved and the next pass sends it, where a system that cannot deduplicate would otherwise
    leave a write that was never made to a person (needs_attention)."""
    system, orch, run_id, a = await stalling_rig(h, monkeypatch)
    assert await orch.run_once("A") == run_id
    assert system.writes == []
    assert (h.action_status(a), h.run_status(run_id)) == ("approved", "queued")
    assert ("A", "action.not_sent") in h.events(a)

    await orch.drain("B")
    assert h.run_status(run_id) == "succeeded"
    [sent] = system.writes
    assert sent["key"] == a
    [action] = h.store.load(run_id).actions
    assert (action.status, action.attempts) == ("succeeded", 1)


async def test_a_write_not_sent_by_a_worker_that_lost_the_run_is_left_executing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's lease lapsed and B took the run while A stalled: A cannot take the attempt back (the
    store's fence), so the write stays executing and B resumes it as one whose outcome is
    unknown: on a system that cannot deduplicate, a person decides (the safe side)."""

    def taken_over(run_id: str) -> None:
        assert h.store.renew_lease(run_id, "A", -1)
        assert h.store.claim_run(run_id, "B", LEASE)

    system, orch, run_id, a = await stalling_rig(h, monkeypatch, taken_over)
    assert await orch.run_once("A") == run_id
    assert system.writes == [] and h.action_status(a) == "executing"
    assert ("A", "action.not_sent") not in h.events(a)

    assert await orch.advance(run_id, "B") == "needs_attention"
    assert system.writes == [] and h.action_status(a) == "failed"
