"""SQLite's writers in one process take turns in the process, not in SQLite's busy handler.

SQLite-only by nature: PostgreSQL has no single writer (its races are in the contract tests)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from app.store import db as db_module
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry


def _pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause a write made because SQLite's lock was taken (a writer met another there)."""
    pauses: list[float] = []
    real = db_module._pause

    def noted(seconds: float) -> None:
        pauses.append(seconds)
        real(seconds)

    monkeypatch.setattr(db_module, "_pause", noted)
    return pauses


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


def _count(database: Database) -> int:
    with database.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _busy_timeout(database: Database) -> int:
    with database.engine.connect() as c:
        return int(c.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)


def test_concurrent_writers_of_one_process_never_meet_in_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = _pauses(monkeypatch)
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    assert _write_from_threads(database, threads=8, each=40) == []
    assert _count(database) == 8 * 40 and pauses == []
    database.dispose()


def test_writers_that_meet_in_sqlite_poll_its_lock_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of separate processes (here: turns off) meet in SQLite; they poll its lock every
    few milliseconds rather than in SQLite's busy handler (up to 100 ms a sleep), and all land."""
    pauses = _pauses(monkeypatch)
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    monkeypatch.setattr(database, "_writers", None)
    assert _write_from_threads(database, threads=8, each=40) == []
    assert _count(database) == 8 * 40
    assert pauses and max(pauses) <= db_module._POLL_MOST
    assert _busy_timeout(database) == db_module.BUSY_TIMEOUT_MS  # SQLite's wait is back for the rest
    database.dispose()


def test_a_lock_held_past_the_polling_fails_as_sqlite_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past BUSY_POLL_SECONDS SQLite's own wait takes over, and its error is the usual one
    (a DBAPIError the run store treats as passing); nothing is written."""
    monkeypatch.setattr(db_module, "BUSY_POLL_SECONDS", 0.05)
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "w.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, in effect
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"), database.session() as s:
            audit(s, "pat", "test.write", "test", "1", {})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _count(database) == 0
    assert _busy_timeout(database) == 50  # the connection waits in SQLite again, as configured
    with database.session() as s:  # and the lock, once free, is taken as usual
        audit(s, "pat", "test.write", "test", "2", {})
    assert _count(database) == 1
    database.dispose()


def test_a_writer_kept_waiting_too_long_goes_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn held past the wait (by code that never commits, say) does not stall the others for
    good: they go ahead and SQLite decides, as it would with no turns at all."""
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 0.05)
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    assert database._writers is not None
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with database._writers.turn():  # holds the turn, not SQLite's lock, until told
            held.set()
            release.wait()

    def writer() -> None:
        with database.session() as s:
            audit(s, "pat", "test.write", "test", "1", {})

    holding = threading.Thread(target=holder, daemon=True)
    holding.start()
    held.wait(10)
    writing = threading.Thread(target=writer, daemon=True)
    writing.start()
    writing.join(10)
    try:
        assert not writing.is_alive(), "the writer waited for a turn that was never given up"
        assert _count(database) == 1
    finally:
        release.set()
        holding.join(10)
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
    assert _count(database) == 2
    database.dispose()


def test_an_error_other_than_a_busy_lock_is_raised_by_sqlalchemy_wrapped(tmp_path: Path) -> None:
    """A broken connection's error comes out of SQLAlchemy's own BEGIN (a DBAPIError, which the
    run store can recognise as passing), not raw from the polling."""
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    with database.engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        raw.close()  # as a connection the database dropped
        with pytest.raises(DBAPIError, match="closed database"):
            db_module._begin_immediate(c)
        c.invalidate()
    database.dispose()


def _writer_waits() -> tuple[float, float]:
    """switchboard_sqlite_writer_wait_seconds so far: (units of work timed, seconds in all)."""
    from app.observability.metrics import REGISTRY

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(f"switchboard_sqlite_writer_wait_seconds_{name}") or 0.0

    return value("count"), value("sum")


def test_each_unit_of_work_records_its_wait_for_the_writer_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the turn's clock read between asking for the turn and getting it is kept, once per
    unit of work (a plain transaction and a session alike)."""
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    ticks = iter([10.0, 10.25, 20.0, 20.5])
    monkeypatch.setattr(db_module, "_clock", lambda: next(ticks))
    count, total = _writer_waits()
    with database.transaction() as work:
        audit(work, "writer", "test.write", "test", "1", {})
    with database.session() as s:
        audit(s, "writer", "test.write", "test", "2", {})
    assert _writer_waits() == (count + 2, pytest.approx(total + 0.75))
    assert _count(database) == 2
