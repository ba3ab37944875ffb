"""Passing faults, lost tools, cut-off writes and the sweeper: the run loop on the in-memory store,
with a clock the test moves (the SQL store's own faults are in tests/agent/test_failed_writes.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.agent.memory import MemoryRunStore
from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.run import WRITE_ATTEMPTS, RunContext
from app.agent.worker import Worker
from app.llm.base import Message, ModelRequest
from app.llm.scripted import ScriptedModel, text, tool_use
from connectors.base import ConnectorError
from tests.agent.fakes import FakeSystem, FlakySystem, loop, one_send, two_sends
from tools.base import Catalogue


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def past_backoff(self) -> None:
        self.now += timedelta(minutes=10)


def setup(
    system: FakeSystem, model: ScriptedModel, cat: Catalogue | None = None
) -> tuple[MemoryRunStore, Clock, Orchestrator, str]:
    clock = Clock()
    store = MemoryRunStore(clock=clock)
    catalogue = cat or system.catalogue()
    orch = Orchestrator(store, model, lambda: catalogue, lambda: Policy(), {"t": loop})
    return store, clock, orch, store.add_run("t", {})


def only_action(store: MemoryRunStore) -> str:
    [action_id] = store.actions
    return action_id


async def test_an_outage_during_a_write_requeues_with_backoff_and_the_same_key() -> None:
    system = FlakySystem()
    store, clock, orch, run_id = setup(system, ScriptedModel([one_send(), text("sent")]))
    await orch.drain("w")
    a = only_action(store)
    system.failures = [("send", ConnectorError("503 try later", status=503, retryable=True))]
    store.decide(a, "approved", by="pat")
    await orch.drain("w")

    snap = store.load(run_id)
    assert (
        snap.status == "queued" and snap.retries == 1 and "503 try later" in (store.runs[run_id].error or "")
    )
    assert store.action(a).status == "executing"
    assert await orch.drain("w") == 0  # honoured by claim: not before its time
    clock.past_backoff()
    await orch.drain("w")
    assert store.status(run_id) == "succeeded" and store.action(a).attempts == 2
    assert system.keys == [a, a] and len(system.writes) == 1
    assert store.load(run_id).retries == 0


async def test_an_outage_that_lasts_ends_in_needs_attention_not_in_a_loop() -> None:
    system = FlakySystem()
    store, clock, orch, run_id = setup(system, ScriptedModel([one_send(), text("sent")]))
    await orch.drain("w")
    a = only_action(store)
    system.failures = [("send", ConnectorError("503 down", status=503, retryable=True))] * WRITE_ATTEMPTS
    store.decide(a, "approved", by="pat")
    for _ in range(WRITE_ATTEMPTS):
        clock.past_backoff()
        await orch.drain("w")
    assert store.status(run_id) == "needs_attention" and store.action(a).attempts == WRITE_ATTEMPTS
    assert "503 down" in (store.action(a).error or "")


async def test_an_outage_during_a_read_requeues_instead_of_telling_the_model() -> None:
    system = FlakySystem()
    model = ScriptedModel([tool_use("shop__lookup", {"order_id": 7}, call_id="r1"), text("shipped")])
    store, clock, orch, run_id = setup(system, model)
    system.failures = [("lookup", ConnectorError("could not reach shop", retryable=True))]
    await orch.drain("w")
    assert store.status(run_id) == "queued"
    assert not [s for s in store.load(run_id).steps if s.kind == "tool_call"]
    clock.past_backoff()
    await orch.drain("w")
    assert store.status(run_id) == "succeeded" and store.result(run_id) == {"answer": "shipped"}
    assert "could not reach" not in str(store.load(run_id).steps)


async def test_the_sweep_requeues_parked_runs_that_have_work() -> None:
    system = FakeSystem()
    store, _, orch, run_id = setup(system, ScriptedModel([two_sends(), text("done")]))
    await orch.drain("w")
    first, second = sorted(store.actions, key=lambda i: store.action(i).arguments["to"])
    assert store.sweep() == 0  # waiting for people: nothing to do

    store.actions[first].record.status = "approved"  # a decision whose requeue was lost
    assert store.sweep() == 1 and store.status(run_id) == "queued"
    await orch.drain("w")
    assert len(system.writes) == 1 and store.status(run_id) == "waiting_approval"

    store.actions[second].record.status = "rejected"
    orch.sweep_seconds = 0.05  # the worker loop sweeps by itself
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(orch, poll_seconds=0.02, owner="w").run(stop))
    for _ in range(200):
        if store.status(run_id) == "succeeded":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await worker
    assert store.status(run_id) == "succeeded"
    assert any(e["actor"] == "sweeper" for e in store.audit_log)


async def test_an_approved_write_the_run_no_longer_reaches_does_not_wait_forever() -> None:
    system = FakeSystem()
    cat = system.catalogue()
    tools = {"offered": True}

    async def pipeline(ctx: RunContext) -> dict[str, Any]:
        offered = list(ctx.catalogue) if tools["offered"] else []
        final = await ctx.agent_loop(
            "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), offered
        )
        return {"answer": final.content}

    store = MemoryRunStore()
    model = ScriptedModel([one_send(), text("the tool went away")])
    orch = Orchestrator(store, model, lambda: cat, lambda: Policy(), {"t": pipeline})
    run_id = store.add_run("t", {})
    await orch.drain("w")
    a = only_action(store)
    tools["offered"] = False  # e.g. its connection was removed
    store.decide(a, "approved", by="pat")
    assert await orch.drain("w") == 1  # one pass, not a loop
    assert store.status(run_id) == "needs_attention" and store.action(a).status == "failed"
    assert "did not come back" in (store.action(a).error or "") and system.writes == []
    store.decide(a, "dismissed", by="pat", reason="connection removed on purpose")
    await orch.drain("w")
    assert store.status(run_id) == "succeeded"


async def test_a_write_cut_off_mid_call_on_a_system_that_cannot_deduplicate_waits_for_a_person() -> None:
    system = FakeSystem()
    cat = Catalogue([replace(t, idempotency="none") if t.is_write else t for t in system.catalogue()])
    store, _, orch, run_id = setup(system, ScriptedModel([one_send(), text("sent")]), cat)
    await orch.drain("w")
    a = only_action(store)
    store.decide(a, "approved", by="pat")

    # a worker marks it executing and dies (its lease lapses) before it knows whether the write landed
    assert store.claim("w2", -1) == run_id
    store.start_execution(a, "w2")
    await orch.drain("w3")
    assert store.status(run_id) == "needs_attention" and system.writes == []  # never repeated blindly
    assert "cannot deduplicate" in (store.action(a).error or "")

    store.decide(a, "approved", by="lee")  # a person checked the system and asks for it again
    await orch.drain("w3")
    assert store.status(run_id) == "succeeded" and len(system.writes) == 1 and store.action(a).attempts == 3
