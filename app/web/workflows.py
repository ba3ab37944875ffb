"""Web pages for workflows (describe, read, dry run, activate, pause, resume, edit,
history), for submitting a ticket or a financial record by hand, and for setting a
connection's webhook secret. Thin like the rest of the UI: authorize, call a service,
render; plain form posts that work without JavaScript."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.agent.orchestrator import worker_id
from app.api.schemas import RecordIn, TicketIn
from app.services import intake, webhook_secrets, workflow_dryrun, workflows
from app.services.auth import Principal
from app.services.errors import NotFound, ServiceError
from app.web.security import container, require

router = APIRouter(include_in_schema=False)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    from app.web.routes import render

    return render(request, name, context, status)


def _see(url: str) -> Response:
    from app.web.routes import see_other

    return see_other(url)


def describe_trigger(spec: dict[str, Any]) -> str:
    trigger = spec.get("trigger") or {}
    if "schedule" in trigger:
        s = trigger["schedule"]
        days = "Every weekday" if s.get("days") == "weekdays" else "Every day"
        return f"{days} at {s['at']} ({s.get('timezone', 'UTC')})"
    if trigger.get("connection"):
        return f"When {trigger['connection']} sends {trigger.get('event')}"
    return "No trigger understood"


def readable_steps(spec: dict[str, Any], catalogue: Any) -> list[dict[str, Any]]:
    """Each step as people read it: what it does, with which connection and operation."""
    out = []
    for section, steps in (("step", spec.get("steps") or []), ("on_problem", spec.get("on_problem") or [])):
        for i, step in enumerate(steps):
            connection, _, operation = step["tool"].partition("__")
            tool = catalogue.get(step["tool"]) if step["tool"] in catalogue else None
            out.append(
                {
                    "section": section,
                    "n": i + 1,
                    "connection": connection,
                    "operation": operation,
                    "known": tool is not None,
                    "effect": tool.effect if tool else "unknown",
                    "description": (tool.description.split("] ", 1)[-1] if tool else "not available"),
                    "each": step.get("each"),
                    "arguments": step.get("arguments") or {},
                    "checks": step.get("check") or [],
                }
            )
    return out


async def _catalogue(request: Request) -> Any:
    return await container(request).pool.load()


async def _page(request: Request, workflow_id: str, **extra: Any) -> HTMLResponse:
    c = container(request)
    try:
        w = workflows.get_workflow(c.db, workflow_id)
    except NotFound as exc:  # a stale bookmark or a mistyped link: a page, as for runs and the queue
        from app.web.routes import error_page

        return error_page(request, 404, exc.message)
    catalogue = await _catalogue(request)
    kinds = workflows.connection_kinds(c.db)
    ctx = {
        "w": w,
        "trigger": describe_trigger(w["spec"]),
        "steps": readable_steps(w["spec"], catalogue),
        "problems": workflows.check_spec(w["spec"], catalogue, kinds),
        "conditions": w["spec"].get("conditions") or [],
        "history": workflows.history(c.db, workflow_id),
        "used": sorted(
            {
                s["tool"].split("__")[0]
                for s in [*w["spec"].get("steps", []), *w["spec"].get("on_problem", [])]
            }
        ),
        **extra,
    }
    return _render(request, "workflow.html", ctx, 422 if extra.get("error") else 200)


@router.get("/ui/workflows")
def workflows_page(request: Request, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    c = container(request)
    return _render(
        request,
        "workflows.html",
        {
            "workflows": workflows.list_workflows(c.db),
            "help": workflows.help_text(c.db),
            "describe": describe_trigger,
        },
    )


@router.post("/ui/workflows")
async def create_workflow(request: Request, who: Principal = Depends(require("operator"))) -> Response:
    c = container(request)
    sentence = str((await request.form()).get("request") or "").strip()
    if len(sentence) < 8:
        ctx = {
            "workflows": workflows.list_workflows(c.db),
            "help": workflows.help_text(c.db),
            "describe": describe_trigger,
            "error": "Describe the workflow in a sentence (at least 8 characters).",
            "sentence": sentence,
        }
        return _render(request, "workflows.html", ctx, 422)
    try:
        draft = await workflows.draft(
            c.db, lambda r: c.orchestrator.advance_now(r, worker_id()), sentence, who
        )
    except ServiceError as exc:
        ctx = {
            "workflows": workflows.list_workflows(c.db),
            "help": workflows.help_text(c.db),
            "describe": describe_trigger,
            "error": exc.message,
            "sentence": sentence,
        }
        return _render(request, "workflows.html", ctx, exc.status)
    return _see(f"/ui/workflows/{draft['id']}")


@router.get("/ui/workflows/{workflow_id}")
async def workflow_page(
    request: Request, workflow_id: str, who: Principal = Depends(require("viewer"))
) -> HTMLResponse:
    return await _page(request, workflow_id)


@router.post("/ui/workflows/{workflow_id}/dry-run")
async def dry_run(
    request: Request, workflow_id: str, who: Principal = Depends(require("operator"))
) -> HTMLResponse:
    c = container(request)
    raw = str((await request.form()).get("event") or "").strip()
    event = None
    if raw:
        try:
            event = json.loads(raw)
        except ValueError as exc:
            return await _page(
                request, workflow_id, error=f"The sample event is not JSON: {exc}", event_text=raw
            )
        if not isinstance(event, dict):
            return await _page(
                request, workflow_id, error="The sample event must be a JSON object", event_text=raw
            )
    result = await workflow_dryrun.dry_run(
        c.db, workflow_id, await _catalogue(request), c.policy(), event, actor=who.name
    )
    return await _page(request, workflow_id, dry=result, event_text=raw)


async def _act(request: Request, workflow_id: str, do: Any) -> Response:
    try:
        do()
    except ServiceError as exc:
        return await _page(request, workflow_id, error=exc.message)
    return _see(f"/ui/workflows/{workflow_id}")


@router.post("/ui/workflows/{workflow_id}/activate")
async def activate(
    request: Request, workflow_id: str, who: Principal = Depends(require("approver"))
) -> Response:
    c, catalogue = container(request), await _catalogue(request)
    return await _act(request, workflow_id, lambda: workflows.activate(c.db, workflow_id, who, catalogue))


@router.post("/ui/workflows/{workflow_id}/pause")
async def pause(
    request: Request, workflow_id: str, who: Principal = Depends(require("approver"))
) -> Response:
    return await _act(request, workflow_id, lambda: workflows.pause(container(request).db, workflow_id, who))


@router.post("/ui/workflows/{workflow_id}/resume")
async def resume(
    request: Request, workflow_id: str, who: Principal = Depends(require("approver"))
) -> Response:
    return await _act(request, workflow_id, lambda: workflows.resume(container(request).db, workflow_id, who))


@router.post("/ui/workflows/{workflow_id}/versions")
async def new_version(
    request: Request, workflow_id: str, who: Principal = Depends(require("operator"))
) -> Response:
    c = container(request)
    sentence = str((await request.form()).get("request") or "").strip()
    if len(sentence) < 8:
        return await _page(request, workflow_id, error="Describe the new version in a sentence.")
    try:
        draft = await workflows.draft(
            c.db, lambda r: c.orchestrator.advance_now(r, worker_id()), sentence, who, edits=workflow_id
        )
    except ServiceError as exc:
        return await _page(request, workflow_id, error=exc.message)
    return _see(f"/ui/workflows/{draft['id']}")


# -- work by hand ------------------------------------------------------------------------------------
def _errors(exc: ValidationError) -> dict[str, str]:
    return {".".join(map(str, e["loc"])) or "form": e["msg"] for e in exc.errors()}


@router.get("/ui/work")
def work_page(request: Request, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    return _render(request, "work.html", {"ticket": {}, "record": {"kind": "invoice", "currency": "EUR"}})


@router.post("/ui/work/ticket")
async def submit_ticket(request: Request, who: Principal = Depends(require("operator"))) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        body = TicketIn.model_validate({k: form.get(k, "") for k in ("subject", "body", "requester_email")})
    except ValidationError as exc:
        return _render(
            request,
            "work.html",
            {"ticket": form, "record": {"kind": "invoice"}, "ticket_errors": _errors(exc)},
            422,
        )
    c = container(request)
    run_id, _ = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=body.model_dump(), source="ui", actor=who.name
    )
    c.wake()
    return _see(f"/ui/runs/{run_id}")


@router.post("/ui/work/record")
async def submit_record(request: Request, who: Principal = Depends(require("operator"))) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    fields = {k: v for k, v in form.items() if v and k in RecordIn.model_fields}
    try:
        body = RecordIn.model_validate(fields)
    except ValidationError as exc:
        return _render(
            request, "work.html", {"ticket": {}, "record": form, "record_errors": _errors(exc)}, 422
        )
    payload = body.model_dump(mode="json", exclude_none=True)
    payload["currency"] = payload["currency"].upper()
    run_id, _ = intake.submit(
        container(request).db, kind="record", run_kind="record", payload=payload, source="ui", actor=who.name
    )
    container(request).wake()
    return _see(f"/ui/runs/{run_id}")


@router.post("/ui/connections/{name}/webhook-secret")
async def set_secret(request: Request, name: str, who: Principal = Depends(require("admin"))) -> Response:
    c = container(request)
    secret = str((await request.form()).get("secret") or "")
    try:
        webhook_secrets.set_webhook_secret(c.db, c.box, name, secret, who.name)
    except ServiceError as exc:
        from app.web.routes import error_page

        return error_page(request, exc.status, exc.message)
    return _see(f"/ui/connections?secret_set={name}#conn-{name}")
