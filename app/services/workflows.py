"""Natural-language workflows: drafted by a model, activated by a person, run on events.

"When a dispute opens in payments, open a ticket and post in #billing" becomes
a JSON-Schema-validated spec: a trigger (a connection's event, or a daily time),
conditions on the event, and steps (tool calls whose arguments are Jinja templates
over the event and earlier steps' results; a step may run for each element of a list
and check what it read, and a failed check hands the event to a person through the
`on_problem` steps). Drafting is a run of its own, so the model call is recorded like
any other. A draft does nothing until a person with the approver role, other than its
author, activates it; even then every write it makes goes through the gate. Editing
makes a new version, which replaces the active one only when it is activated in turn.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import func, or_, select

from app.agent.injection import SEPARATE_VALUES, instruction_keys
from app.agent.policy import observe
from app.agent.run import READ_RETRIES, RunContext, RunFailed, Suspend
from app.agent.values import texts
from app.llm.base import ToolCall
from app.llm.prompts import PromptLibrary
from app.services import intake, schedules, views
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.workflow_engine import Outcome, Waiting, execute, holds
from app.services.workflow_engine import field as _field_of
from app.services.workflow_engine import render as render
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry, Connection, Run, Workflow, utcnow
from connectors.registry import CONNECTOR_TYPES
from tools.base import Catalogue


def events_of(kind: str) -> list[str]:
    """What a kind of system can tell us happened through its webhooks, as its connector
    class announces (`events`)."""
    declared = getattr(CONNECTOR_TYPES.get(kind), "events", None)
    return list(declared) if declared else []


OPS = ["equals", "not_equals", "contains", "greater_than", "less_than", "at_least", "at_most", "is_set"]
_STEP: dict[str, Any] = {
    "type": "object",
    "required": ["tool", "arguments"],
    "additionalProperties": False,
    "properties": {
        "tool": {"type": "string"},
        "arguments": {"type": "object"},
        "each": {"type": "string", "description": "run once per element of this list, as `item`"},
        "check": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "op", "value"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": "string"},
                    "op": {"enum": OPS},
                    "value": {},
                    "problem": {"type": "string"},
                },
            },
        },
    },
}
SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "trigger", "steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "trigger": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "connection": {"type": "string"},
                "event": {"type": "string"},
                "schedule": {
                    "type": "object",
                    "required": ["at"],
                    "additionalProperties": False,
                    "properties": {
                        "at": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                        "days": {"enum": ["daily", "weekdays"]},
                        "timezone": {"type": "string"},
                    },
                },
            },
        },
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "op", "value"],
                "additionalProperties": False,
                "properties": {"field": {"type": "string"}, "op": {"enum": OPS}, "value": {}},
            },
        },
        "steps": {"type": "array", "items": _STEP},
        "on_problem": {
            "type": "array",
            "items": {
                **_STEP,
                "properties": {k: v for k, v in _STEP["properties"].items() if k in ("tool", "arguments")},
            },
        },
        "not_understood": {"type": "array", "items": {"type": "string"}},
    },
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CHANNEL = re.compile(r"^#?[a-z0-9][a-z0-9_-]*$")


def _field(event: dict[str, Any], path: str) -> Any:
    return _field_of(event, path.removeprefix("event."))


def conditions_met(spec: dict[str, Any], event: dict[str, Any]) -> bool:
    return all(holds(_field(event, c["field"]), c["op"], c["value"]) for c in spec.get("conditions") or [])


def check_spec(spec: Any, catalogue: Catalogue, connections: dict[str, str]) -> list[str]:
    """Everything wrong with a spec, in words a person can fix."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(spec)'}: {e.message}"
        for e in Draft202012Validator(SPEC_SCHEMA).iter_errors(spec)
    ]
    if problems:
        return problems
    problems += [f"not understood: {part}" for part in spec.get("not_understood") or []]
    trigger = spec["trigger"]
    if "schedule" in trigger:
        if trigger.get("connection") or trigger.get("event"):
            problems.append("trigger: a schedule takes no connection or event")
        zone = trigger["schedule"].get("timezone", "UTC")
        if not schedules.valid_zone(zone):
            problems.append(f"trigger: unknown time zone {zone!r}")
    else:
        kind = connections.get(trigger.get("connection") or "")
        if not trigger.get("connection"):
            problems.append("trigger: no event from a connected system, and no schedule")
        elif kind is None:
            problems.append(
                f"trigger: no connection named {trigger['connection']!r}; connected: {', '.join(sorted(connections)) or 'none'}"
            )
        elif trigger.get("event") not in events_of(kind):
            problems.append(
                f"trigger: {trigger['connection']} ({kind}) has no event {trigger.get('event')!r}; it has {events_of(kind)}"
            )
    if not spec["steps"]:
        problems.append("steps: a workflow needs at least one step")
    for where, steps in (("steps", spec["steps"]), ("on_problem", spec.get("on_problem") or [])):
        for i, step in enumerate(steps):
            tool = step["tool"]
            if tool not in catalogue:
                connection, _, operation = tool.partition("__")
                if connection not in connections:
                    problems.append(f"{where}/{i}: no connection named {connection!r} (for {tool})")
                else:
                    known = sorted(t.operation for t in catalogue.select(connections=[connection]))
                    problems.append(
                        f"{where}/{i}: {connection} has no operation {operation!r}; it has {', '.join(known)}"
                    )
            channel = step["arguments"].get("channel") if tool.endswith("__post_message") else None
            if isinstance(channel, str) and "{{" not in channel and not _CHANNEL.match(channel):
                problems.append(f"{where}/{i}: {channel!r} is not a channel name")
    return problems


