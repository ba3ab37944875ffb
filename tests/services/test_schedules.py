"""Scheduled workflows run from the database: one run per slot, however many worker
processes tick at once (SQLite and PostgreSQL), in the schedule's own time zone."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.services.schedules import next_slot, tick
from app.store.db import Database
from app.store.tables import Item, Run, Workflow

SPEC = {
    "name": "Daily count",
    "trigger": {"schedule": {"at": "08:00", "timezone": "UTC"}},
    "steps": [{"tool": "helpdesk__search_tickets", "arguments": {"query": "priority:urgent"}}],
}


def _tick_in_a_process(url: str, now: str, start_at: float) -> list[str]:
    time.sleep(max(0.0, start_at - time.time()))  # all processes tick at the same moment
    db = Database(url)
    try:
        return tick(db, datetime.fromisoformat(now))
    finally:
        db.dispose()


def test_next_slot_in_the_schedules_time_zone() -> None:
    monday_7 = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert next_slot(SPEC["trigger"], monday_7) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert next_slot(SPEC["trigger"], monday_7.replace(hour=8)) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    berlin = {"schedule": {"at": "08:00", "timezone": "Europe/Berlin"}}
    assert next_slot(berlin, monday_7) == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # 08:00 CET is 07:00 UTC
    weekdays = {"schedule": {"at": "09:00", "days": "weekdays"}}
    friday_10 = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    assert next_slot(weekdays, friday_10) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC)  # Monday


def test_one_run_per_slot_with_many_worker_processes(db: Database, db_url: str) -> None:
    slot = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    with db.session() as s:
        w = Workflow(
            name="Daily count", request="x", spec=SPEC, status="active", schedule_next_at=slot, created_by="o"
        )
        s.add(w)
        s.flush()
        workflow_id = w.id
    now = (slot + timedelta(minutes=1)).isoformat()
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with ctx.Pool(4) as pool:
        started = pool.starmap(_tick_in_a_process, [(db_url, now, start_at)] * 4)
    assert sum(len(s) for s in started) == 1, started
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Run).where(Run.kind == "workflow")) == 1
        item = s.scalars(select(Item)).one()
        assert item.external_id == f"{workflow_id}:schedule:2026-12-07T08:00Z"
        assert s.get(Workflow, workflow_id).schedule_next_at == slot + timedelta(days=1)
    # a later tick in the same slot starts nothing; the next day's slot starts one more
    assert tick(db, slot + timedelta(minutes=5)) == []
    assert len(tick(db, slot + timedelta(days=1, minutes=1))) == 1


def test_paused_and_missed_slots(db: Database) -> None:
    slot = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    with db.session() as s:
        s.add(
            Workflow(name="p", request="x", spec=SPEC, status="paused", schedule_next_at=slot, created_by="o")
        )
        s.add(
            Workflow(name="a", request="x", spec=SPEC, status="active", schedule_next_at=slot, created_by="o")
        )
    # every worker was down for three days: one run when one comes back, not three
    started = tick(db, slot + timedelta(days=3, hours=1))
    assert len(started) == 1
    with db.session() as s:
        active = s.scalars(select(Workflow).where(Workflow.status == "active")).one()
        assert active.schedule_next_at == slot + timedelta(days=4)
