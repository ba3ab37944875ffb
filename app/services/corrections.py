"""People's corrections to a classification: kept, audited, and learned from.

The triage pipeline hands recent corrections to the model as labelled
examples; the local engine trains on them (weighted above its shipped data),
so the next similar ticket gets the corrected category.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from app.services.auth import Principal
from app.services.errors import Conflict, Invalid, NotFound
from app.store.db import Database
from app.store.direct import execute, prepared
from app.store.runs import audit
from app.store.tables import Correction, Run


def correct_category(
    db: Database, run_id: str, category: str, who: Principal, categories: list[str]
) -> dict[str, Any]:
    if category not in categories:
        raise Invalid(f"category must be one of {', '.join(categories)}", field="category")
    with db.session() as s:
        run = s.scalars(select(Run).where(Run.id == run_id).with_for_update()).one_or_none()
        if run is None:
            raise NotFound(f"no run {run_id}")
        if run.kind != "triage" or not run.classification:
            raise Conflict(f"run {run_id} has no ticket classification to correct")
        ticket = run.input.get("ticket", {})
        text = f"{ticket.get('subject', '')}\n{ticket.get('body', '')}".strip()
        before = run.classification.get("category")
        run.classification = {
            **run.classification,
            "category": category,
            "corrected_from": before,
            "corrected_by": who.name,
        }
        s.add(
            Correction(kind="ticket", text=text, field="category", value=category, run_id=run_id, by=who.name)
        )
        audit(s, who.name, "classification.corrected", "run", run_id, {"from": before, "to": category})
        return dict(run.classification)


def recent_examples(db: Database, limit: int = 200) -> list[dict[str, str]]:
    """The latest category corrections as labelled examples for the triage model, newest first."""
    with db.reading() as c:
        rows = execute(c, _CATEGORY_FIXES, {"limit": limit})
        return [{"text": text, "category": value} for text, value in rows]


# Read on every triage's first pass: built once on the table, a plain Core statement the driver
# can be given (app.store.direct).
_CORRECTIONS = cast(Table, Correction.__table__)
_CATEGORY_FIXES = prepared(
    select(_CORRECTIONS.c.text, _CORRECTIONS.c.value)
    .where(_CORRECTIONS.c.field == "category")
    .order_by(_CORRECTIONS.c.created_at.desc())
    .limit(bindparam("limit"))
)
