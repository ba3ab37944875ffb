"""Workflows that run at a time of day, from the database, once per slot.

An active scheduled workflow holds its next slot (`schedule_next_at`, UTC). Any number
of workers tick: a worker takes a due slot by moving it on with a compare-and-set (only
one update can match the old value), then starts the run with the slot as its event id,
which intake also keeps unique. So each slot runs once however many workers tick, and a
slot missed while every worker was down runs once when one comes back (not once per
missed day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update

from app.store.db import Database
from app.store.tables import Workflow

log = logging.getLogger("switchboard.schedules")


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def next_slot(trigger: dict[str, Any], after: datetime) -> datetime:
    """The first slot strictly after `after` (UTC), in the schedule's own time zone."""
    schedule = trigger["schedule"]
    zone = ZoneInfo(schedule.get("timezone") or "UTC")
    hour, minute = (int(p) for p in schedule["at"].split(":"))
    local = after.astimezone(zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while candidate <= local or (schedule.get("days") == "weekdays" and candidate.weekday() >= 5):
        candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
    return candidate.astimezone(UTC)


def tick(db: Database, now: datetime | None = None) -> list[str]:
    """Start the runs of every slot due by `now`; returns the run ids this caller started."""
    from app.services.workflows import start  # workflows imports this module

    now = (now or datetime.now(UTC)).astimezone(UTC)
    with db.session() as s:
        due = [
            (w.id, w.spec, w.schedule_next_at)
            for w in s.scalars(
                select(Workflow).where(Workflow.status == "active", Workflow.schedule_next_at <= now)
            )
        ]
    started = []
    for workflow_id, spec, slot in due:
        assert slot is not None
        following = next_slot(spec["trigger"], max(now, slot))
        with db.session() as s:
            res = s.execute(
                update(Workflow)
                .where(
                    Workflow.id == workflow_id, Workflow.schedule_next_at == slot, Workflow.status == "active"
                )
                .values(schedule_next_at=following)
            )
            taken = res.rowcount  # type: ignore[attr-defined]
        if taken != 1:
            continue  # another worker took this slot
        slot_id = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        event = {
            "slot": slot_id,
            "scheduled_at": slot.astimezone(UTC).isoformat(),
            "started_at": now.isoformat(),
        }
        started.append(start(db, workflow_id, spec, event, f"schedule:{slot_id}"))
    return started


async def loop(
    db: Database,
    stop: asyncio.Event,
    *,
    every: float = 20.0,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Tick until stopped; `on_started` (wake the workers) is told when runs were started."""
    while not stop.is_set():
        try:
            if await asyncio.to_thread(tick, db) and on_started is not None:
                on_started()
        except Exception:
            log.exception("schedule tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
