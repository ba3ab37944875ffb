"""A rolled-back savepoint takes back its own audit rows, never the ones staged before it.

Audit rows are staged on the session (`audit_chain.stage`) and sealed at commit. A rollback
forgets what was staged since its transaction began: a savepoint's (`Session.begin_nested`)
rows only, so the outer transaction commits with the rows it staged before the savepoint; a
savepoint released keeps its rows, and a whole rollback forgets them all. The usual way a
savepoint is rolled back is a flush failing inside `with s.begin_nested():` (a unique key taken),
whose own sub-transaction's rollback takes the savepoint with it: the same holds.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry, Item


def test_a_rolled_back_savepoint_keeps_the_audit_rows_staged_before_it(db: Database) -> None:
    with db.session() as s:
        audit(s, "olivia", "thing.done", "thing", "1", {"n": 1})
        nested = s.begin_nested()
        audit(s, "olivia", "thing.tried", "thing", "2", {"n": 2})
        nested.rollback()
    with db.read() as s:
        events = s.execute(select(AuditEntry.event).order_by(AuditEntry.id)).scalars().all()
    assert events == ["thing.done"], "the outer transaction committed without its audit row"


def test_a_released_savepoint_keeps_its_rows_and_a_whole_rollback_forgets_all(db: Database) -> None:
    with db.session() as s:
        audit(s, "olivia", "thing.done", "thing", "1", {"n": 1})
        with s.begin_nested():
            audit(s, "olivia", "thing.kept", "thing", "2", {"n": 2})
        nested = s.begin_nested()
        audit(s, "olivia", "thing.tried", "thing", "3", {"n": 3})
        nested.rollback()
        audit(s, "olivia", "thing.after", "thing", "4", {"n": 4})
    with db.session() as s:
        audit(s, "olivia", "thing.lost", "thing", "5", {"n": 5})
        s.rollback()
    with db.read() as s:
        events = s.execute(select(AuditEntry.event).order_by(AuditEntry.id)).scalars().all()
    assert events == ["thing.done", "thing.kept", "thing.after"]


def test_a_savepoint_rolled_back_by_a_failed_flush_keeps_the_audit_rows_staged_before_it(
    db: Database,
) -> None:
    with db.session() as s:
        s.add(Item(kind="ticket", source="api", external_id="T-1", payload={}))
        s.flush()
    with db.session() as s:
        audit(s, "olivia", "thing.done", "thing", "1", {"n": 1})
        with pytest.raises(IntegrityError), s.begin_nested():
            audit(s, "olivia", "thing.tried", "thing", "2", {"n": 2})
            s.add(Item(kind="ticket", source="api", external_id="T-1", payload={}))
            s.flush()  # the key is taken: SQLAlchemy rolls back the savepoint
        audit(s, "olivia", "thing.after", "thing", "3", {"n": 3})
    with db.read() as s:
        events = s.execute(select(AuditEntry.event).order_by(AuditEntry.id)).scalars().all()
    assert events == ["thing.done", "thing.after"]
