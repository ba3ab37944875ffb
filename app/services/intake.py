"""Tickets and records coming in: stored as items, each with a queued run.

Intake is idempotent on (source, external_id): a system that delivers the
same ticket twice gets the first run back, not a second triage.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Item, Run

# Items that are themselves a person's request for a write. Any other ticket, record or event
# that a system delivers asks for nothing by itself, so whoever submitted it may approve what
# the agent proposes; the gate applies four eyes to every other run (see RunContext).
REQUESTS = frozenset({("record", "refund")})


def delivered(kind: str, payload: dict[str, Any]) -> bool:
    return (kind, payload.get("kind")) not in REQUESTS


def submit(
    db: Database, *, kind: str, run_kind: str, payload: dict[str, Any], source: str, actor: str
) -> tuple[str, bool]:
    """Returns (run id, created). created is False when the item was already known."""
    external_id = payload.get("external_id")
    external_id = str(external_id) if external_id is not None else None
    if external_id is not None:
        existing = _existing_run(db, kind, source, external_id)
        if existing:
            return existing, False
    try:
        with db.session() as s:
            item = Item(kind=kind, source=source, external_id=external_id, payload=payload)
            s.add(item)
            s.flush()
            run = Run(
                kind=run_kind,
                item_id=item.id,
                input={kind: payload, "delivered": delivered(kind, payload)},
                created_by=actor,
                status="queued",
            )
            s.add(run)
            s.flush()
            audit(
                s,
                actor,
                f"{kind}.received",
                "run",
                run.id,
                {"item_id": item.id, "external_id": external_id, "source": source},
            )
            return run.id, True
    except IntegrityError:  # a concurrent delivery of the same item won the race
        existing = _existing_run(db, kind, source, external_id or "")
        if existing:
            return existing, False
        raise


def _existing_run(db: Database, kind: str, source: str, external_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(
            select(Run.id)
            .join(Item, Run.item_id == Item.id)
            .where(Item.kind == kind, Item.source == source, Item.external_id == external_id)
            .order_by(Run.created_at)
            .limit(1)
        )
