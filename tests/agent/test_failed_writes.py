"""Approved writes run promptly; failures wait for a person; passing faults come back later.

- An approved action executes at once even while its siblings wait; the model goes
  on once every action of its turn is decided.
- An approved write the system refuses parks the run in needs_attention (never a
  green "succeeded"); a person retries it with the same idempotency key or
  dismisses it with a reason the model hears.
- An outage (a retryable connector error) or a dropped database connection sends
  the run back to the queue with backoff instead of failing it.
- The worker's sweep requeues parked runs that have work, so none is forgotten.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, update
from sqlalchemy import text as sql

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.run import WRITE_ATTEMPTS, RunContext
from app.agent.worker import Worker
from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, dashboard
from app.services.auth import Principal
from app.services.errors import Conflict, Invalid, NotFound
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Action, AuditEntry, Run, utcnow
from connectors.base import ConnectorError
from tests.agent.fakes import FakeSystem
from tools.base import Catalogue

PAT = Principal("pat", "approver")
LEE = Principal("lee", "approver")


class FlakySystem(FakeSystem):
    """Fails the next calls as told: ("send" | "lookup", ConnectorError) pairs, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[tuple[str, ConnectorError]] = []
        self.keys: list[str | None] = []

    def _maybe_fail(self, op: str) -> None:
        if self.failures and self.failures[0][0] == op:
            raise self.failures.pop(0)[1]

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        self.keys.append(key)
        self._maybe_fail("send")
        return await super().send(args, key)

    async def lookup(self, args: dict[str, Any], key: str | None) -> Any:
        self._maybe_fail("lookup")
        return await super().lookup(args, key)


async def loop(ctx: RunContext) -> dict[str, Any]:
    ctx.know(requester_email="ann@example.com", emails=["bob@example.com"])
    final = await ctx.agent_loop(
        "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), list(ctx.catalogue)
    )
    return {"answer": final.content}


def orchestrator(db: Database, model: ScriptedModel, system: FakeSystem) -> Orchestrator:
    cat = system.catalogue()
    return Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": loop})


def new_run(db: Database) -> str:
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        return run.id


def send(to: str, call_id: str) -> ToolCall:
    return ToolCall(id=call_id, name="shop__send_message", arguments={"to": to, "body": f"hello {to}"})


def two_sends() -> ModelResponse:
    """One model turn that proposes two sibling writes."""
    return ModelResponse(
        tool_calls=[send("ann@example.com", "c1"), send("bob@example.com", "c2")], stop_reason="tool_use"
    )


def one_send() -> ModelResponse:
    return tool_use("shop__send_message", {"to": "ann@example.com", "body": "hi"}, call_id="c1")


def run_row(db: Database, run_id: str) -> Run:
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        return run


def past_backoff(db: Database, run_id: str) -> None:
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))