async def missing_channels(spec: dict[str, Any], read: Any) -> list[str]:
    """Channels the spec posts to that the chat system does not have (read through `read`)."""
    wanted: dict[str, set[str]] = {}
    for step in [*(spec.get("steps") or []), *(spec.get("on_problem") or [])]:
        tool, channel = step.get("tool", ""), (step.get("arguments") or {}).get("channel")
        if tool.endswith("__post_message") and isinstance(channel, str) and "{{" not in channel:
            wanted.setdefault(tool.split("__")[0] + "__list_channels", set()).add(channel.lstrip("#"))
    problems = []
    for lister, names in wanted.items():
        channels = await read(lister)
        if channels is None:
            continue
        have = {str(c.get("name")) for c in channels if isinstance(c, dict)}
        problems += [
            f"chat has no channel #{n}; it has {', '.join('#' + h for h in sorted(have))}"
            for n in sorted(names - have)
        ]
    return problems


def _connections(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {r.name: r.kind for r in s.scalars(select(Connection))}


connection_kinds = _connections


def help_text(db: Database) -> dict[str, Any]:
    """What can be asked for: example sentences, actions, and each connection's events."""
    from app.llm.local.workflows import ACTIONS, EXAMPLES

    kinds = _connections(db)
    return {
        "examples": EXAMPLES,
        "actions": ACTIONS,
        "events": {name: events_of(kind) for name, kind in sorted(kinds.items())},
        "schedules": ["every day at 08:00", "every morning at 8", "every weekday at 9am"],
    }


def argument_defaults(db: Database) -> dict[str, dict[str, Any]]:
    """Each connection's configured argument values per operation (its config's "defaults"):
    the tracker team new issues go to, the requester of tickets a workflow opens."""
    with db.session() as s:
        return {
            r.name: dict(r.config["defaults"])
            for r in s.scalars(select(Connection))
            if isinstance((r.config or {}).get("defaults"), dict)
        }


def describe_connections(
    catalogue: Catalogue, kinds: dict[str, str], defaults: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "kind": kind,
            "events": events_of(kind),
            "defaults": (defaults or {}).get(name, {}),
            "tools": [
                {"name": t.name, "effect": t.effect, "schema": t.input_schema.get("properties", {})}
                for t in catalogue.select(connections=[name])
            ],
        }
        for name, kind in sorted(kinds.items())
    ]


class WorkflowDraftPipeline:
    """A run that asks the model for a spec and records it (validated)."""

    def __init__(self, prompts: PromptLibrary, db: Database):
        self.prompts = prompts
        self.db = db

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        request = ctx.run.input["workflow_request"]["request"]
        kinds = _connections(self.db)
        described = describe_connections(ctx.catalogue, kinds, argument_defaults(self.db))
        variables = {"request": request, "connections": described}
        spec = await ctx.structured(
            "draft",
            self.prompts.request("workflow/draft", variables, output_schema=SPEC_SCHEMA, max_tokens=2500),
        )
        problems = check_spec(spec, ctx.catalogue, kinds)

        async def read(tool: str) -> Any:
            if tool not in ctx.catalogue:
                return None
            outcome = await ctx.read(f"check:{tool}", tool, {})
            return None if outcome.is_error else outcome.data

        if isinstance(spec.get("steps"), list):
            problems += await missing_channels(spec, read)
        return {"spec": spec, "problems": problems}


