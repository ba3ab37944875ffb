"""Every SQLite unit of work begins as it must: writers take the write lock at once, readers don't.

The database begins SQLite's transactions itself (the driver runs in autocommit): a write unit
(a Session's, a plain transaction, and the transaction a mid-way commit goes on in) with BEGIN
IMMEDIATE, so two processes cannot both read and then write the same row; a read with a
deferred BEGIN, which under WAL never waits for a writer and never blocks one. A Session's
savepoint (`begin_nested`, which fires the Session's "after_begin" hook too) is a SAVEPOINT inside
the transaction begun, not a second BEGIN (SQLite would refuse it).
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from sqlalchemy import text

from app.store.db import Database


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


def _write_lock_taken(path: str) -> bool:
    """Whether another process's writer would find the write lock held right now."""
    with contextlib.closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        other.execute("ROLLBACK")
        return False


def _path(db: Database) -> str:
    return db.url.removeprefix("sqlite:///")


def test_a_session_takes_the_write_lock_when_it_begins(db: Database) -> None:
    with db.session() as s:
        s.execute(text("SELECT 1"))
        assert _write_lock_taken(_path(db))
    assert not _write_lock_taken(_path(db))


def test_a_transaction_takes_it_at_once_and_again_after_a_commit_midway(db: Database) -> None:
    with db.transaction() as work:
        assert _write_lock_taken(_path(db))
        work.commit()
        assert work.conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        assert _write_lock_taken(_path(db))
    assert not _write_lock_taken(_path(db))


def test_a_session_committed_midway_begins_its_next_transaction_immediate(db: Database) -> None:
    with db.session() as s:
        s.execute(text("SELECT 1"))
        s.commit()
        assert not _write_lock_taken(_path(db))
        s.execute(text("SELECT 1"))
        assert _write_lock_taken(_path(db))


def test_a_read_begins_a_transaction_without_the_write_lock(db: Database) -> None:
    with db.read() as s:
        conn = s.connection()
        conn.execute(text("SELECT count(*) FROM runs"))
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        assert not _write_lock_taken(_path(db))
    with db.reading() as c:
        c.execute(text("SELECT count(*) FROM runs"))
        assert c.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        assert not _write_lock_taken(_path(db))


def test_a_savepoint_inside_a_begun_session_works(db: Database) -> None:
    with db.session() as s:
        s.execute(text("SELECT 1"))
        with s.begin_nested():
            s.execute(text("SELECT 1"))


def test_a_savepoint_as_a_sessions_first_statement_works(db: Database) -> None:
    with db.session() as s, s.begin_nested():
        s.execute(text("SELECT 1"))


def test_a_rolled_back_savepoint_keeps_the_outer_work(db: Database) -> None:
    with db.session() as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        s.execute(text("INSERT INTO t VALUES (1)"))
        nested = s.begin_nested()
        s.execute(text("INSERT INTO t VALUES (2)"))
        nested.rollback()
    with db.read() as s:
        assert s.execute(text("SELECT x FROM t")).scalars().all() == [1]
