"""The run store's unit of work on a plain Connection (`Database.transaction`): its audit rows
join the same chain as a Session's, nothing of a rolled-back one is kept, and what waits for
the commit runs only after it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.store import audit_chain
from app.store.db import Database
from app.store.runs import audit
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