def event_facts(spec: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """What a workflow's run knows before its first step (the run and its dry run alike).

    The spec was approved by a person: addresses written in it are known, not injected. The
    event is outside text, as a ticket's body is: a system delivered it, but people outside
    write parts of it (an order's note, a dispute's reason), and a generic event may nest what
    they wrote under any key, `charge_id` or `url` included. So nothing in it is a trusted id
    or link: every string in it is text the gate traces argument values to (no standing rule
    runs a value taken from it) and the detector reads, and so is a key of it that spells an
    instruction override (`Ignore_all_previous_instructions`, as a read result's is). A step
    that needs an id as a fact reads it from its system first. Only the addresses under its `email` keys are known, as a
    ticket's requester is. A schedule's slot is written here, not delivered: not outside text."""
    emails = {e.lower() for e in _EMAIL.findall(str(spec))}
    emails |= set(observe(event).get("emails", []))
    facts: dict[str, Any] = {"emails": sorted(emails)}
    if "schedule" not in (spec.get("trigger") or {}):
        keys = [k for k, _ in instruction_keys(event)]  # a key spelling an override is text too
        facts["untrusted_text"] = [s for s in texts(event) if s.strip()] + keys
        facts[SEPARATE_VALUES] = True  # an event's values, not a passage: joined where prose only
        facts["event_values"] = _event_values(spec, event)
    return facts


_WHOLE_EVENT = re.compile(r"\{\{\s*event\b[^{}]*\}\}")
_EXPRESSIONS = re.compile(r"\{[{%](.*?)[%}]\}", re.DOTALL)
_NAMES = re.compile(r"\b(event|item)\b")


class _NotYet:
    """What a step reads of the run (earlier steps' results, the problem an on_problem step
    meets): unknown before the run, so a template that reads it in any way cannot be rendered."""

    def _later(self, *_: Any, **__: Any) -> Any:
        raise RuntimeError("known only when the run gets there")  # no error a template forgives

    __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __str__ = __eq__ = _later
    __hash__ = None  # type: ignore[assignment]


def _event_values(spec: dict[str, Any], event: dict[str, Any]) -> list[list[Any]]:
    """Where a step's arguments take numbers or booleans from the event (strings are traced
    through the text; these by where they go), in its steps and its on_problem steps alike, as
    [argument path, value, expression, tool]: for each argument whose template names the event,
    or the `item` of an `each` over the event (taken whole, inside a list built from it, or in an
    expression around it), every number and boolean it renders to, for each item. One that cannot
    be rendered before the run (it reads an earlier step's result) is [path, None, expression,
    tool]: every number and boolean at or under that path, in that tool's writes, is the event's."""
    from app.agent.provenance import leaves

    found: list[list[Any]] = []
    for step in [*(spec.get("steps") or []), *(spec.get("on_problem") or [])]:
        if not isinstance(step, dict):
            continue
        tool = step.get("tool")
        each = str(step.get("each") or "")
        items: list[Any] = [None]
        if _NAMES.search(each):
            listed = _field_of({"event": event, "steps": []}, each)
            items = listed if isinstance(listed, list) else [None]
        sources = {"event", "item"} if _NAMES.search(each) else {"event"}
        for path, template in leaves(step.get("arguments") or {}):
            if not isinstance(template, str):
                continue
            named = {n for e in _EXPRESSIONS.findall(template) for n in _NAMES.findall(e)}
            if not named & sources:
                continue
            expression = template.strip()
            for item in items:
                scope = {"event": event, "steps": _NotYet(), "item": item, "problem": _NotYet()}
                try:
                    value = render(template, scope)
                except Exception:  # it reads what only the run will have: the whole path
                    found.append([path, None, expression, tool])
                    break
                found += [
                    [f"{path}/{inner}" if inner else path, v, expression, tool]
                    for inner, v in leaves(value)
                    if isinstance(v, (bool, int, float))
                ]
    return found


class WorkflowRunPipeline:
    """One execution: conditions, then each step through the gate, in order.

    A step that failed fails the run, with the failure in its steps and `error`, and the steps
    after it do not run: they would run on data the run does not have. A read that met an
    outage never gets here: the run goes back to the queue with backoff (`RunContext.tool_call`)
    and fails only when the system stays down past READ_RETRIES passes. A write that people
    decided against (rejected, expired, dismissed) is no failure: the chain stops there and
    the run ends with where and why (the engine's `stopped_at` and `reason`)."""

    def __init__(self, status: Callable[[str], str | None] | None = None):
        """`status(workflow_id)` reads a workflow's status (None: not stored); each pass checks it."""
        self.status = status

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        run_input = ctx.run.input["event"]
        spec, event = run_input["spec"], run_input["event"]
        if self.status is not None:
            # A paused workflow runs nothing until resumed, and a replaced one's steps are no
            # longer what people approved to run: its runs stop at their next pass, queued or
            # waiting for a decision alike (an approved write of theirs is failed, not sent).
            # (Workflows are never deleted: a run of none stored was started straight from a
            # spec, as evaluations do, and runs as started.)
            workflow_id = str(run_input.get("workflow_id") or "")
            status = await ctx.io(self.status, workflow_id)
            if status is not None and status != "active":
                raise RunFailed(
                    f"workflow {workflow_id} is {status}, not active: its run stops here; "
                    "resume the workflow (or activate a version) and run it again"
                )
        ctx.know(**event_facts(spec, event))
        if not conditions_met(spec, event):
            await ctx.record("conditions", "note", {"met": False})
            return {"skipped": "conditions not met"}

        async def call(key: str, tool_name: str, arguments: dict[str, Any]) -> Outcome | None:
            if tool_name not in ctx.catalogue:
                raise RunFailed(f"{key}: tool {tool_name} is no longer configured")
            tool = ctx.catalogue.get(tool_name)
            outcome = await ctx.tool_call(
                key, ToolCall(id=key, name=tool.name, arguments=arguments), {tool.name: tool}
            )
            if outcome is None:
                return None
            if outcome.is_error and not any(a.tool_call_id == key for a in ctx.actions()):
                # Not a decision of people: a read that failed, or arguments that do not fit.
                tries = f" (still failing after {READ_RETRIES} retries)" if outcome.retryable else ""
                raise RunFailed(f"{key}: {outcome.content[:500]}{tries}; the steps after it did not run")
            return Outcome(outcome.data, outcome.is_error, outcome.content[:500])

        try:
            result = await execute(spec, event, call)
        except Waiting:
            raise Suspend() from None
        if "problem" in result:
            await ctx.record("problem", "note", {"problem": result["problem"], "step": result["stopped_at"]})
        return result


async def draft(
    db: Database,
    advance: Callable[[str], Awaitable[Any]],
    request: str,
    who: Principal,
    *,
    edits: str | None = None,
) -> dict[str, Any]:
    """Draft from a sentence (a run of its own, so the model call is recorded), then save it,
    as a new version of `edits` if given. `advance(run_id)` runs the drafting run now. The
    database work runs off the event loop."""
    run_id = await asyncio.to_thread(queue_draft, db, request, who)
    await advance(run_id)
    result = await asyncio.to_thread(views.run_view, db, run_id)
    if result["status"] != "succeeded":
        raise Invalid(f"could not draft a workflow: {result['error'] or result['status']}", field="request")
    saved = await asyncio.to_thread(save_draft, db, request, who, result["result"], edits=edits)
    return {**saved, "run_id": run_id}


def view(w: Workflow, last_runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {
        "id": w.id,
        "family_id": w.family_id or w.id,
        "version": w.version,
        "name": w.name,
        "request": w.request,
        "spec": w.spec,
        "status": w.status,
        "created_by": w.created_by,
        "activated_by": w.activated_by,
        "created_at": w.created_at.isoformat(),
        "activated_at": w.activated_at.isoformat() if w.activated_at else None,
        "schedule_next_at": w.schedule_next_at.isoformat() if w.schedule_next_at else None,
    }
    if last_runs is not None:
        out["last_runs"] = last_runs
    return out


def queue_draft(db: Database, request: str, who: Principal) -> str:
    """A run that drafts a workflow from `request`; returns its id."""
    with db.session() as s:
        run = Run(
            kind="workflow_draft", input={"workflow_request": {"request": request}}, created_by=who.name
        )
        s.add(run)
        s.flush()
        return run.id


def save_draft(
    db: Database, request: str, who: Principal, result: dict[str, Any], *, edits: str | None = None
) -> dict[str, Any]:
    """A new draft; `edits` names a workflow this is a new version of."""
    spec = result["spec"]
    with db.session() as s:
        family, version = None, 1
        if edits is not None:
            base = s.get(Workflow, edits)
            if base is None:
                raise NotFound(f"no workflow {edits}")
            family = base.family_id or base.id
            version = 1 + (
                s.scalar(select(func.max(Workflow.version)).where(Workflow.family_id == family)) or 1
            )
        w = Workflow(
            name=str(spec.get("name") or request[:80])[:200],
            request=request,
            spec=spec,
            status="draft",
            family_id=family,
            version=version,
            trigger_connection=(spec.get("trigger") or {}).get("connection"),
            trigger_event=(spec.get("trigger") or {}).get("event"),
            created_by=who.name,
        )
        s.add(w)
        s.flush()
        if w.family_id is None:
            w.family_id = w.id
        audit(
            s, who.name, "workflow.drafted", "workflow", w.id, {"request": request[:500], "version": version}
        )
        return {**view(w), "problems": result.get("problems", [])}


def _locked(s: Any, workflow_id: str) -> Workflow:
    w = s.scalars(select(Workflow).where(Workflow.id == workflow_id).with_for_update()).one_or_none()
    if w is None:
        raise NotFound(f"no workflow {workflow_id}")
    return w


def _lock_family(s: Any, workflow_id: str) -> None:
    """Lock every version of the workflow's family, in one order: two versions activated at
    the same moment (two approvers, two processes) then take turns, and the second sees the
    first active and supersedes it, so one version is ever active. (SQLite's BEGIN IMMEDIATE
    serializes them already.)"""
    family = s.scalar(select(Workflow.family_id).where(Workflow.id == workflow_id))
    s.scalars(
        select(Workflow.id)
        .where(or_(Workflow.family_id == (family or workflow_id), Workflow.id == workflow_id))
        .order_by(Workflow.id)
        .with_for_update()
    ).all()


def activate(db: Database, workflow_id: str, who: Principal, catalogue: Catalogue) -> dict[str, Any]:
    kinds = _connections(db)  # read before taking the row lock: SQLite allows one writer
    with db.session() as s:
        _lock_family(s, workflow_id)
        w = _locked(s, workflow_id)
        if w.status == "active":
            raise Conflict(f"workflow {workflow_id} is active already")
        if w.status == "superseded":
            raise Conflict(f"workflow {workflow_id} was replaced by a later version")
        if w.created_by and w.created_by == who.name:
            raise Forbidden("a workflow is activated by someone other than the person who drafted it")
        problems = check_spec(w.spec, catalogue, kinds)
        if problems:
            raise Invalid("the workflow cannot run as drafted: " + "; ".join(problems), field="spec")
        for old in s.scalars(
            select(Workflow).where(
                Workflow.family_id == w.family_id,
                Workflow.id != w.id,
                Workflow.status.in_(("active", "paused")),
            )
        ):
            old.status = "superseded"
            audit(s, who.name, "workflow.superseded", "workflow", old.id, {"by": w.id})
        w.status, w.activated_by, w.activated_at = "active", who.name, utcnow()
        w.schedule_next_at = (
            schedules.next_slot(w.spec["trigger"], utcnow()) if "schedule" in w.spec["trigger"] else None
        )
        audit(
            s,
            who.name,
            "workflow.activated",
            "workflow",
            w.id,
            {"trigger": w.spec.get("trigger"), "version": w.version},
        )
        return view(w)


def pause(db: Database, workflow_id: str, who: Principal) -> dict[str, Any]:
    with db.session() as s:
        w = _locked(s, workflow_id)
        if w.status != "active":
            raise Conflict(f"workflow {workflow_id} is {w.status}, not active")
        w.status = "paused"
        audit(s, who.name, "workflow.paused", "workflow", w.id, {})
        return view(w)


def resume(db: Database, workflow_id: str, who: Principal) -> dict[str, Any]:
    with db.session() as s:
        w = _locked(s, workflow_id)
        if w.status != "paused":
            raise Conflict(f"workflow {workflow_id} is {w.status}, not paused")
        w.status = "active"
        if "schedule" in w.spec.get("trigger", {}):
            w.schedule_next_at = schedules.next_slot(
                w.spec["trigger"], utcnow()
            )  # missed slots are not made up
        audit(s, who.name, "workflow.resumed", "workflow", w.id, {})
        return view(w)


def _last_runs(s: Any, workflow_ids: list[str], per: int = 5) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in workflow_ids}
    if not workflow_ids:
        return out
    rows = s.scalars(
        select(Run)
        .where(Run.kind == "workflow", Run.created_by.in_([f"workflow:{i}" for i in workflow_ids]))
        .order_by(Run.created_at.desc())
        .limit(50 * len(workflow_ids))
    )
    for r in rows:
        wid = (r.created_by or "").removeprefix("workflow:")
        if len(out.setdefault(wid, [])) < per:
            out[wid].append({"id": r.id, "status": r.status, "created_at": r.created_at.isoformat()})
    return out


def list_workflows(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        flows = list(s.scalars(select(Workflow).order_by(Workflow.created_at.desc())))
        runs = _last_runs(s, [w.id for w in flows])
        return [view(w, runs.get(w.id, [])) for w in flows]


def get_workflow(db: Database, workflow_id: str) -> dict[str, Any]:
    with db.session() as s:
        w = s.get(Workflow, workflow_id)
        if w is None:
            raise NotFound(f"no workflow {workflow_id}")
        return view(w, _last_runs(s, [w.id], per=20)[w.id])


def history(db: Database, workflow_id: str) -> dict[str, Any]:
    """Every version of this workflow and everything done to them, oldest first."""
    with db.session() as s:
        w = s.get(Workflow, workflow_id)
        if w is None:
            raise NotFound(f"no workflow {workflow_id}")
        versions = list(
            s.scalars(
                select(Workflow).where(Workflow.family_id == (w.family_id or w.id)).order_by(Workflow.version)
            )
        )
        ids = [v.id for v in versions]
        entries = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == "workflow", AuditEntry.subject_id.in_(ids))
            .order_by(AuditEntry.id)
        )
        return {
            "versions": [view(v) for v in versions],
            "events": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "event": e.event,
                    "workflow_id": e.subject_id,
                    "data": e.data,
                }
                for e in entries
            ],
        }


