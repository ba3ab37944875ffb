"""Natural-language workflows: drafted by a model, activated by a person, run on events.

"When a dispute opens in payments, open a ticket and post in #billing" becomes
a JSON-Schema-validated spec: a trigger (a connection's event), conditions on
the event, and steps (tool calls whose arguments are Jinja templates over the
event and earlier steps' results). Drafting is a run of its own, so the model
call is recorded like any other. A draft does nothing until a person with the
approver role activates it; even then every write it makes goes through the
gate like any other.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator
from sqlalchemy import select

from app.agent.run import RunContext, RunFailed, Suspend
from app.llm.base import ToolCall
from app.llm.prompts import PromptLibrary
from app.services import intake
from app.services.auth import Principal
from app.services.errors import Conflict, Invalid, NotFound
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Connection, Run, Workflow, utcnow
from tools.base import Catalogue

# What each kind of system can tell us happened (through its webhooks).
EVENTS: dict[str, list[str]] = {
    "payments": ["charge.dispute.created", "charge.refunded"],
    "helpdesk": ["ticket.created"],
    "chat": ["message"],
}

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "trigger", "steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "trigger": {
            "type": "object",
            "required": ["connection", "event"],
            "additionalProperties": False,
            "properties": {"connection": {"type": "string"}, "event": {"type": "string"}},
        },
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "op", "value"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": "string"},
                    "op": {"enum": ["equals", "not_equals", "contains", "greater_than", "less_than"]},
                    "value": {},
                },
            },
        },
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool", "arguments"],
                "additionalProperties": False,
                "properties": {"tool": {"type": "string"}, "arguments": {"type": "object"}},
            },
        },
    },
}

_env = ImmutableSandboxedEnvironment(autoescape=False)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def render(value: Any, context: dict[str, Any]) -> Any:
    """Fill a step's argument templates from the event and earlier steps (sandboxed)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        out = _env.from_string(value).render(**context)
        whole = value.strip()
        if whole.startswith("{{") and whole.endswith("}}") and out.strip().lstrip("-").isdigit():
            return int(out)  # a placeholder standing alone for a number stays a number
        return out
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def _field(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for part in path.removeprefix("event.").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _holds(actual: Any, op: str, expected: Any) -> bool:
    if op == "equals":
        return bool(actual == expected)
    if op == "not_equals":
        return bool(actual != expected)
    if op == "contains":
        return str(expected).lower() in str(actual or "").lower()
    if not isinstance(actual, int | float) or not isinstance(expected, int | float):
        return False
    return actual > expected if op == "greater_than" else actual < expected


def conditions_met(spec: dict[str, Any], event: dict[str, Any]) -> bool:
    return all(_holds(_field(event, c["field"]), c["op"], c["value"]) for c in spec.get("conditions") or [])


def check_spec(spec: Any, catalogue: Catalogue, connections: dict[str, str]) -> list[str]:
    """Everything wrong with a spec, in words a person can fix."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(spec)'}: {e.message}"
        for e in Draft202012Validator(SPEC_SCHEMA).iter_errors(spec)
    ]
    if problems:
        return problems
    trigger = spec["trigger"]
    kind = connections.get(trigger["connection"])
    if kind is None:
        problems.append(f"trigger: no connection named {trigger['connection']!r}")
    elif trigger["event"] not in EVENTS.get(kind, []):
        problems.append(
            f"trigger: {trigger['connection']} ({kind}) has no event {trigger['event']!r}; it has {EVENTS.get(kind, [])}"
        )
    if not spec["steps"]:
        problems.append("steps: a workflow needs at least one step")
    for i, step in enumerate(spec["steps"]):
        if step["tool"] not in catalogue:
            problems.append(f"steps/{i}: no tool named {step['tool']!r}")
    return problems


def _connections(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {r.name: r.kind for r in s.scalars(select(Connection))}


class WorkflowDraftPipeline:
    """A run that asks the model for a spec and records it (validated)."""

    def __init__(self, prompts: PromptLibrary, db: Database):
        self.prompts = prompts
        self.db = db

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        request = ctx.run.input["workflow_request"]["request"]
        kinds = _connections(self.db)
        described = [
            {
                "name": name,
                "kind": kind,
                "events": EVENTS.get(kind, []),
                "tools": [
                    {"name": t.name, "effect": t.effect, "schema": t.input_schema.get("properties", {})}
                    for t in ctx.catalogue.select(connections=[name])
                ],
            }
            for name, kind in sorted(kinds.items())
        ]
        variables = {"request": request, "connections": described}
        spec = await ctx.structured(
            "draft",
            self.prompts.request("workflow/draft", variables, output_schema=SPEC_SCHEMA, max_tokens=1500),
        )
        problems = check_spec(spec, ctx.catalogue, kinds)
        return {"spec": spec, "problems": problems}


class WorkflowRunPipeline:
    """One execution: conditions, then each step through the gate, in order."""

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        run_input = ctx.run.input["event"]
        spec, event = run_input["spec"], run_input["event"]
        # The spec was approved by a person: addresses written in it are known, not injected.
        ctx.know(emails=sorted({e.lower() for e in _EMAIL.findall(str(spec))}))
        if not conditions_met(spec, event):
            ctx.record("conditions", "note", {"met": False})
            return {"skipped": "conditions not met"}
        results: list[dict[str, Any]] = []
        for i, step in enumerate(spec["steps"]):
            if step["tool"] not in ctx.catalogue:
                raise RunFailed(f"step {i}: tool {step['tool']} is no longer configured")
            tool = ctx.catalogue.get(step["tool"])
            try:
                arguments = render(step["arguments"], {"event": event, "steps": results})
            except Exception as exc:  # a template that does not fit this event
                raise RunFailed(f"step {i}: cannot fill its arguments from the event: {exc}") from None
            outcome = await ctx.tool_call(
                f"step{i}", ToolCall(id=f"step{i}", name=tool.name, arguments=arguments), {tool.name: tool}
            )
            if outcome is None:
                raise Suspend()
            results.append(
                {"result": outcome.data, "is_error": outcome.is_error, "text": outcome.content[:500]}
            )
            if outcome.is_error:
                return {"stopped_at": i, "reason": outcome.content[:500]}
        return {"steps": len(results)}


def view(w: Workflow) -> dict[str, Any]:
    return {
        "id": w.id,
        "name": w.name,
        "request": w.request,
        "spec": w.spec,
        "status": w.status,
        "created_by": w.created_by,
        "activated_by": w.activated_by,
        "created_at": w.created_at.isoformat(),
        "activated_at": w.activated_at.isoformat() if w.activated_at else None,
    }


def queue_draft(db: Database, request: str, who: Principal) -> str:
    """A run that drafts a workflow from `request`; returns its id."""
    with db.session() as s:
        run = Run(
            kind="workflow_draft", input={"workflow_request": {"request": request}}, created_by=who.name
        )
        s.add(run)
        s.flush()
        return run.id


def save_draft(db: Database, request: str, who: Principal, result: dict[str, Any]) -> dict[str, Any]:
    spec = result["spec"]
    with db.session() as s:
        w = Workflow(
            name=str(spec.get("name") or request[:80]),
            request=request,
            spec=spec,
            status="draft",
            trigger_connection=spec.get("trigger", {}).get("connection"),
            trigger_event=spec.get("trigger", {}).get("event"),
            created_by=who.name,
        )
        s.add(w)
        s.flush()
        audit(s, who.name, "workflow.drafted", "workflow", w.id, {"request": request[:500]})
        return {**view(w), "problems": result.get("problems", [])}


def activate(db: Database, workflow_id: str, who: Principal, catalogue: Catalogue) -> dict[str, Any]:
    kinds = _connections(db)  # read before taking the row lock: SQLite allows one writer
    with db.session() as s:
        w = s.scalars(select(Workflow).where(Workflow.id == workflow_id).with_for_update()).one_or_none()
        if w is None:
            raise NotFound(f"no workflow {workflow_id}")
        if w.status == "active":
            raise Conflict(f"workflow {workflow_id} is active already")
        problems = check_spec(w.spec, catalogue, kinds)
        if problems:
            raise Invalid("the workflow cannot run as drafted: " + "; ".join(problems), field="spec")
        w.status, w.activated_by, w.activated_at = "active", who.name, utcnow()
        audit(s, who.name, "workflow.activated", "workflow", w.id, {"trigger": w.spec.get("trigger")})
        return view(w)


def list_workflows(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        return [view(w) for w in s.scalars(select(Workflow).order_by(Workflow.created_at.desc()))]


def dispatch(
    db: Database, connection: str, event_type: str, event: dict[str, Any], event_id: str
) -> list[str]:
    """Start a run for every active workflow this event triggers (once per event)."""
    with db.session() as s:
        flows = s.scalars(
            select(Workflow).where(
                Workflow.status == "active",
                Workflow.trigger_connection == connection,
                Workflow.trigger_event == event_type,
            )
        ).all()
        specs = [(w.id, w.spec) for w in flows]
    run_ids = []
    for workflow_id, spec in specs:
        run_id, _ = intake.submit(
            db,
            kind="event",
            run_kind="workflow",
            payload={
                "external_id": f"{workflow_id}:{event_id}",
                "workflow_id": workflow_id,
                "spec": spec,
                "event": event,
            },
            source=f"workflow:{workflow_id}",
            actor=f"workflow:{workflow_id}",
        )
        run_ids.append(run_id)
    return run_ids
