"""One worker advances many runs at once, bounded; limits per model provider and per connection hold.

- A worker with N slots holds N runs in flight, never more, and finishes them all.
- Stopping it claims nothing more and lets the runs in flight finish.
- A run whose lease is taken mid-flight stops writing; the worker's other runs go on.
- A model provider's cap and a connection's cap bound the calls in flight; waits are counted.

- On PostgreSQL an idle worker hears a run queued by another process (NOTIFY) long before its
  poll, also after its listening connection was cut; on SQLite it polls.

No assertion here is about speed (that is bench/throughput.py): each waits, bounded, for a state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update

from app.agent.limits import limit_model
from app.agent.offload import Offload
from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.run import RunContext
from app.agent.worker import Worker
from app.llm.base import Message, ModelRequest, ModelResponse
from app.store import signals
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.signals import listen_for_queued
from app.store.tables import Run, Step
from connectors.limits import ConcurrencyLimit, ConcurrencyLimitTransport
from tools.base import Catalogue


class GatedModel:
    """Every call waits at a gate until the test opens it; counts the calls inside."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.inside = 0
        self.peak = 0
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.gate.wait()
        finally:
            self.inside -= 1
        return ModelResponse(content="done")


async def pipeline(ctx: RunContext) -> dict[str, Any]:
    answer = await ctx.model_call(
        "ask", ModelRequest(system="", messages=[Message(role="user", content="go")])
    )
    await ctx.record("noted", "note", {"answer": answer.content})
    return {"answer": answer.content}


def orchestrator(db: Database, model: Any) -> Orchestrator:
    cat = Catalogue([])
    return Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": pipeline}, io=Offload(8))


def new_runs(db: Database, n: int) -> list[str]:
    with db.session() as s:
        runs = [Run(kind="t", input={}) for _ in range(n)]
        s.add_all(runs)
        s.flush()
        return [r.id for r in runs]


def statuses(db: Database, ids: list[str]) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(Run.id, Run.status).where(Run.id.in_(ids))).tuples().all())


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait (bounded) for a state; a hang fails with what was awaited, not a stuck suite."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_worker_holds_n_runs_in_flight_and_never_more(db: Database) -> None:
    model = GatedModel()
    ids = new_runs(db, 6)
    worker = Worker(orchestrator(db, model), concurrency=4, poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: model.inside == 4, "four runs at the model at once")
    assert len(worker.in_flight) == 4
    assert list(statuses(db, ids).values()).count("queued") == 2  # the other two wait their turn
    model.gate.set()
    await until(lambda: set(statuses(db, ids).values()) == {"succeeded"}, "every run to finish")
    stop.set()
    await task
    assert model.peak == 4 and worker.peak == 4 and model.calls == 6
    with db.session() as s:  # each run advanced once, by one claim, with its own lease
        assert s.scalar(select(func.count()).where(Run.id.in_(ids), Run.lease_owner.is_not(None))) == 0
        assert set(s.scalars(select(Run.attempts).where(Run.id.in_(ids)))) == {1}


async def test_stop_claims_nothing_more_and_drains_the_runs_in_flight(db: Database) -> None:
    model = GatedModel()
    ids = new_runs(db, 3)
    worker = Worker(orchestrator(db, model), concurrency=3, poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: model.inside == 3, "three runs in flight")
    stop.set()
    later = new_runs(db, 1)
    for _ in range(20):  # the loop turns; the worker keeps waiting for its runs, claiming none
        await asyncio.sleep(0)
    assert not task.done()
    model.gate.set()
    await asyncio.wait_for(task, 20)
    assert set(statuses(db, ids).values()) == {"succeeded"}
    assert statuses(db, later) == {later[0]: "queued"}
    assert not worker.in_flight


async def test_a_worker_prepares_before_its_first_claim_and_goes_on_if_that_fails(db: Database) -> None:
    """`prepare` (the local model fitting its classifier) runs before any run is claimed, so no
    run waits on it holding a slot and a lease; if it fails the worker still works."""
    model = GatedModel()
    model.gate.set()
    ids = new_runs(db, 2)
    seen: list[dict[str, str]] = []
    release = asyncio.Event()

    async def prepare() -> None:
        seen.append(statuses(db, ids))
        await release.wait()

    worker = Worker(orchestrator(db, model), concurrency=2, poll_seconds=0.02, prepare=prepare)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: bool(seen), "the worker to start preparing")
    for _ in range(20):
        await asyncio.sleep(0)
    assert set(statuses(db, ids).values()) == {"queued"} and model.calls == 0  # nothing claimed yet
    release.set()
    await until(lambda: set(statuses(db, ids).values()) == {"succeeded"}, "both runs to finish")
    stop.set()
    await task

    async def broken() -> None:
        raise RuntimeError("no classifier today")

    later = new_runs(db, 1)
    worker = Worker(orchestrator(db, model), concurrency=1, poll_seconds=0.02, prepare=broken)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: statuses(db, later) == {later[0]: "succeeded"}, "the run after a failed prepare")
    stop.set()
    await task


