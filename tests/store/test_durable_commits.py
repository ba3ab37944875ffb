"""Which commits are flushed to disk before they return: those that acknowledge something or
precede a write to a connected system; a worker's other commits are not (they survive a crash
of the process, which tests/e2e/test_crash_recovery.py kills, not one of the machine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from app.agent.ports import NewAction, NewStep
from app.services import approvals, intake
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore


def _level(dbapi_conn: Any, postgres: bool) -> str:
    """The fsync level the transaction on this connection commits with."""
    cur = dbapi_conn.cursor()
    try:
        if postgres:
            cur.execute("SHOW synchronous_commit")
            return "durable" if cur.fetchone()[0] == "on" else "lazy"
        cur.execute("PRAGMA synchronous")
        return {2: "durable", 1: "lazy"}[cur.fetchone()[0]]
    finally:
        cur.close()


@pytest.fixture
def commits(db: Database) -> Iterator[list[str]]:
    """The level of every commit on `db`, in order."""
    seen: list[str] = []

    def on_commit(conn: Any) -> None:
        seen.append(_level(conn.connection.dbapi_connection, db.is_postgres))

    event.listen(db.engine, "commit", on_commit)
    yield seen
    event.remove(db.engine, "commit", on_commit)


def test_a_unit_of_work_is_durable_unless_it_says_otherwise(db: Database, commits: list[str]) -> None:
    with db.transaction(durable=False) as w:
        w.connection().execute(text("SELECT 1"))
    with db.transaction() as w:
        w.connection().execute(text("SELECT 1"))
    with db.session() as s:
        s.execute(text("SELECT 1"))
    with db.transaction(durable=False) as w:
        w.connection().execute(text("SELECT 1"))
    # A pooled connection that last committed lazily is durable again for the next unit.
    assert commits == ["lazy", "durable", "durable", "lazy"]


def test_a_rolled_back_lazy_unit_leaves_the_next_one_durable(db: Database, commits: list[str]) -> None:
    with pytest.raises(RuntimeError), db.transaction(durable=False):
        raise RuntimeError("boom")
    with db.transaction() as w:
        w.connection().execute(text("SELECT 1"))
    assert commits == ["durable"]


def _unedited() -> Any:
    raise AssertionError("an approval without edits reads no catalogue")


def _action() -> NewAction:
    return NewAction(
        tool_call_id="t1",
        tool="helpdesk__add_comment",
        connection="helpdesk",
        operation="add_comment",
        arguments={"ticket_id": 1, "body": "hi"},
        risk="medium",
        reasons=["posts a reply"],
    )


def test_only_intake_decisions_and_the_commit_before_a_write_are_durable(
    db: Database, commits: list[str]
) -> None:
    store = SqlRunStore(db)
    step = NewStep(kind="note", name="s", data={})
    marks: list[tuple[str, int]] = []

    def mark(what: str) -> None:
        marks.append((what, len(commits)))

    run_id, _ = intake.submit(
        db, kind="ticket", run_kind="triage", payload={"subject": "s", "body": "b"}, source="api", actor="ann"
    )
    mark("intake")
    assert store.claim("w1", 30) == run_id
    store.append_steps(run_id, "w1", [step])
    action = _action()
    store.set_status(run_id, "w1", "waiting_approval", steps=[step], actions=[action])
    mark("worker: claim, steps, parking")
    approvals.approve(db, action.id, Principal("pat", "approver"), _unedited)
    mark("decision")
    assert store.claim("w1", 30) == run_id
    mark("worker: claim")
    store.start_execution(action.id, "w1")
    mark("before the write")
    store.finish_execution(action.id, "w1", status="succeeded", result={}, error=None, step=step)
    store.set_status(run_id, "w1", "succeeded")
    mark("worker: after the write")

    levels: dict[str, set[str]] = {}
    start = 0
    for what, end in marks:
        levels[what] = set(commits[start:end])
        start = end
    assert levels == {
        "intake": {"durable"},
        "worker: claim, steps, parking": {"lazy"},
        "decision": {"durable"},
        "worker: claim": {"lazy"},
        "before the write": {"durable"},
        "worker: after the write": {"lazy"},
    }
