"""Statements the store sends to the driver directly (sqlite3, psycopg) store and read exactly
what SQLAlchemy stores and reads, fail as SQLAlchemy's errors do, and leave every other case to
SQLAlchemy (statements built per call, connections someone listens to)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from app.store import direct
from app.store.db import Database
from app.store.runs import RUNS

_INSERT_RUN = direct.prepared(insert(RUNS))
_RUN = direct.prepared(select(RUNS).where(RUNS.c.id == bindparam("run_id")))
_SET = direct.prepared(update(RUNS).where(RUNS.c.id == bindparam("_id")))


def _run(run_id: str, **extra: Any) -> dict[str, Any]:
    at = datetime(2026, 12, 5, 10, 30, 0, 120000, tzinfo=UTC)
    return {
        "id": run_id,
        "kind": "triage",
        "status": "queued",
        "item_id": None,
        "input": {"subject": "naïve ✓", "n": [1, None, 2.5], "nested": {"ok": True}},
        "created_by": "ann",
        "attempts": 0,
        "retries": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "created_at": at,
        "updated_at": at,
        **extra,
    }


def _stored(db: Database, run_id: str) -> tuple[Any, ...]:
    """The row as the database holds it (text for SQLite's times and JSON)."""
    with db.engine.connect() as conn:
        cast = "" if db.engine.dialect.name == "sqlite" else "::text"
        return tuple(
            conn.execute(
                text(f"SELECT input{cast}, created_at{cast}, result{cast}, error FROM runs WHERE id = :id"),
                {"id": run_id},
            ).one()
        )


def test_rows_written_and_read_on_the_driver_match_sqlalchemys(db: Database) -> None:
    with db.transaction() as w:
        direct.execute(w.connection(), _INSERT_RUN, [_run("direct-1"), _run("direct-2")])
        w.connection().execute(insert(RUNS), [_run("orm-1")])
    assert _stored(db, "direct-1")[:2] == _stored(db, "orm-1")[:2]
    with db.transaction() as w:
        now = datetime.now(UTC)
        res = direct.execute(
            w.connection(), _SET, {"_id": "direct-1", "result": None, "error": "x", "updated_at": now}
        )
        assert res.rowcount == 1
        w.connection().execute(
            update(RUNS).where(RUNS.c.id == "orm-1").values(result=None, error="x", updated_at=now)
        )
        missing = direct.execute(w.connection(), _SET, {"_id": "nobody", "error": "x", "updated_at": now})
        assert missing.rowcount == 0
    # None in a JSON column is stored as SQLAlchemy stores it (JSON null), not as SQL NULL
    assert _stored(db, "direct-1")[2:] == _stored(db, "orm-1")[2:]
    with db.reading() as c:
        mine = direct.execute(c, _RUN, {"run_id": "direct-1"}).one()
        theirs = c.execute(select(RUNS).where(RUNS.c.id == "orm-1")).one()
        assert mine.input == theirs.input == _run("x")["input"]
        assert mine.created_at == theirs.created_at
        assert {k: v for k, v in mine._mapping.items() if k != "id"} == {
            k: v for k, v in theirs._mapping.items() if k != "id"
        }
        assert direct.scalar(c, _RUN, {"run_id": "nobody"}) is None
        assert direct.execute(c, _RUN, {"run_id": "nobody"}).first() is None
        on_driver = not isinstance(direct.execute(c, _RUN, {"run_id": "direct-1"}), CursorResult)
    assert on_driver


def test_a_constraint_broken_on_the_driver_is_sqlalchemys_integrity_error(db: Database) -> None:
    with db.transaction() as w:
        direct.execute(w.connection(), _INSERT_RUN, [_run("twice")])
    with pytest.raises(IntegrityError), db.transaction() as w:
        direct.execute(w.connection(), _INSERT_RUN, [_run("twice")])
    with db.reading() as c:
        assert len(direct.execute(c, _RUN, {"run_id": "twice"}).all()) == 1


def test_statements_built_per_call_and_watched_connections_are_sqlalchemys(db: Database) -> None:
    with db.transaction() as w:
        direct.execute(w.connection(), _INSERT_RUN, [_run("seen")])
    with db.reading() as c:
        built_now = select(RUNS).where(RUNS.c.id == bindparam("run_id"))
        assert isinstance(direct.execute(c, built_now, {"run_id": "seen"}), CursorResult)
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        with db.reading() as c:
            assert direct.execute(c, _RUN, {"run_id": "seen"}).one().id == "seen"
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
    assert any(s.startswith("SELECT runs.id") for s in seen)