async def test_a_lease_taken_mid_flight_stops_that_run_and_the_others_go_on(db: Database) -> None:
    model = GatedModel()
    taken, kept = new_runs(db, 2)
    worker = Worker(orchestrator(db, model), concurrency=2, poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: model.inside == 2, "both runs in flight")
    with db.session() as s:  # another worker took it over (as after a lapsed lease)
        s.execute(update(Run).where(Run.id == taken).values(lease_owner="another-worker"))
    model.gate.set()
    await until(lambda: statuses(db, [kept]) == {kept: "succeeded"}, "the other run to finish")
    await until(lambda: not worker.in_flight, "the taken run's pass to end")
    stop.set()
    await task
    with db.session() as s:
        run = s.get(Run, taken)
        assert run is not None
        # nothing written for it after it was taken: no step, no status, the new owner's lease kept
        assert run.status == "running" and run.lease_owner == "another-worker"
        assert s.scalar(select(func.count()).where(Step.run_id == taken)) == 0


async def test_a_model_providers_cap_bounds_the_calls_in_flight(db: Database) -> None:
    model = GatedModel()
    limited = limit_model(model, 2)
    ids = new_runs(db, 4)
    worker = Worker(orchestrator(db, limited), concurrency=4, poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(worker.in_flight) == 4 and model.inside == 2, "four runs, two at the model")
    await until(lambda: limited.limit.waiting == 2, "the other two waiting for a slot")  # type: ignore[attr-defined]
    assert model.inside == 2 and limited.limit.waits == 2  # type: ignore[attr-defined]
    model.gate.set()
    await until(lambda: set(statuses(db, ids).values()) == {"succeeded"}, "every run to finish")
    stop.set()
    await task
    assert model.peak == 2
    stats = limited.limit.stats()  # type: ignore[attr-defined]
    assert stats["limit"] == 2 and stats["peak"] == 2 and int(stats["waits"] or 0) >= 2


async def test_a_connections_cap_bounds_its_requests_in_flight() -> None:
    inside = {"now": 0, "peak": 0}
    gate = asyncio.Event()

    async def system(request: httpx.Request) -> httpx.Response:
        inside["now"] += 1
        inside["peak"] = max(inside["peak"], inside["now"])
        await gate.wait()
        inside["now"] -= 1
        return httpx.Response(200, json={"ok": True})

    limit = ConcurrencyLimit("connection:shop", 2)
    client = httpx.AsyncClient(
        base_url="http://shop.test", transport=ConcurrencyLimitTransport(httpx.MockTransport(system), limit)
    )
    calls = [asyncio.create_task(client.get(f"/orders/{i}")) for i in range(5)]
    await until(lambda: inside["now"] == 2 and limit.in_flight == 2, "two requests at the system")
    for _ in range(20):
        await asyncio.sleep(0)
    assert inside["now"] == 2  # the other three wait for a slot
    gate.set()
    answers = await asyncio.gather(*calls)
    assert [r.status_code for r in answers] == [200] * 5
    assert inside["peak"] == 2 and limit.waits == 3 and limit.waited_seconds > 0
    await client.aclose()


async def test_a_connections_config_sets_its_cap(db: Database) -> None:
    from app.services.connections import ConnectorPool, add_connection
    from app.store.crypto import SecretBox

    box = SecretBox("a-test-key-for-the-worker-tests")
    for name, config in (("slow", {"max_concurrency": 1}), ("usual", {})):
        add_connection(
            db,
            box,
            name=name,
            kind="helpdesk",
            base_url=f"http://{name}.test",
            auth_type="zendesk_token",
            credentials={"email": "a@example.com", "token": "t"},
            config=config,
            owner="ops",
        )
    pool = ConnectorPool(db, box, transport=httpx.MockTransport(lambda r: httpx.Response(200)), concurrency=6)
    pool.catalogue()
    assert pool.limits["slow"].limit == 1
    assert pool.limits["usual"].limit == 6
    await pool.aclose()


def _listening_backends(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(
            conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": signals.LISTENER_NAME},
            )
        )


Listen = Callable[[Callable[[], None]], Awaitable[None]]


def _noting(heard: list[int], listen: Listen) -> Listen:
    """`listen`, with each wake-up it gives noted in `heard`."""

    async def noted_listen(wake: Callable[[], None]) -> None:
        def noted() -> None:
            heard.append(1)
            wake()

        await listen(noted)

    return noted_listen


async def _hears(db: Database, worker: Worker, heard: list[int]) -> None:
    """Queue a run from another Database (as the API or another worker process would: this
    worker's own wake-up is never set) and wait for it to finish, far sooner than the poll."""
    elsewhere = Database(db.url)
    try:
        ids = new_runs(elsewhere, 1)
    finally:
        elsewhere.dispose()
    await until(lambda: statuses(db, ids) == {ids[0]: "succeeded"}, "the run queued elsewhere", 15)
    assert heard, "the run was claimed without a notice"


