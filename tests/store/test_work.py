"""The run store's unit of work on a plain Connection (`Database.transaction`): its audit rows
join the same chain as a Session's, nothing of a rolled-back one is kept, and what waits for
the commit runs only after it."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, null, select

from app.agent.ports import NewStep
from app.store import audit_chain
from app.store.db import Database
from app.store.runs import SqlRunStore, audit
from app.store.tables import AuditEntry, Run


def test_audit_rows_of_connection_and_session_units_form_one_chain(db: Database) -> None:
    with db.session() as s:
        audit(s, "ann", "one", None, None, {})
    with db.transaction() as w:
        audit(w, "bob", "two", None, None, {"n": 2})
        audit(w, "bob", "three", None, None, {})
    with db.session() as s:
        audit(s, "ann", "four", None, None, {})
    with db.read() as s:
        report = audit_chain.verify(s)
        events = s.scalars(select(AuditEntry.event).order_by(AuditEntry.chain_seq)).all()
    assert report.ok, report.problems
    assert events[-4:] == ["one", "two", "three", "four"]


def test_a_failed_unit_keeps_nothing_and_runs_nothing_after_commit(db: Database) -> None:
    done: list[str] = []
    with db.read() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(RuntimeError), db.transaction() as w:
        w.connection().execute(Run.__table__.insert(), {"id": "r1", "kind": "test", "status": "queued"})
        audit(w, "ann", "lost", None, None, {})
        w.after_commit.append(lambda: done.append("ran"))
        raise RuntimeError("boom")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
        assert s.get(Run, "r1") is None
    assert done == []
    with db.transaction() as w:
        w.after_commit.append(lambda: done.append("ran"))
        assert done == []
    assert done == ["ran"]


def test_a_claimed_pass_numbers_its_steps_without_asking_the_table(db: Database) -> None:
    store = SqlRunStore(db)
    with db.session() as s:
        s.add(Run(id="r1", kind="test", input={}))
    assert store.claim("w1", 30) == "r1"
    store.append_steps("r1", "w1", [NewStep(kind="note", name="a", data={})])
    store.requeue("r1", "w1", error="later", delay=-1)
    assert store.claim("w2", 30) == "r1"
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    store.load("r1", owner="w2")
    step = store.append_step("r1", "w2", NewStep(kind="note", name="b", data={}))
    assert step.seq == 2
    assert not [q for q in seen if "max(steps.seq)" in q]


def test_a_read_on_a_connection_neither_waits_for_a_writer_nor_sees_its_work(db: Database) -> None:
    with db.session() as s:
        s.add(Run(id="r0", kind="test", input={}))
    with db.transaction() as w:  # a writer holds its lock (SQLite) and a row not yet committed
        w.connection().execute(Run.__table__.insert(), {"id": "r1", "kind": "test", "status": "queued"})
        with db.reading() as c:  # would wait for the writer (and time out) if it took the lock
            assert c.scalars(select(Run.id).order_by(Run.id)).all() == ["r0"]
    with db.reading() as c:
        assert c.scalars(select(Run.id).order_by(Run.id)).all() == ["r0", "r1"]


def test_a_sql_null_among_a_runs_fields_commits_with_its_token_counts(db: Database) -> None:
    store = SqlRunStore(db)
    with db.session() as s:
        s.add(Run(id="r1", kind="test", input={}, draft={"body": "old"}))
    assert store.claim("w1", 30) == "r1"
    spent = NewStep(kind="model_call", name="m", data={}, input_tokens=7, output_tokens=3, cost_usd=0.5)
    store.append_steps("r1", "w1", [spent], run_fields={"draft": null()})
    with db.read() as s:
        run = s.get(Run, "r1")
        assert run is not None
        assert (run.draft, run.input_tokens, run.output_tokens, run.cost_usd) == (None, 7, 3, 0.5)
