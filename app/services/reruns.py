"""Running a failed run again, as an operator asks from the API or the run's page.

A run ends `failed` when a person must act on its cause: a workflow's read that failed, a system
that stayed down past its retries, a model that kept answering outside the schema. Once the
cause is gone, `run_again` makes a NEW queued run on the same item with the same input; the
failed run stays as it was, its steps the record of what went wrong.

The input is kept as it is: it carries who posted the item (`posted_by`, whom the gate keeps from
approving the item's money, final and payee writes) and any mark that those writes want two
approvers (`requester_unknown`), so a re-run asks for exactly the approvals the first did. Who
the new run is created by:
- an item a system delivered, or one a person posted (a ticket, an invoice): whoever ran it
  again; the gate reads the poster from the input, not from the creator;
- a run that is itself a person's request for a write (a refund request): its requester, as the
  first run's was, because there the creator is who the gate holds four eyes against
  (`RunContext.requested_by`), and running it again asks for nothing new;
- a workflow's run: the workflow (`workflow:ID`), through which the workflow lists its runs.
Whoever ran it again is named in the audit log (`run.run_again`) in every case.

Only triage, record and workflow runs are run again (`KINDS`); see `REFUSED` for why the others
are not. A workflow's run is run again only while its workflow is active. A failed run that was
run again already is not run a second time: its later run is the one to run again. Nor is one
that made any of its writes (a message posted before a later read failed): a new run would
propose them again under new idempotency keys, which the system cannot tell from new writes.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import and_, or_, select

from app.services.auth import Principal
from app.services.errors import Conflict, NotFound, ServiceError
from app.services.views import visible
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Action, Run, Workflow

# Runs whose input is all a new run needs, and whose result nobody is waiting on.
KINDS = frozenset({"triage", "record", "workflow"})
REFUSED = {
    "chat": "a chat turn belongs to its conversation, which has moved on; ask again in the chat",
    "mcp_call": (
        "an MCP call was its client's request, and that client is no longer waiting for this one; "
        "the client asks again"
    ),
    "workflow_draft": (
        "a workflow draft is saved by the request that asked for it; draft it again from its sentence"
    ),
}


def run_again(db: Database, run_id: str, who: Principal) -> dict[str, str]:
    """A new queued run like the failed run `run_id`: `{"run_id": new, "first_run": run_id}`.

    NotFound for a run `who` cannot see; Conflict naming why for any run that may not run again.
    The caller wakes the workers."""
    with db.session() as s:
        # Locked, so two people asking at once make one new run (on SQLite the session's
        # BEGIN IMMEDIATE serializes them already).
        first = s.scalars(select(Run).where(Run.id == run_id).with_for_update()).one_or_none()
        if first is None or not visible(first, who):
            raise NotFound(f"no run {run_id}")
        if (refused := _refusal(s, first, lock=True)) is not None:
            raise refused
        run = Run(
            kind=first.kind,
            item_id=first.item_id,
            input=copy.deepcopy(first.input),
            created_by=creator(first, who.name),
            status="queued",
        )
        s.add(run)
        s.flush()
        audit(
            s,
            who.name,
            "run.run_again",
            "run",
            run.id,
            {"first_run": first.id, "item_id": first.item_id, "kind": first.kind, "error": first.error},
        )
        return {"run_id": run.id, "first_run": first.id}


def offer(db: Database, run_id: str) -> dict[str, Any]:
    """What the run's page offers: `can` (it may be run again now), `why` not, and `later_run`
    (the run it was run again as, if it was)."""
    with db.read() as s:
        first = s.get(Run, run_id)
        if first is None:
            return {"can": False, "why": f"no run {run_id}", "later_run": None}
        refused = _refusal(s, first, lock=False)
        return {
            "can": refused is None,
            "why": refused.message if refused is not None else None,
            "later_run": _later_run(s, first),
        }


def creator(first: Run, who: str) -> str | None:
    """Who a new run of `first`'s item is created by: the first run's creator, since its input
    (a request, a chat question) is theirs and four eyes holds it against them; whoever runs it
    again only for an item a system delivered, where no person asked."""
    if first.kind == "workflow" or not (first.input or {}).get("delivered"):
        return first.created_by
    return who


def _refusal(s: Any, first: Run, *, lock: bool) -> ServiceError | None:
    if first.status != "failed":
        return Conflict(f"run {first.id} is {first.status}, not failed: only a failed run is run again")
    if first.kind not in KINDS:
        why = REFUSED.get(first.kind, f"runs of kind {first.kind!r} are not run again")
        return Conflict(f"run {first.id} is a {first.kind} run: {why}")
    if first.kind == "workflow" and (problem := _workflow_problem(s, first, lock=lock)):
        return Conflict(problem)
    if (later := _later_run(s, first)) is not None:
        return Conflict(
            f"run {first.id} was run again already, as run {later}: run that one again if it failed too"
        )
    if made := _writes_made(s, first):
        return Conflict(
            f"run {first.id} already made {', '.join(made)}: a new run would propose them again, under "
            "new idempotency keys the system cannot tell from new writes; finish what is left by hand"
        )
    return None


# A write in these states may have reached its system: a new run would propose it again as new.
MADE = ("executing", "succeeded")


def _writes_made(s: Any, first: Run) -> list[str]:
    """The writes the failed run made (or may have made), as `tool (action id)`: those sent or
    being sent, and any with an attempt made (it may have landed: failed, or retried and waiting
    again; not one taken back unsent, nor one a person dismissed as not done)."""
    rows = s.execute(
        select(Action.tool, Action.id).where(
            Action.run_id == first.id,
            or_(Action.status.in_(MADE), and_(Action.attempts > 0, Action.status != "dismissed")),
        )
    ).all()
    return [f"{tool} ({action_id})" for tool, action_id in rows]


def _workflow_problem(s: Any, first: Run, *, lock: bool) -> str | None:
    """Why a workflow's failed run may not run again now: its workflow is gone or not active (a
    paused one runs nothing until resumed; a replaced one's steps are no longer what people
    approved to run). The row is shared-locked, so a pause waits for this run to be queued."""
    workflow_id = str(((first.input or {}).get("event") or {}).get("workflow_id") or "")
    q = select(Workflow).where(Workflow.id == workflow_id)
    w = s.scalars(q.with_for_update(read=True) if lock else q).one_or_none()
    if w is None:
        return f"run {first.id} is a run of workflow {workflow_id or '?'}, which no longer exists"
    if w.status == "active":
        return None
    hint = {
        "paused": "; resume it first",
        "superseded": "; a later version replaced it, and runs on its own events",
    }.get(w.status, "")
    return f"run {first.id} is a run of workflow {w.id}, which is {w.status}, not active{hint}"


def _later_run(s: Any, first: Run) -> str | None:
    """The run of the same item created after `first`, if any (it was run again, or triaged again)."""
    if first.item_id is None:
        return None
    found = s.scalar(
        select(Run.id)
        .where(
            Run.item_id == first.item_id,
            or_(
                Run.created_at > first.created_at,
                and_(Run.created_at == first.created_at, Run.id > first.id),
            ),
        )
        .order_by(Run.created_at.desc())
        .limit(1)
    )
    return str(found) if found is not None else None
