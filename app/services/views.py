"""The JSON shapes the API and UI show (CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from app.services.auth import Principal
from app.services.bulk import bulk_refusal
from app.services.errors import NotFound
from app.store.db import Database
from app.store.tables import Action, Run, Step


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def action_view(a: Action) -> dict[str, Any]:
    view = _action_fields(a)
    # Whether "Select all low-risk" may take it: low risk and undoable (app/services/bulk.py).
    view["bulk"] = bulk_refusal(view) is None
    return view


def _action_fields(a: Action) -> dict[str, Any]:
    return {
        "id": a.id,
        "run_id": a.run_id,
        "tool": a.tool,
        "connection": a.connection,
        "operation": a.operation,
        "arguments": a.arguments,
        "proposed_arguments": a.proposed_arguments,
        "edited": a.arguments != a.proposed_arguments,
        "risk": a.risk,
        "reasons": list(a.reasons or []),
        "effects": dict(a.effects or {}),
        "provenance": a.provenance,
        "status": a.status,
        "requested_by": a.requested_by,
        "required_approvals": a.required_approvals,
        "approvals": list(a.approvals or []),
        "expires_at": _iso(a.expires_at),
        "decided_by": a.decided_by,
        "decided_at": _iso(a.decided_at),
        "reason": a.reason,
        "result": a.result,
        "error": a.error,
        "attempts": a.attempts,
        "created_at": _iso(a.created_at),
        "executed_at": _iso(a.executed_at),
    }


def step_view(s: Step) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "kind": s.kind,
        "name": s.name,
        "data": s.data,
        "prompt_version": s.prompt_version,
        "model": s.model,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": round(s.cost_usd, 6),
        "latency_ms": s.latency_ms,
        "created_at": _iso(s.created_at),
    }


def visible(run: Run, viewer: Principal | None) -> bool:
    """A chat turn is a person's conversation: only its owner and admins see it. Other runs (tickets,
    records, workflows) are shared work, seen by every signed-in role. No viewer: a trusted caller."""
    if viewer is None or run.kind != "chat" or viewer.can("admin"):
        return True
    return run.created_by == viewer.name


def run_view(db: Database, run_id: str, viewer: Principal | None = None) -> dict[str, Any]:
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None or not visible(run, viewer):
            raise NotFound(f"no run {run_id}")  # someone else's chat is not said to exist
        steps = s.scalars(select(Step).where(Step.run_id == run_id).order_by(Step.seq)).all()
        actions = s.scalars(select(Action).where(Action.run_id == run_id).order_by(Action.created_at)).all()
        return {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "input": run.input,
            "classification": run.classification,
            "draft": run.draft,
            "result": run.result,
            "error": run.error,
            "actions": [action_view(a) for a in actions],
            "steps": [step_view(x) for x in steps],
            "usage": {
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "cost_usd": round(run.cost_usd, 6),
            },
            "attempts": run.attempts,
            "created_at": _iso(run.created_at),
            "updated_at": _iso(run.updated_at),
        }


def list_runs(
    db: Database, *, limit: int = 50, status: str | None = None, viewer: Principal | None = None
) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(Run).order_by(Run.created_at.desc()).limit(limit)
        if status:
            q = q.where(Run.status == status)
        if viewer is not None and not viewer.can("admin"):
            q = q.where(or_(Run.kind != "chat", Run.created_by == viewer.name))
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "classification": r.classification,
                "created_at": _iso(r.created_at),
                "usage": {
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cost_usd": round(r.cost_usd, 6),
                },
            }
            for r in s.scalars(q).all()
        ]
