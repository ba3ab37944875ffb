"""Approved writes run promptly; failures wait for a person; passing faults come back later.

- An approved action executes at once even while its siblings wait; the model goes
  on once every action of its turn is decided.
- An approved write the system refuses parks the run in needs_attention (never a
  green "succeeded"); a person retries it with the same idempotency key or
  dismisses it with a reason the model hears.
- An outage (a retryable connector error) or a dropped database connection sends
  the run back to the queue with backoff instead of failing it.
- The worker's sweep requeues parked runs that have work, so none is forgotten.

Here the parts that need the database or the approval service; the loop's own handling of
outages, lost tools, cut-off writes and the sweep runs on the in-memory store
(tests/agent/test_passing_faults.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, update
from sqlalchemy import text as sql

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, dashboard
from app.services.auth import Principal
from app.services.errors import Conflict, Invalid, NotFound
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import AuditEntry, Run, utcnow
from connectors.base import ConnectorError
from tests.agent.fakes import FakeSystem, FlakySystem, loop, one_send, two_sends

PAT = Principal("pat", "approver")
LEE = Principal("lee", "approver")


def orchestrator(db: Database, model: ScriptedModel, system: FakeSystem) -> Orchestrator:
    cat = system.catalogue()
    return Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": loop})


def new_run(db: Database) -> str:
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        return run.id


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


# -- a dropped database connection: back to the queue with backoff ---------------------------------
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


async def test_a_write_knows_when_its_first_attempt_went_out_when_it_is_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector looking for an earlier attempt may start when the first attempt went out
    (`not_written_before`): on the first attempt that is now, on a person's retry the audit's
    first `action.executing`, in UTC whatever the server's time zone (SQLite hands stored times
    back without one). Here the write was approved at once, so both are its creation time."""
    import time

    from connectors.base import not_written_before

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()

    seen: list[float | None] = []

    class Remembering(FakeSystem):
        async def send(self, args: dict[str, Any], key: str | None) -> Any:
            seen.append(not_written_before())
            raise ConnectorError("refused", status=422)

    system = Remembering()
    orch = orchestrator(db, ScriptedModel([one_send(), text("done")]), system)
    run_id = new_run(db)
    await orch.run_once("w")
    [action] = approvals.list_actions(db)
    approvals.approve(db, action["id"], PAT, orch.catalogue)
    await orch.drain("w")
    approvals.retry(db, action["id"], PAT)
    await orch.drain("w")
    with db.read() as s:
        from app.store.tables import Action

        created = s.scalar(select(Action.created_at).where(Action.id == action["id"]))
    assert created is not None and run_id
    when = (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
    monkeypatch.delenv("TZ")
    time.tzset()
    assert len(seen) == 2 and all(t is not None and abs(t - when) < 1 for t in seen), (seen, when)
