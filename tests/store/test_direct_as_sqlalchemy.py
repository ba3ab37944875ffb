"""A prepared statement run on the driver (app.store.direct) behaves as SQLAlchemy's run of the
same statement on the same connection: its rows, the listeners that see it, the connection's
execution options, and what a lost connection or an interrupted statement leaves behind. Each
test runs the statement both ways and asserts SQLAlchemy's answer for both."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from sqlalchemy import Integer, String, bindparam, column, create_engine, event, func, select, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import app.store.db as db_module
from app.store import direct
from app.store.db import Database
from app.store.runs import _STATUS

_TEXT = direct.prepared(text("SELECT 1 AS one, 'a' AS two"))
_TEXT_COLUMNS = direct.prepared(
    text("SELECT 1 AS one, 'a' AS two").columns(column("one", Integer), column("two", String))
)
_SLEEP = direct.prepared(select(func.pg_sleep(bindparam("s")).label("slept")))


def _run_it(way: str, conn: Any, stmt: Any, params: Any = None) -> Any:
    return direct.execute(conn, stmt, params) if way == "direct" else conn.execute(stmt, params)


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_a_prepared_text_statement_returns_its_rows(db: Database, way: str) -> None:
    """A text() statement's rows are known from the cursor only: it stays with SQLAlchemy, and
    one given its columns runs on the driver; both return their rows."""
    with db.reading() as c:
        for stmt in (_TEXT, _TEXT_COLUMNS):
            assert [tuple(r) for r in _run_it(way, c, stmt).all()] == [(1, "a")]
            assert _run_it(way, c, stmt).scalar() == 1
        on_driver = not isinstance(direct.execute(c, _TEXT_COLUMNS), CursorResult)
        assert isinstance(direct.execute(c, _TEXT), CursorResult) and on_driver


def test_do_execute_listeners_see_prepared_statements(db: Database) -> None:
    """A dialect `do_execute` listener (which may run the statement itself) sees it."""
    seen: list[str] = []

    @event.listens_for(db.engine, "do_execute")
    def _seen(_cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    with db.reading() as c:
        direct.scalar(c, _STATUS, {"run_id": "r1"})
    assert any("runs.status" in s for s in seen), seen


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_a_lost_connection_invalidates_the_pool(
    postgres_db: Database, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended every session (a restart, a failover): the first statement to meet it
    fails as a lost connection and the pool's other connections are replaced too, so the next
    unit of work does not meet a dead one."""
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 3600.0)  # no idle ping to hide it
    db = postgres_db
    admin = create_engine(db.url, poolclass=NullPool)
    with db.reading() as c1:
        with db.reading() as c2:
            pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in (c1, c2)]
        with admin.begin() as a:
            for pid in pids:
                a.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
        with pytest.raises(DBAPIError) as caught:
            (direct.scalar if way == "direct" else type(c1).scalar)(c1, _STATUS, {"run_id": "r1"})
        assert caught.value.connection_invalidated
    admin.dispose()
    with db.reading() as c:
        assert c.execute(_STATUS, {"run_id": "r1"}).scalar() is None


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_an_interrupted_statement_invalidates_its_connection(postgres_db: Database, way: str) -> None:
    """An exit (KeyboardInterrupt, SystemExit) while the driver runs a statement leaves the
    connection in an unknown state: it is invalidated, never returned to the pool as it is."""

    def _interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGALRM, _interrupt)
    try:
        with postgres_db.reading() as c:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt):
                _run_it(way, c, _SLEEP, {"s": 2})
            assert c.invalidated
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


@pytest.mark.parametrize("way", ["sqlalchemy", "direct"])
def test_a_schema_translate_map_is_applied(postgres_db: Database, way: str) -> None:
    """A connection's execution options apply to the statement: with a schema_translate_map to a
    schema that does not exist, the statement fails."""
    with postgres_db.engine.connect() as raw:
        c = raw.execution_options(schema_translate_map={None: "no_such_schema"})
        c.begin()
        with pytest.raises(DBAPIError):
            (direct.scalar if way == "direct" else type(c).scalar)(c, _STATUS, {"run_id": "r1"})
