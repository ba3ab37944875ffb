"""PostgreSQL: a read-only unit runs in autocommit (no BEGIN and ROLLBACK around its query) and a
pooled connection is pinged only when it has been idle a while, yet a write unit is still all or
nothing and a connection that died while idle is replaced before anyone uses it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from app.store import db as db_module
from app.store.db import Database
from app.store.tables import Run


def _pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    ping = database.engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        seen.append(dbapi_conn)
        return ping(dbapi_conn)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    return seen


def test_reads_are_autocommit_and_writes_stay_all_or_nothing(postgres_db: Database) -> None:
    db = postgres_db
    with db.reading() as conn:
        assert conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        assert conn.scalar(text("SELECT now() = statement_timestamp()"))  # no transaction open
    with db.read() as s:
        assert s.connection().connection.dbapi_connection.autocommit  # type: ignore[union-attr]
    # The same pooled connection, handed to a writer next, is back in a transaction.
    with pytest.raises(RuntimeError), db.transaction() as w:
        assert not w.connection().connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        w.connection().execute(Run.__table__.insert(), {"id": "r1", "kind": "t", "status": "queued"})
        raise RuntimeError("boom")
    with db.reading() as conn:
        assert conn.scalar(select(func.count()).select_from(Run)) == 0


def test_a_connection_just_used_is_not_pinged(postgres_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db = postgres_db
    pings = _pings(db, monkeypatch)
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 60.0)
    for _ in range(5):
        with db.reading() as conn:
            conn.scalar(text("SELECT 1"))
    assert pings == []


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = postgres_db
    pings = _pings(db, monkeypatch)
    with db.reading() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    admin = create_engine(db.url, poolclass=NullPool)  # as a server restart would
    with admin.begin() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 0.0)  # as if it had idled a while
    with db.reading() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
    assert pings, "the idle connection was not checked"


def test_a_claim_never_waits_for_the_audit_chain(postgres_db: Database) -> None:
    """The chain's lock serialises every transaction that writes audit rows, across all workers;
    a claim writes none (the lease names its holder, and the pass's own rows name it as actor), so
    a worker refills a free slot even while another transaction is sealing its rows."""
    from concurrent.futures import ThreadPoolExecutor

    from app.services import intake
    from app.store import audit_chain
    from app.store.runs import SqlRunStore
    from app.store.tables import AuditEntry

    run_id, _ = intake.submit(
        postgres_db,
        kind="ticket",
        run_kind="triage",
        payload={"subject": "s", "body": "b"},
        source="api",
        actor="a",
    )
    store = SqlRunStore(postgres_db)
    with postgres_db.engine.connect() as sealer, ThreadPoolExecutor(1) as pool:
        sealer.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit_chain._PG_LOCK})
        claim = pool.submit(store.claim, "w1/1", 60)
        try:
            claimed_id = claim.result(timeout=10)
        finally:
            sealer.rollback()  # lets a claim that did wait finish, so the pool can close
    assert claimed_id == run_id
    with postgres_db.read() as s:
        assert s.scalar(select(Run.lease_owner).where(Run.id == run_id)) == "w1/1"
        rows = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event == "run.claimed"))
    assert rows == 0
