"""What `/metrics` reads from the database at scrape time, as plain figures.

A handful of aggregate queries whose cost does not grow with the rows they count
beyond an index scan: runs by status, the queue and its oldest runnable run, pending
approvals and the oldest, credentials' expiry. The API layer only sets gauges from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.services import dashboard
from app.store.db import Database
from app.store.tables import Action, Connection, Run, utcnow


@dataclass
class Scrape:
    runs: list[tuple[str, str, int]]
    actions: dict[str, int]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    queue_ready: int = 0
    queue_waiting: int = 0
    queue_age: float = 0.0
    approvals_pending: int = 0
    approvals_age: float = 0.0
    # connection name → seconds until its credential expires (negative: expired)
    credential_expiry: dict[str, float] = field(default_factory=dict)
    # connection name → 1 healthy / 0 failing, for connections that were checked
    connection_up: dict[str, int] = field(default_factory=dict)


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def scrape(db: Database) -> Scrape:
    totals = dashboard.run_totals(db)
    out = Scrape(
        runs=list(totals["runs"]),
        actions=dashboard.actions_by_status(db),
        input_tokens=totals["input_tokens"],
        output_tokens=totals["output_tokens"],
        cost_usd=totals["cost_usd"],
    )
    now = utcnow()
    with db.read() as s:
        _queue(s, now, out)
        pending, oldest = s.execute(
            select(func.count(), func.min(Action.created_at)).where(Action.status == "pending")
        ).one()
        out.approvals_pending, out.approvals_age = pending, _age(now, oldest)
        _connections(s, now, out)
    return out


def _queue(s: Session, now: datetime, out: Scrape) -> None:
    runnable = or_(Run.not_before.is_(None), Run.not_before <= now)
    # A run that waited out a backoff has waited in the queue since its not_before.
    since = case(
        (and_(Run.not_before.is_not(None), Run.not_before > Run.updated_at), Run.not_before),
        else_=Run.updated_at,
    )
    ready, waiting, oldest = s.execute(
        select(
            func.count(case((runnable, 1))),
            func.count(case((~runnable, 1))),
            func.min(case((runnable, since))),
        ).where(Run.status == "queued")
    ).one()
    out.queue_ready, out.queue_waiting, out.queue_age = ready, waiting, _age(now, oldest)


def _connections(s: Session, now: datetime, out: Scrape) -> None:
    rows = s.execute(select(Connection.name, Connection.status, Connection.token_expires_at))
    for name, status, expires in rows:
        if expires is not None:
            out.credential_expiry[name] = (expires - now).total_seconds()
        if status in ("ok", "error"):
            out.connection_up[name] = 1 if status == "ok" else 0
