"""Month-end reconciliations as the UI lists and starts them: runs of a `reconciliation` record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.services import intake, views
from app.services.auth import Principal
from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.tables import Run

SCAN = 500  # recent record runs looked through for reconciliations


def default_period(today: datetime | None = None) -> str:
    """The month before today: the one a finance team closes now."""
    last = (today or datetime.now(UTC)).date().replace(day=1) - timedelta(days=1)
    return f"{last:%Y-%m}"


PERIOD_FORMS = "a month (YYYY-MM) or FROM..TO dates (YYYY-MM-DD..YYYY-MM-DD)"
MAX_DAYS = 92


def normalize_period(text: str) -> str:
    """'2026-11' or '2026-11-01..2026-11-15', checked; ValueError says what is wrong."""
    text = (text or "").strip()
    if ".." in text:
        try:
            first, last = (date.fromisoformat(x.strip()) for x in text.split("..", 1))
        except ValueError:
            raise ValueError(f"must be {PERIOD_FORMS}") from None
        if last < first:
            raise ValueError("the period ends before it starts")
        if (last - first).days > MAX_DAYS:
            raise ValueError(f"a period is at most {MAX_DAYS} days")
        return f"{first.isoformat()}..{last.isoformat()}"
    try:
        date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ValueError(f"must be {PERIOD_FORMS}") from None
    if len(text) != 7:
        raise ValueError(f"must be {PERIOD_FORMS}")
    return text


def start(db: Database, period: str, who: Principal) -> str:
    """Queue a reconciliation of `period`; returns the run id."""
    try:
        period = normalize_period(period)
    except ValueError as exc:
        raise Invalid(f"period {exc!s}", field="period") from None
    run_id, _ = intake.submit(
        db,
        kind="record",
        run_kind="record",
        payload={"kind": "reconciliation", "period": period},
        source="ui",
        actor=who.name,
    )
    return run_id


def recent(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest reconciliation runs, newest first, with what each found."""
    with db.session() as s:
        rows = s.execute(
            select(Run.id, Run.status, Run.input, Run.draft, Run.created_at, Run.created_by)
            .where(Run.kind == "record")
            .order_by(Run.created_at.desc())
            .limit(SCAN)
        ).all()
    out = []
    for run_id, status, data, draft, created_at, created_by in rows:
        record = (data or {}).get("record") or {}
        if record.get("kind") != "reconciliation":
            continue
        report = draft or {}
        out.append(
            {
                "id": run_id,
                "period": record.get("period"),
                "status": status,
                "created_at": created_at,
                "created_by": created_by,
                "differences": len(report.get("differences") or []),
                "proposals": len(report.get("proposals") or []),
            }
        )
        if len(out) >= limit:
            break
    return out


def report(db: Database, run_id: str) -> dict[str, Any]:
    """One reconciliation run: its report and, for each proposed entry, the action that carries it."""
    run = views.run_view(db, run_id)
    record = ((run.get("input") or {}).get("record")) or {}
    if record.get("kind") != "reconciliation":
        raise NotFound(f"run {run_id} is not a reconciliation")
    draft = run.get("draft") or {}
    actions = {
        (a["arguments"] or {}).get("memo"): a
        for a in run["actions"]
        if a["operation"] == "post_journal_entry"
    }
    proposals = [{**p, "action": actions.get(p.get("memo"))} for p in draft.get("proposals") or []]
    return {"run": run, "period": record.get("period"), "report": draft, "proposals": proposals}
