"""A dry run: what a workflow would do with an event, writing nothing anywhere.

Reads run for real (they change nothing and the checks depend on them); each write is
validated and put to the gate's policy, and reported as what would happen (wait for a
person, or run under a standing rule) without being sent. No run, action or step is
stored. The event is the one given, else the last one this workflow ran on, else a
sample read from the system (the newest paid order, open dispute, new ticket).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.agent.policy import Policy, merge_facts, new_facts, observe
from app.services.workflow_engine import Outcome, Unknowable, Waiting, execute
from app.services.workflows import conditions_met, event_facts
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Run, Workflow
from connectors.base import ConnectorError
from tools.base import Catalogue

# trigger event -> (operation to read a sample with, its arguments, how to pick one from the answer)
SAMPLES: dict[str, tuple[str, dict[str, Any], str]] = {
    "orders/paid": ("list_orders", {"financial_status": "paid", "limit": 250}, "last"),
    "orders/create": ("list_orders", {"limit": 250}, "last"),
    "charge.dispute.created": ("list_disputes", {}, "first"),
    "ticket.created": ("search_tickets", {"query": "type:ticket status:new"}, "first"),
}


class NotWritten:
    """Stands for a write's result in a dry run: any field of it reads as a marker, so
    later steps show where that result would go instead of failing. A question of its value
    (true or false, equal to, greater than) has no answer before the write is made: it raises
    Unknowable rather than answer one way in the dry run and another in the real run."""

    def __init__(self, path: str):
        self._path = path

    def __getattr__(self, name: str) -> NotWritten:
        if name.startswith("__"):
            raise AttributeError(name)
        return NotWritten(f"{self._path}.{name}")

    def __getitem__(self, key: Any) -> NotWritten:
        return NotWritten(f"{self._path}[{key!r}]")

    def __str__(self) -> str:
        return f"<{self._path}>"

    def _unknown(self, *_: Any) -> Any:
        raise Unknowable(f"{self._path} is known only once that write is made")

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __len__ = __contains__ = _unknown
    __iter__ = __int__ = __float__ = __index__ = _unknown
    __hash__ = object.__hash__


def _brief(data: Any, limit: int = 600) -> str:
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


async def sample_event(
    db: Database, workflow: dict[str, Any], catalogue: Catalogue, reads: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], str]:
    """(event, where it came from) for a dry run without an event given; a read of the system
    for one is added to `reads`."""
    with db.session() as s:
        ids = list(s.scalars(select(Workflow.id).where(Workflow.family_id == workflow["family_id"])))
        recent = s.scalars(
            select(Run)
            .where(Run.kind == "workflow", Run.created_by.in_([f"workflow:{i}" for i in ids]))
            .order_by(Run.created_at.desc())
            .limit(1)
        ).first()
        if recent is not None:
            return dict(recent.input["event"]["event"]), f"the event of run {recent.id}"
    trigger = workflow["spec"].get("trigger") or {}
    if "schedule" in trigger:
        now = datetime.now(UTC)
        return {
            "slot": now.strftime("%Y-%m-%dT%H:%MZ"),
            "scheduled_at": now.isoformat(),
        }, "this minute's slot"
    sample = SAMPLES.get(trigger.get("event", ""))
    tool_name = f"{trigger.get('connection')}__{sample[0]}" if sample else ""
    if sample and tool_name in catalogue:
        if catalogue.get(tool_name).is_write:
            # A dry run writes nothing: a connection whose operation of that name writes (an
            # imported spec's POST, say) gives no sample rather than being called unapproved.
            return {}, f"no sample: {tool_name} is a write, and a dry run only reads; pass an event"
        if reads is not None:
            reads.append({"tool": tool_name, "arguments": sample[1], "for": "a sample event"})
        try:
            found = await catalogue.get(tool_name).invoke(sample[1], None)
        except ConnectorError as exc:
            return {}, f"no sample: {exc}"
        items = found.get("results", found.get("data", found)) if isinstance(found, dict) else found
        if isinstance(items, list) and items:
            pick = items[-1] if sample[2] == "last" else items[0]
            return dict(pick), f"the newest from {trigger['connection']} ({tool_name})"
    return {}, "no sample event found: pass one"


async def dry_run(
    db: Database,
    workflow_id: str,
    catalogue: Catalogue,
    policy: Policy,
    event: dict[str, Any] | None = None,
    *,
    actor: str,
) -> dict[str, Any]:
    """`actor` asked for it: its reads are made for them and audited as theirs, as a chat
    turn's or an MCP caller's are (nothing else of a dry run is stored)."""
    from app.services.workflows import get_workflow

    workflow = get_workflow(db, workflow_id)
    reads: list[dict[str, Any]] = []
    try:
        return await _dry_run(db, workflow, catalogue, policy, event, reads)
    finally:
        with db.session() as s:
            audit(s, actor, "workflow.dry_run", "workflow", workflow_id, {"reads": reads})


async def _dry_run(
    db: Database,
    workflow: dict[str, Any],
    catalogue: Catalogue,
    policy: Policy,
    event: dict[str, Any] | None,
    reads: list[dict[str, Any]],
) -> dict[str, Any]:
    workflow_id = workflow["id"]
    if event is None:
        event, source = await sample_event(db, workflow, catalogue, reads)
    else:
        source = "the event given"
    spec = workflow["spec"]
    facts = new_facts()
    merge_facts(facts, event_facts(spec, event))
    steps: list[dict[str, Any]] = []

    async def call(key: str, tool_name: str, arguments: dict[str, Any]) -> Outcome | None:
        entry: dict[str, Any] = {"key": key, "tool": tool_name, "arguments": arguments}
        steps.append(entry)
        if tool_name not in catalogue:
            entry.update(would="fail", error=f"no tool {tool_name}")
            return Outcome(None, True, entry["error"])
        tool = catalogue.get(tool_name)
        entry["effect"] = tool.effect
        errors = tool.validate(arguments)
        if errors:
            entry.update(would="fail", error="invalid arguments: " + "; ".join(errors))
            return Outcome(None, True, entry["error"])
        if not tool.is_write:
            reads.append({"tool": tool_name, "arguments": arguments})
            try:
                data = await tool.invoke(arguments, None)
            except ConnectorError as exc:
                entry.update(would="fail", error=str(exc))
                return Outcome(None, True, str(exc))
            merge_facts(facts, observe(data, tool.facts))
            entry.update(would="read", result=_brief(data))
            return Outcome(data, False, "")
        decision = policy.decide(tool, arguments, facts)
        entry.update(
            would="wait for approval" if decision.needs_approval else "run under a standing rule",
            risk=decision.risk,
            reasons=decision.reasons,
            effects=tool.does.summary(arguments, facts),
        )
        return Outcome(NotWritten(f"result of {key}"), False, "")  # not written

    if not conditions_met(spec, event):
        outcome: dict[str, Any] = {"skipped": "conditions not met"}
    else:
        try:
            outcome = await execute(spec, event, call)
        except Waiting:  # cannot happen: a dry run never waits
            outcome = {"stopped": "waiting"}
        except Unknowable as exc:
            # What comes next depends on a write's result: the dry run shows no more than it knows.
            outcome = {
                "unknown": f"after {steps[-1]['key'] if steps else 'the start'}: {exc}; "
                "the dry run cannot show the steps from here"
            }
        failed = next((s for s in steps if s.get("would") == "fail"), None)
        if failed is not None:
            # As the run would: a step that fails fails it, whatever comes after or on_problem
            # says (WorkflowRunPipeline), so the dry run says that, not that it stops.
            outcome = {**outcome, "fails": f"{failed['key']}: {failed['error']}"}
    return {
        "workflow_id": workflow_id,
        "event": event,
        "event_source": source,
        "steps": steps,
        "outcome": outcome,
        "writes": sum(1 for s in steps if s.get("effect") == "write"),
    }
