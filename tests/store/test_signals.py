"""PostgreSQL sends a notice when a run is queued, and only then: created queued (unless its
creator advances it at once), or set back to queued (an approval, a retry, a requeue), each
delivered once its transaction commits. (SQLite
has no such signal: its workers poll, tests/agent/test_worker.py.)"""

from __future__ import annotations

import psycopg
from sqlalchemy import update

from app.store.db import Database
from app.store.signals import CHANNEL, libpq_url
from app.store.tables import Run


def _notices(conn: psycopg.Connection) -> int:
    return sum(1 for _ in conn.notifies(timeout=0.3))


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