# -- an approved write runs promptly ----------------------------------------------------------------
async def test_an_approved_write_runs_while_its_sibling_still_waits(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel([two_sends(), text("both handled")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    await orch.drain("w")
    first, second = sorted(approvals.list_actions(db), key=lambda a: a["arguments"]["to"])
    assert run_view(db, run_id)["status"] == "waiting_approval"

    approvals.approve(db, first["id"], PAT, system.catalogue)
    assert run_view(db, run_id)["status"] == "queued"  # back in the queue at once
    await orch.drain("w")
    assert [w["to"] for w in system.writes] == ["ann@example.com"]
    assert system.writes[0]["key"] == first["id"]
    view = run_view(db, run_id)
    assert view["status"] == "waiting_approval"
    assert {a["id"]: a["status"] for a in view["actions"]} == {
        first["id"]: "succeeded",
        second["id"]: "pending",
    }
    assert len(model.requests) == 1  # the model waits for the whole turn

    approvals.reject(db, second["id"], LEE, "not bob")
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and len(system.writes) == 1
    assert len(model.requests) == 2
    tool_results = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_results] == ["c1", "c2"]
    assert "Rejected by lee: not bob" in tool_results[1].content


# -- a failed write needs attention -----------------------------------------------------------------
async def test_a_refused_write_needs_attention_and_a_retry_uses_the_same_key(db: Database) -> None:
    system = FlakySystem()
    model = ScriptedModel([one_send(), text("sent")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    system.failures = [("send", ConnectorError("422 ticket is closed", status=422))] * 2
    approvals.approve(db, a["id"], PAT, system.catalogue)
    await orch.drain("w")

    view = run_view(db, run_id)
    assert view["status"] == "needs_attention"  # not a green "succeeded"
    [failed] = view["actions"]
    assert failed["status"] == "failed" and "ticket is closed" in failed["error"] and failed["attempts"] == 1
    assert len(model.requests) == 1  # the model is not told until a person decides
    counts = dashboard.queue_counts(db)
    assert counts["failed"] == 1 and counts["approved"] == 0
    assert dashboard.stats(db)["attention_runs"] == 1 and dashboard.stats(db)["failed_writes"] == 1
    assert [x["id"] for x in approvals.list_actions(db, "failed")] == [a["id"]]
    with pytest.raises(NotFound):
        approvals.retry(db, "no-such-action", PAT)
    await orch.drain("w")  # nothing to do while it waits
    assert run_view(db, run_id)["status"] == "needs_attention"

    approvals.retry(db, a["id"], LEE)  # still failing: back to needs attention, attempts counted
    assert run_view(db, run_id)["status"] == "queued"
    await orch.drain("w")
    assert run_view(db, run_id)["actions"][0]["attempts"] == 2
    assert run_view(db, run_id)["status"] == "needs_attention"

    approvals.retry(db, a["id"], PAT)
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded"
    [done] = view["actions"]
    assert done["status"] == "succeeded" and done["attempts"] == 3 and done["error"] is None
    assert system.keys == [a["id"]] * 3 and len(system.writes) == 1
    with db.session() as s:
        events = [e.event for e in s.scalars(select(AuditEntry).where(AuditEntry.subject_id == a["id"]))]
    assert events.count("action.retried") == 2 and events.count("action.failed") == 2
    with pytest.raises(Conflict, match="has not failed"):
        approvals.retry(db, a["id"], PAT)


async def test_a_dismissed_failure_is_told_to_the_model_which_goes_on(db: Database) -> None:
    system = FlakySystem()
    model = ScriptedModel([one_send(), text("could not send")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    system.failures = [("send", ConnectorError("403 no permission", status=403))]
    approvals.approve(db, a["id"], PAT, system.catalogue)
    await orch.drain("w")
    assert run_view(db, run_id)["status"] == "needs_attention"

    with pytest.raises(Invalid, match="reason"):
        approvals.dismiss(db, a["id"], PAT, "  ")
    done = approvals.dismiss(db, a["id"], PAT, "sent it by hand")
    assert done["status"] == "dismissed" and done["reason"] == "sent it by hand"
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and system.writes == []
    told = next(m for m in model.requests[1].messages if m.role == "tool").content
    assert "no permission" in told and "dismissed" in told and "sent it by hand" in told
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.event == "action.dismissed")).one()
        assert entry.actor == "pat" and entry.data["reason"] == "sent it by hand"


# -- passing faults: back to the queue with backoff ------------------------------------------------
async def test_an_outage_during_a_write_requeues_with_backoff_and_the_same_key(db: Database) -> None:
    system = FlakySystem()
    model = ScriptedModel([one_send(), text("sent")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    system.failures = [("send", ConnectorError("503 try later", status=503, retryable=True))]
    approvals.approve(db, a["id"], PAT, system.catalogue)
    await orch.drain("w")

    run = run_row(db, run_id)
    assert run.status == "queued" and run.retries == 1 and "503 try later" in (run.error or "")
    assert run.not_before is not None and run.not_before > utcnow()
    assert run_view(db, run_id)["actions"][0]["status"] == "executing"
    assert await orch.drain("w") == 0  # honoured by claim: not before its time
    past_backoff(db, run_id)
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and view["actions"][0]["attempts"] == 2
    assert system.keys == [a["id"], a["id"]] and len(system.writes) == 1
    assert run_row(db, run_id).retries == 0


async def test_an_outage_that_lasts_ends_in_needs_attention_not_in_a_loop(db: Database) -> None:
    system = FlakySystem()
    orch = orchestrator(db, ScriptedModel([one_send(), text("sent")]), system)
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    system.failures = [("send", ConnectorError("503 down", status=503, retryable=True))] * WRITE_ATTEMPTS
    approvals.approve(db, a["id"], PAT, system.catalogue)
    for _ in range(WRITE_ATTEMPTS):
        past_backoff(db, run_id)
        await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "needs_attention" and view["actions"][0]["attempts"] == WRITE_ATTEMPTS
    assert "503 down" in view["actions"][0]["error"]


async def test_an_outage_during_a_read_requeues_instead_of_telling_the_model(db: Database) -> None:
    system = FlakySystem()
    model = ScriptedModel([tool_use("shop__lookup", {"order_id": 7}, call_id="r1"), text("shipped")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    system.failures = [("lookup", ConnectorError("could not reach shop", retryable=True))]
    await orch.drain("w")
    assert run_row(db, run_id).status == "queued"
    assert not [s for s in run_view(db, run_id)["steps"] if s["kind"] == "tool_call"]
    past_backoff(db, run_id)
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and view["result"] == {"answer": "shipped"}
    assert "could not reach" not in str(view["steps"])


@contextmanager
def connection_dropped_at(db: Database, statement_prefix: str) -> Iterator[list[int]]:
    """The next statement starting with `statement_prefix` finds its connection gone.

    PostgreSQL: the server terminates the backend (pg_terminate_backend) just before the
    statement runs, as an administrator or a failover would. SQLite has no server; the
    driver's own error for a lost database stands in for it.
    """
    fired: list[int] = []
    admin = create_engine(db.engine.url) if db.is_postgres else None

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith(statement_prefix):
            return
        fired.append(1)
        if admin is None:
            raise sqlite3.OperationalError("disk I/O error")
        pid = cursor.connection.info.backend_pid
        with admin.connect() as a:
            a.execute(sql("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        if admin is not None:
            admin.dispose()


async def test_a_dropped_database_connection_requeues_the_run(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel([tool_use("shop__lookup", {"order_id": 7}, call_id="r1"), text("shipped")])
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    with connection_dropped_at(db, "INSERT INTO STEPS") as fired:
        await orch.drain("w")
    assert fired
    run = run_row(db, run_id)
    assert run.status == "queued", run.error  # not "failed" for good
    assert run.not_before is not None and "OperationalError" in (run.error or "")
    past_backoff(db, run_id)
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and view["result"] == {"answer": "shipped"}
    names = [s["name"] for s in view["steps"]]
    assert len(names) == len(set(names))


# -- the sweeper ------------------------------------------------------------------------------------
async def test_the_sweep_requeues_parked_runs_that_have_work(db: Database) -> None:
    system = FakeSystem()
    orch = orchestrator(db, ScriptedModel([two_sends(), text("done")]), system)
    run_id = new_run(db)
    await orch.drain("w")
    first, second = sorted(approvals.list_actions(db), key=lambda a: a["arguments"]["to"])
    store = SqlRunStore(db)
    assert store.sweep() == 0  # waiting for people: nothing to do

    # decisions that, as before the run lock, left the run parked behind them
    with db.session() as s:
        s.execute(update(Action).where(Action.id == first["id"]).values(status="approved", decided_by="pat"))
    assert store.sweep() == 1 and run_view(db, run_id)["status"] == "queued"
    await orch.drain("w")
    assert len(system.writes) == 1 and run_view(db, run_id)["status"] == "waiting_approval"

    with db.session() as s:
        s.execute(
            update(Action)
            .where(Action.id == second["id"])
            .values(status="rejected", reason="no", decided_by="l")
        )
    # the worker loop sweeps by itself
    orch.sweep_seconds = 0.05
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(orch, poll_seconds=0.02, owner="w").run(stop))
    for _ in range(200):
        if run_view(db, run_id)["status"] == "succeeded":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await worker
    assert run_view(db, run_id)["status"] == "succeeded"
    with db.session() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.actor == "sweeper")).all()


async def test_an_approved_write_the_run_no_longer_reaches_does_not_wait_forever(db: Database) -> None:
    system = FakeSystem()
    cat = system.catalogue()
    tools = {"offered": True}

    async def pipeline(ctx: RunContext) -> dict[str, Any]:
        offered = list(ctx.catalogue) if tools["offered"] else []
        final = await ctx.agent_loop(
            "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), offered
        )
        return {"answer": final.content}

    model = ScriptedModel([one_send(), text("the tool went away")])
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": pipeline})
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    tools["offered"] = False  # e.g. its connection was removed
    approvals.approve(db, a["id"], PAT, system.catalogue)
    assert await orch.drain("w") == 1  # one pass, not a loop
    view = run_view(db, run_id)
    assert view["status"] == "needs_attention" and view["actions"][0]["status"] == "failed"
    assert "did not come back" in view["actions"][0]["error"] and system.writes == []
    approvals.dismiss(db, a["id"], PAT, "connection removed on purpose")
    await orch.drain("w")
    assert run_view(db, run_id)["status"] == "succeeded"


async def test_a_write_cut_off_mid_call_on_a_system_that_cannot_deduplicate_waits_for_a_person(
    db: Database,
) -> None:
    system = FakeSystem()
    cat = Catalogue([replace(t, idempotency="none") if t.is_write else t for t in system.catalogue()])
    model = ScriptedModel([one_send(), text("sent")])
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": loop})
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    approvals.approve(db, a["id"], PAT, lambda: cat)

    # a worker marks it executing and dies before it knows whether the write landed
    store = SqlRunStore(db)
    assert store.claim("w2", 30) == run_id
    store.start_execution(a["id"], "w2")
    with db.session() as s:
        s.execute(
            update(Run).where(Run.id == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    await orch.drain("w3")
    view = run_view(db, run_id)
    assert view["status"] == "needs_attention" and system.writes == []  # never repeated blindly
    assert "cannot deduplicate" in view["actions"][0]["error"]

    # a person checked the system and asks for it again: it runs, once
    approvals.retry(db, a["id"], LEE)
    await orch.drain("w3")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded" and len(system.writes) == 1 and view["actions"][0]["attempts"] == 3
