"""PostgreSQL sends a notice when a run is queued, and only then: created queued (unless its
creator advances it at once), or set back to queued (an approval, a retry, a requeue), each
delivered once its transaction commits. (SQLite has no such signal: its workers watch the
commit counter instead, tests/store/test_sqlite_watch.py.)"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import pytest
from sqlalchemy import update

from app.store.db import Database
from app.store.signals import CHANNEL, RUNS_SCHEMA, libpq_url, listen_for_queued
from app.store.tables import Run


def _notices(conn: psycopg.Connection) -> int:
    """Notices about runs in this connection's schema (other tests may share the server)."""
    ours = conn.execute(RUNS_SCHEMA).fetchone()
    return sum(1 for n in conn.notifies(timeout=0.3) if ours and n.payload == ours[0])


def test_a_notice_comes_when_a_run_is_queued_and_committed(postgres_db: Database) -> None:
    db = postgres_db
    with psycopg.connect(libpq_url(db.url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with db.session() as s:
            run = Run(kind="t", input={})
            s.add(run)
            s.flush()
            run_id = run.id
            s.connection().exec_driver_sql("SELECT 1")
            assert _notices(listener) == 0  # not before the commit
        assert _notices(listener) == 1
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="running"))
        assert _notices(listener) == 0  # a claim is no news to the other workers
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="queued"))
        assert _notices(listener) == 1
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="failed"))
            s.execute(update(Run).where(Run.id == run_id).values(status="queued"))
            s.rollback()
        assert _notices(listener) == 0  # nothing from a unit of work that did not commit


def test_a_run_its_creator_advances_at_once_is_announced_only_when_queued_again(
    postgres_db: Database,
) -> None:
    """A chat turn is advanced by the API that took it: a worker woken at its creation would race
    the API for it (and a turn advanced elsewhere streams no live text). Queued again after an
    approval, it is every worker's business."""
    db = postgres_db
    with psycopg.connect(libpq_url(db.url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with db.session() as s:
            run = Run(kind="chat", input={})
            s.add(run)
            s.flush()
            run_id = run.id
        assert _notices(listener) == 0
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="waiting_approval"))
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="queued"))
        assert _notices(listener) == 1


async def test_a_listener_wakes_for_its_own_schemas_runs_only(postgres_db: Database) -> None:
    """Channels belong to the whole database: a deployment in another schema of it (or another
    test) queues runs this one's workers have no business waking for."""
    db = postgres_db
    woken = asyncio.Event()
    listening = asyncio.create_task(listen_for_queued(db.url, woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # connected: it wakes once for what it missed
        woken.clear()
        with psycopg.connect(libpq_url(db.url), autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "another_schema"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(woken.wait(), 0.5)
            with db.session() as s:
                s.add(Run(kind="t", input={}))
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
