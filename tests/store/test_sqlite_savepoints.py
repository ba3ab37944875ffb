"""A Session's savepoint (`begin_nested`) works on SQLite, inside the write lock.

A Session begins SQLite's transaction from its "after_begin" hook, which SQLAlchemy also fires
for a nested (SAVEPOINT) transaction, with the connection already in its transaction: only the
outermost begins SQLite's (a second BEGIN IMMEDIATE would be refused, "cannot start a
transaction within a transaction"); a savepoint is SQLAlchemy's SAVEPOINT inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'savepoints.db'}")
    database.upgrade()
    yield database
    database.dispose()


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
