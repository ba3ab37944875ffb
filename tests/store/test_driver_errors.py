"""Statements sent to the driver directly (app.store.direct, the audit chain's; sqlite3 and
psycopg) fail as SQLAlchemy's would: its error classes, a lost connection said to be lost, a
missing parameter refused rather than bound as NULL. Callers' checks of a passing fault depend
on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError
from sqlalchemy.pool import NullPool

from app.agent.ports import NewStep
from app.store import direct
from app.store.db import Database
from app.store.runs import SqlRunStore, audit
from app.store.tables import Run


def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'review.db'}")
    db.upgrade()
    return db


def _fill_the_disk(db: Database) -> None:
    """From now on the database file cannot grow: SQLite's 'database or disk is full' (SQLITE_FULL),
    as on a full volume. Set on every connection the pool opens."""
    with db.engine.connect() as c:
        pages = int(c.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    db.engine.dispose()

    @event.listens_for(db.engine.pool, "connect")
    def _full(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")


def test_an_audit_row_on_a_full_disk_fails_as_sqlalchemys_operational_error(tmp_path: Path) -> None:
    """A write that cannot be stored is a passing fault (`is_transient`): the orchestrator puts
    the run back in the queue with a backoff rather than failing it for good."""
    db = _database(tmp_path)
    store = SqlRunStore(db)
    store.audit("ann", "first", "run", "r", {"n": 1})
    _fill_the_disk(db)
    with pytest.raises(Exception) as caught:
        store.audit("ann", "big", "run", "r", {"blob": "x" * 200_000})
    assert isinstance(caught.value, OperationalError), type(caught.value)
    assert store.is_transient(caught.value)
    db.dispose()


def test_an_audit_row_of_a_session_on_a_full_disk_fails_as_sqlalchemys_error(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _fill_the_disk(db)
    with pytest.raises(Exception) as caught, db.session() as s:
        audit(s, "ann", "big", "run", "r", {"blob": "x" * 200_000})
    assert isinstance(caught.value, OperationalError), type(caught.value)
    db.dispose()


def test_a_step_whose_data_is_not_json_fails_as_sqlalchemys_statement_error(tmp_path: Path) -> None:
    """A value a column's type cannot bind (here a set, which JSON cannot write) is SQLAlchemy's
    StatementError, naming the statement, as it always was."""
    db = _database(tmp_path)
    store = SqlRunStore(db)
    with db.session() as s:
        s.add(Run(id="r1", kind="test", input={}))
    assert store.claim("w1", 30) == "r1"
    with pytest.raises(StatementError):
        store.append_steps("r1", "w1", [NewStep(kind="note", name="a", data={"ids": {1, 2}})])
    db.dispose()


def test_direct_a_missing_parameter_is_an_error_not_a_null(tmp_path: Path) -> None:
    """A statement run without one of its bound parameters is refused, as Connection.execute
    refuses it ('A value is required for bind parameter'), never run with NULL in its place: a
    claim without `until` would write a lease that lapsed at once."""
    from app.store.runs import _STATUS, _TAKE

    db = _database(tmp_path)
    with db.session() as s:
        s.add(Run(id="r1", kind="test", input={}))
    with db.reading() as c, pytest.raises(StatementError):
        c.execute(_STATUS, {})  # SQLAlchemy's answer, for comparison
    with db.reading() as c, pytest.raises(StatementError):
        direct.scalar(c, _STATUS, {})
    from app.store.tables import utcnow

    now = utcnow()
    with pytest.raises(StatementError), db.transaction() as w:
        direct.execute(w.connection(), _TAKE, {"run_id": "r1", "owner": "w1", "now": now, "updated_at": now})
    with db.reading() as c:
        row = c.execute(select(Run.__table__.c.status, Run.__table__.c.lease_owner)).one()
    assert tuple(row) == ("queued", None)  # nothing taken with a NULL lease
    db.dispose()


def test_direct_a_closed_connection_is_reported_invalidated(db: Database) -> None:
    """A connection found closed is a lost connection (invalidated, a passing fault), as
    SQLAlchemy reports one."""
    from app.store.runs import _STATUS

    store = SqlRunStore(db)
    with db.reading() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        raw.close()
        with pytest.raises(DBAPIError) as caught:
            direct.scalar(c, _STATUS, {"run_id": "r1"})
        c.invalidate()
    assert caught.value.connection_invalidated and store.is_transient(caught.value)


def test_direct_a_connection_the_server_ended_is_reported_invalidated(postgres_db: Database) -> None:
    """PostgreSQL ends a session (a restart, a failover, an administrator): the next statement
    on the driver is a lost connection, invalidated, a passing fault, and the pool's next
    connection works."""
    from app.store.runs import _STATUS

    db, store = postgres_db, SqlRunStore(postgres_db)
    admin = create_engine(db.url, poolclass=NullPool)  # a session of its own, not the pool's
    with db.reading() as c:
        pid = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.begin() as a:
            assert a.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})").scalar()
        with pytest.raises(DBAPIError) as caught:
            direct.scalar(c, _STATUS, {"run_id": "r1"})
        assert c.invalidated
    admin.dispose()
    assert caught.value.connection_invalidated and store.is_transient(caught.value)
    with db.reading() as c:
        assert direct.scalar(c, _STATUS, {"run_id": "r1"}) is None


def _status(way: str, conn: Any, params: dict[str, Any]) -> Any:
    from app.store.runs import _STATUS

    return (
        conn.execute(_STATUS, params).scalar()
        if way == "sqlalchemy"
        else direct.scalar(conn, _STATUS, params)
    )


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_a_missing_parameter_is_the_same_statement_error_both_ways(db: Database, way: str) -> None:
    """The error for a missing bound parameter is SQLAlchemy's own, whichever way the statement
    ran: a StatementError over an InvalidRequestError, with its code and message."""
    with db.reading() as c, pytest.raises(StatementError) as caught:
        _status(way, c, {})
    err = caught.value
    assert type(err) is StatementError and type(err.orig).__name__ == "InvalidRequestError"
    assert err.code == "cd3x"
    assert str(err).startswith(
        "(sqlalchemy.exc.InvalidRequestError) A value is required for bind parameter 'run_id'"
    )


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_driver_errors_reach_handle_error_listeners(db: Database, way: str) -> None:
    """An engine's `handle_error` listener (which may mark an error a lost connection, or replace
    it) sees every driver error, whichever way the statement was run."""
    seen: list[str] = []

    @event.listens_for(db.engine, "handle_error")
    def _saw(ctx: Any) -> None:
        seen.append(type(ctx.original_exception).__name__)

    with db.reading() as c, pytest.raises(DBAPIError):
        _status(way, c, {"run_id": object()})  # the driver cannot bind it: its ProgrammingError
    assert seen == ["ProgrammingError"]