async def test_an_idle_worker_hears_a_run_queued_by_another_process(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = postgres_db
    monkeypatch.setattr(signals, "HEARTBEAT_SECONDS", 0.05)  # several heartbeats before the notice
    model = GatedModel()
    model.gate.set()
    heard: list[int] = []
    listen = _noting(heard, partial(listen_for_queued, db.url))
    # A poll of ten minutes: only the notice can bring the run to it within the test.
    worker = Worker(orchestrator(db, model), concurrency=2, poll_seconds=600, listen=listen)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: bool(heard), "the listener to connect (it wakes the worker once)")
    await asyncio.sleep(0.3)  # the worker's first claim finds nothing and it goes idle
    heard.clear()
    await _hears(db, worker, heard)
    stop.set()
    await asyncio.wait_for(task, 20)


async def test_the_listener_reconnects_after_its_connection_is_cut(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = postgres_db
    # Named for this test alone: other tests' workers may listen on the same server meanwhile.
    monkeypatch.setattr(signals, "LISTENER_NAME", f"switchboard-listener-{uuid.uuid4().hex[:8]}")
    model = GatedModel()
    model.gate.set()
    heard: list[int] = []

    def noted() -> None:
        heard.append(1)
        worker.wakeup.set()

    worker = Worker(orchestrator(db, model), concurrency=2, poll_seconds=600)
    worker.listen = lambda wake: listen_for_queued(db.url, noted)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(_listening_backends(db)) == 1, "the listener to connect")
    first = _listening_backends(db)[0]
    with db.engine.begin() as conn:  # as a server restart or a network cut would
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    await until(lambda: _listening_backends(db) not in ([], [first]), "the listener to connect again", 15)
    await asyncio.sleep(0.2)
    heard.clear()
    await _hears(db, worker, heard)
    stop.set()
    await asyncio.wait_for(task, 20)
    # A stopped worker leaves no connection behind. The server ends a backend a moment after its
    # client closes the socket, so pg_stat_activity may still show it just after the stop.
    await until(lambda: _listening_backends(db) == [], "the listener's connection to close", 5)


async def test_on_sqlite_there_is_no_notice_to_listen_for(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    await asyncio.wait_for(listen_for_queued(url, lambda: pytest.fail("a notice on SQLite")), 1)
    db = Database(url)
    db.upgrade()
    model = GatedModel()
    model.gate.set()
    worker = Worker(orchestrator(db, model), concurrency=1, poll_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.1)
    ids = new_runs(db, 1)
    await until(lambda: statuses(db, ids) == {ids[0]: "succeeded"}, "the poll to find the run")
    stop.set()
    await asyncio.wait_for(task, 20)


async def test_advance_now_beside_a_listening_worker_returns_a_stopped_run(postgres_db: Database) -> None:
    """The worker hears each run the moment it is queued and races advance_now for it; whoever
    wins, advance_now returns only once the run has stopped, so its caller reads an outcome."""
    db = postgres_db
    model = GatedModel()
    model.gate.set()
    orch = orchestrator(db, model)
    worker = Worker(orch, concurrency=4, poll_seconds=600, listen=partial(listen_for_queued, db.url))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.3)  # listening
    for _ in range(8):
        [run_id] = new_runs(db, 1)
        await orch.advance_now(run_id, "api")
        assert statuses(db, [run_id]) == {run_id: "succeeded"}
    stop.set()
    await asyncio.wait_for(task, 20)


async def test_an_idle_sqlite_worker_hears_a_run_queued_by_another_process(tmp_path: Any) -> None:
    """SQLite has no notices: the worker watches the database's commit counter instead."""
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.upgrade()
    model = GatedModel()
    model.gate.set()
    heard: list[int] = []
    listen = _noting(heard, partial(signals.watch_for_queued, db.url, every=0.01))
    # A poll of ten minutes: only the watch can bring the run to it within the test.
    worker = Worker(orchestrator(db, model), concurrency=2, poll_seconds=600, listen=listen)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.3)  # the worker's first claim finds nothing and it goes idle
    try:
        assert worker.wakeup.listening  # idle with free slots: the watch looks
        await _hears(db, worker, heard)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        db.dispose()


async def test_a_worker_listens_only_while_a_slot_is_free(db: Database) -> None:
    model = GatedModel()  # closed: the run it holds waits on the model
    worker = Worker(orchestrator(db, model), concurrency=1, poll_seconds=600)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: worker.wakeup.listening, "the idle worker to wait with its slot free")
    new_runs(db, 1)
    worker.wakeup.set()
    await until(lambda: len(worker.in_flight) == 1, "the worker to take the run")
    await until(lambda: not worker.wakeup.listening, "the full worker to stop listening")
    model.gate.set()
    await until(lambda: worker.wakeup.listening, "the worker, its slot free again, to listen")
    stop.set()
    await asyncio.wait_for(task, 20)
