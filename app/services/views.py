"""The JSON shapes the API and UI show (CONTRACT.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select

from app.services import paging
from app.services.auth import Principal
from app.services.bulk import bulk_refusal
from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.tables import Action, Run, Step


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def arguments_version(arguments: Any) -> str:
    """A fingerprint of a write's arguments as they stand: an approver sends back the version
    they read, so their approval applies to those arguments and to no later edit. 128 bits: an
    approver who could make two argument sets share a version (2**32 tries at 64 bits) could
    edit from one to the other under a second approver's "seen"; at 128 that takes 2**64."""
    body = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


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
        "version": arguments_version(a.arguments),
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


class _ActionSummary:
    """An action as a list shows it: the columns a reader scans and decides by, read without the
    heavy ones (proposed arguments, provenance, facts, result, the approvals so far)."""

    COLUMNS = (
        Action.id,
        Action.run_id,
        Action.tool,
        Action.connection,
        Action.operation,
        Action.arguments,
        Action.risk,
        Action.reasons,
        Action.effects,
        Action.status,
        Action.requested_by,
        Action.required_approvals,
        Action.expires_at,
        Action.decided_by,
        Action.decided_at,
        Action.reason,
        Action.error,
        Action.attempts,
        Action.created_at,
        Action.executed_at,
    )
    TIMES = ("expires_at", "decided_at", "created_at", "executed_at")

    def select(self) -> Select[Any]:
        return select(*self.COLUMNS)

    def view(self, row: Any) -> dict[str, Any]:
        view: dict[str, Any] = dict(row._mapping)
        view["version"] = arguments_version(view["arguments"])
        view["reasons"] = list(view["reasons"] or [])
        view["effects"] = dict(view["effects"] or {})
        for name in self.TIMES:
            view[name] = _iso(view[name])
        view["bulk"] = bulk_refusal(view) is None
        return view


action_summary = _ActionSummary()


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
    with db.read() as s:
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


RUN_STATUSES = (
    "queued",
    "running",
    "waiting_approval",
    "needs_attention",
    "succeeded",
    "failed",
    "cancelled",
)
# Every kind of run there is: the pipelines, workflow drafting, and an MCP client's write.
RUN_KINDS = ("triage", "record", "chat", "workflow", "workflow_draft", "mcp_call")
_RUN_COLUMNS = (
    Run.id,
    Run.kind,
    Run.status,
    Run.classification,
    Run.created_at,
    Run.input_tokens,
    Run.output_tokens,
    Run.cost_usd,
)


@dataclass(frozen=True)
class RunFilters:
    """What the runs list may be narrowed by; every filter is applied in SQL."""

    status: str | None = None
    kind: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def check(self) -> RunFilters:
        for name, value, allowed in (("status", self.status, RUN_STATUSES), ("kind", self.kind, RUN_KINDS)):
            if value is not None and value not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", field=name)
        for name, when in (("created_after", self.created_after), ("created_before", self.created_before)):
            if when is not None and when.tzinfo is None:
                raise Invalid(f"{name} needs a time zone (for example 2026-12-01T00:00:00Z)", field=name)
        return self

    def apply(self, q: Any, viewer: Principal | None) -> Any:
        if self.status is not None:
            q = q.where(Run.status == self.status)
        if self.kind is not None:
            q = q.where(Run.kind == self.kind)
        if self.created_after is not None:
            q = q.where(Run.created_at > self.created_after)
        if self.created_before is not None:
            q = q.where(Run.created_at < self.created_before)
        if viewer is not None and not viewer.can("admin"):
            q = q.where(or_(Run.kind != "chat", Run.created_by == viewer.name))
        return q


def _run_summary(r: Any) -> dict[str, Any]:
    return {
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


def page_runs(
    db: Database,
    filters: RunFilters | None = None,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    viewer: Principal | None = None,
) -> paging.Page:
    """One page of runs, newest first, each a summary (the steps and actions are at `run_view`).
    Someone else's chat turns are left out in SQL, so a page is never short for hiding them."""
    filters = (filters or RunFilters()).check()
    limit = paging.check_limit(limit)
    used = asdict(filters)
    after = paging.decode(cursor, used) if cursor else None
    q = paging.keyset(filters.apply(select(*_RUN_COLUMNS), viewer), Run.created_at, Run.id, after)
    with db.reading() as conn:  # columns, not entities: no Session to set up for a list
        rows = list(conn.execute(q.limit(limit + 1)).all())
    rows, next_cursor = paging.cut(rows, limit, lambda r: (r.created_at, r.id), used)
    return paging.Page([_run_summary(r) for r in rows], next_cursor, used)


def list_runs(
    db: Database, *, limit: int = 50, status: str | None = None, viewer: Principal | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` runs (at most paging.MAX_LIMIT)."""
    return page_runs(db, RunFilters(status=status), limit=min(limit, paging.MAX_LIMIT), viewer=viewer).items