def status_of(db: Database, workflow_id: str) -> str | None:
    """A workflow's status, None when there is no such workflow (a run's pass checks it)."""
    with db.reading() as c:
        found = c.execute(select(Workflow.status).where(Workflow.id == workflow_id)).scalar()
        return str(found) if found is not None else None


def dispatch(
    db: Database,
    connection: str,
    event_type: str,
    event: dict[str, Any],
    event_id: str,
    *,
    earlier_ids: Sequence[str] = (),
) -> list[str]:
    """Start a run for every active workflow this event triggers (once per event; `earlier_ids`:
    what the event was called before its connector named events otherwise)."""
    with db.session() as s:
        flows = s.scalars(
            select(Workflow).where(
                Workflow.status == "active",
                Workflow.trigger_connection == connection,
                Workflow.trigger_event == event_type,
            )
        ).all()
        specs = [(w.id, w.spec, w.family_id or w.id) for w in flows]
    return [
        start(db, workflow_id, spec, event, event_id, family=family, earlier_ids=earlier_ids)
        for workflow_id, spec, family in specs
    ]


def start(
    db: Database,
    workflow_id: str,
    spec: dict[str, Any],
    event: dict[str, Any],
    event_id: str,
    *,
    family: str | None = None,
    earlier_ids: Sequence[str] = (),
) -> str:
    """One run of a workflow for one event; the same event id never starts a second, in any
    version of the workflow: a vendor's retry after a new version was activated is the event
    the family ran already. The run is the version's (`workflow:ID` creates it). A run started
    under one of the event's `earlier_ids` is its run too."""
    family = family or _family(db, workflow_id)
    for old_id in earlier_ids:
        earlier = intake.existing_run(db, "event", f"workflow:{family}", f"{family}:{old_id}")
        if earlier is not None:
            return earlier
    if family != workflow_id:
        # Before runs were keyed on the family, a later version's were keyed on its own id: an
        # event it ran then, redelivered now, is still the event it ran.
        for key in (event_id, *earlier_ids):
            earlier = intake.existing_run(db, "event", f"workflow:{workflow_id}", f"{workflow_id}:{key}")
            if earlier is not None:
                return earlier
    run_id, _ = intake.submit(
        db,
        kind="event",
        run_kind="workflow",
        payload={
            "external_id": f"{family}:{event_id}",
            "workflow_id": workflow_id,
            "spec": spec,
            "event": event,
        },
        source=f"workflow:{family}",
        actor=f"workflow:{workflow_id}",
    )
    return run_id


def _family(db: Database, workflow_id: str) -> str:
    with db.reading() as c:
        found = c.execute(select(Workflow.family_id).where(Workflow.id == workflow_id)).scalar()
        return str(found or workflow_id)
