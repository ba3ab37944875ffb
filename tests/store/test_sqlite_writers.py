"""SQLite's writers in one process take turns in the process, not in SQLite's busy handler.

SQLite-only by nature: PostgreSQL has no single writer (its races are in the contract tests)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from app.store import db as db_module
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry


def _impatient(path: Path) -> Database:
    """A database whose connections give up at once on a locked database: any two writers of
    this process that meet in SQLite fail ('database is locked') instead of waiting there."""
    database = Database(f"sqlite:///{path}")
    database.upgrade()

    @event.listens_for(database.engine, "connect")
    def _no_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    database.engine.dispose()  # connections opened from here on give up at once
    return database


def _write_from_threads(database: Database, threads: int, each: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        start.wait()
        for k in range(each):
            try:
                with database.session() as s:
                    audit(s, f"writer-{n}", "test.write", "test", f"{n}-{k}", {"k": k})
            except Exception as exc:
                errors.append(exc)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_concurrent_writers_of_one_process_never_meet_in_sqlite(tmp_path: Path) -> None:
    database = _impatient(tmp_path / "w.db")
    errors = _write_from_threads(database, threads=8, each=40)
    assert errors == []
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 8 * 40
    database.dispose()


def test_without_the_turns_the_same_writers_meet_in_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above shows the turns at work: with them off, the same load hits the lock."""
    database = _impatient(tmp_path / "w.db")
    monkeypatch.setattr(database, "_writers", None)
    errors = _write_from_threads(database, threads=8, each=40)
    assert errors and all("database is locked" in str(e) for e in errors)
    database.dispose()


def test_a_writer_kept_waiting_too_long_goes_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn held past the wait (by code that never commits, say) does not stall the others for
    good: they go ahead and SQLite decides, as it would with no turns at all."""
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 0.05)
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    assert database._writers is not None
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with database._writers.turn():  # holds the turn, not SQLite's lock
            held.set()
            done.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(10)
    try:
        with database.session() as s:
            audit(s, "pat", "test.write", "test", "1", {})
        with database.read() as s:
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == 1
    finally:
        done.set()
        t.join()
        database.dispose()


def test_a_unit_of_work_opened_inside_another_on_one_thread_takes_its_turn_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns are per thread: a unit of work opened inside another (before the outer one has
    written) runs at once, as it did with no turns, rather than waiting for its own thread."""
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 60.0)
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()

    def nested() -> None:
        with database.session() as outer:
            with database.session() as inner:
                audit(inner, "pat", "test.inner", "test", "1", {})
            audit(outer, "pat", "test.outer", "test", "2", {})

    t = threading.Thread(target=nested, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "the inner unit of work waited for its own thread's turn"
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 2
    database.dispose()
