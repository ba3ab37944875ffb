"""What Switchboard itself has booked or is about to: money writes of other runs, live or done.

A duplicate check that looks only at the ERP misses what is waiting in the approval queue and
what was approved a minute ago, so the finance pipeline also reads Switchboard's own journal
entries, refunds and vendor creations: pending, approved, executing and succeeded ones (a
rejected, expired or failed action wrote nothing). Each comes with the record its run was about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.store.db import Database
from app.store.tables import Action, Run

BOOKING_OPERATIONS = ("post_journal_entry", "create_refund", "create_vendor")
NOTHING_WRITTEN = ("rejected", "expired", "failed")
LIMIT = 2000


def own_bookings(
    db: Database, exclude_run: str | None = None, *, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Live and done money writes of other runs, newest first, as plain data (proposed from
    `since` on, when given)."""
    q = (
        select(Action, Run.input)
        .join(Run, Action.run_id == Run.id)
        .where(Action.operation.in_(BOOKING_OPERATIONS), Action.status.not_in(NOTHING_WRITTEN))
    )
    if since is not None:
        q = q.where(Action.created_at >= since)
    with db.session() as s:
        rows = s.execute(q.order_by(Action.created_at.desc()).limit(LIMIT)).all()
        return [
            {
                "action_id": a.id,
                "run_id": a.run_id,
                "operation": a.operation,
                "status": a.status,
                "arguments": a.arguments,
                "record": (run_input or {}).get("record") or {},
                "created_at": a.created_at.isoformat(),
            }
            for a, run_input in rows
            if a.run_id != exclude_run
        ]
