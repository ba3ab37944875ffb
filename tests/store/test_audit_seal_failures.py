"""PostgreSQL: a transaction whose audit seal fails (the chain's lock not had in time, the
connection lost) is undone whole, its rows are never sealed by a later commit, and the
connection goes on serving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app.services import audit as audit_service
from app.store import audit_chain
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry, Run


def _runs(db: Database) -> int:
    with db.reading() as conn:
        return int(conn.scalar(select(func.count()).select_from(Run)) or 0)


@pytest.fixture
def chain_locked(postgres_db: Database) -> Iterator[None]:
    """The chain's lock, held by another connection (another worker sealing its rows)."""
    holder = create_engine(postgres_db.url, poolclass=NullPool)
    with holder.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": audit_chain._PG_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": audit_chain._PG_LOCK})
    holder.dispose()


def test_a_seal_that_fails_undoes_the_whole_transaction(postgres_db: Database, chain_locked: None) -> None:
    db = postgres_db
    with pytest.raises(OperationalError, match="lock timeout"), db.transaction() as work:
        work.connection().execute(text("SET LOCAL lock_timeout = '50ms'"))
        work.connection().execute(
            insert(Run.__table__), {"id": "r1", "kind": "t", "status": "queued", "input": {}}
        )
        audit(work, "ann", "test.event", "run", "r1", {})
    assert _runs(db) == 0
    with db.reading() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_the_connection_serves_the_next_transaction_after_a_failed_seal(
    postgres_db: Database, chain_locked: None
) -> None:
    db = Database(postgres_db.url, pool_size=1)  # one connection: the next unit gets the same one
    try:
        with pytest.raises(OperationalError), db.transaction() as work:
            work.connection().execute(text("SET LOCAL lock_timeout = '50ms'"))
            audit(work, "ann", "test.event", "run", "r1", {})
        with db.transaction() as work:
            work.connection().execute(
                insert(Run.__table__), {"id": "r2", "kind": "t", "status": "queued", "input": {}}
            )
        assert _runs(db) == 1
    finally:
        db.dispose()


def test_a_connection_lost_at_the_seal_is_reported_invalidated_and_replaced(postgres_db: Database) -> None:
    db = postgres_db
    admin = create_engine(db.url, poolclass=NullPool)  # as a server restart or failover would
    with pytest.raises(OperationalError) as lost, db.transaction() as work:
        work.connection().execute(
            insert(Run.__table__), {"id": "r1", "kind": "t", "status": "queued", "input": {}}
        )
        audit(work, "ann", "test.event", "run", "r1", {})
        pid = work.connection().scalar(text("SELECT pg_backend_pid()"))
        with admin.begin() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    assert lost.value.connection_invalidated  # a passing fault: the run is tried again
    assert _runs(db) == 0
    with db.transaction() as work:
        audit(work, "ann", "test.event", "run", "r2", {})
    assert audit_service.verify(db).rows == 1


def test_rows_of_a_failed_commit_are_not_sealed_by_the_next_one(postgres_db: Database) -> None:
    """A unit of work that goes on after a commit failed (`commit(then_begin=True)`) leaves the
    failed transaction's rows out of the chain, as a Session forgets them on rollback."""
    from app.store.db import Work

    db = postgres_db
    holder = create_engine(db.url, poolclass=NullPool)
    with db.engine.connect() as conn:
        work = Work(conn, postgres=True)
        work.begin()
        audit(work, "ann", "warm", None, None, {})
        work.commit(then_begin=True)
        with holder.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": audit_chain._PG_LOCK})
            conn.execute(text("SET LOCAL lock_timeout = '50ms'"))
            audit(work, "ann", "rolled-back", None, None, {})
            with pytest.raises(OperationalError):
                work.commit(then_begin=True)
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": audit_chain._PG_LOCK})
        audit(work, "ann", "kept", None, None, {})
        work.commit(then_begin=False)
    holder.dispose()
    with db.reading() as c:
        events = c.scalars(select(AuditEntry.event).order_by(AuditEntry.chain_seq)).all()
    assert events == ["warm", "kept"]
