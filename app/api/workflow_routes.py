"""Workflow routes beyond draft/list/activate: one workflow, dry run, pause, resume,
new versions, history, what the model can draft; and connections' webhook secrets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.agent.orchestrator import worker_id
from app.api.deps import container, require
from app.main import Container
from app.services import webhook_secrets, workflow_dryrun, workflows
from app.services.auth import Principal
from app.services.errors import Invalid

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Approver = Annotated[Principal, Depends(require("approver"))]
Admin = Annotated[Principal, Depends(require("admin"))]
C = Annotated[Container, Depends(container)]


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: dict[str, Any] | None = None


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: str | None = Field(default=None, min_length=8, max_length=2000)
    spec: dict[str, Any] | None = None


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str = Field(min_length=1, max_length=webhook_secrets.MAX_LENGTH)


async def draft_from_sentence(
    c: Container, request: str, who: Principal, edits: str | None = None
) -> dict[str, Any]:
    return await workflows.draft(
        c.db, lambda run_id: c.orchestrator.advance_now(run_id, worker_id()), request, who, edits=edits
    )


@router.get("/workflows/help")
def workflow_help(who: Viewer, c: C) -> dict[str, Any]:
    return workflows.help_text(c.db)


@router.get("/workflows/{workflow_id}")
async def get_workflow(workflow_id: str, who: Viewer, c: C) -> dict[str, Any]:
    w = workflows.get_workflow(c.db, workflow_id)
    return {
        **w,
        "problems": workflows.check_spec(w["spec"], await c.pool.load(), workflows.connection_kinds(c.db)),
    }


@router.post("/workflows/{workflow_id}/dry-run")
async def dry_run(workflow_id: str, who: Operator, c: C, body: DryRunIn | None = None) -> dict[str, Any]:
    """What the workflow would do with an event: reads run, nothing is written."""
    return await workflow_dryrun.dry_run(
        c.db, workflow_id, await c.pool.load(), c.policy(), body.event if body else None, actor=who.name
    )


@router.post("/workflows/{workflow_id}/pause")
def pause(workflow_id: str, who: Approver, c: C) -> dict[str, Any]:
    return workflows.pause(c.db, workflow_id, who)


@router.post("/workflows/{workflow_id}/resume")
def resume(workflow_id: str, who: Approver, c: C) -> dict[str, Any]:
    return workflows.resume(c.db, workflow_id, who)


@router.post("/workflows/{workflow_id}/versions", status_code=201)
async def new_version(workflow_id: str, body: VersionIn, who: Operator, c: C) -> dict[str, Any]:
    """Edit: a new draft version, from a sentence or an edited spec; the active one runs until it is activated."""
    workflows.get_workflow(c.db, workflow_id)  # 404 before any drafting
    if body.request is None and body.spec is None:
        raise Invalid("send a new sentence (request) or an edited spec", field="request")
    if body.request is not None and body.spec is not None:
        raise Invalid("send either a new sentence (request) or an edited spec, not both", field="request")
    if body.request is not None:
        return await draft_from_sentence(c, body.request, who, edits=workflow_id)
    assert body.spec is not None
    problems = workflows.check_spec(body.spec, await c.pool.load(), workflows.connection_kinds(c.db))
    base = workflows.get_workflow(c.db, workflow_id)
    return workflows.save_draft(
        c.db, base["request"], who, {"spec": body.spec, "problems": problems}, edits=workflow_id
    )


@router.get("/workflows/{workflow_id}/history")
def history(workflow_id: str, who: Viewer, c: C) -> dict[str, Any]:
    return workflows.history(c.db, workflow_id)


@router.put("/connections/{name}/webhook-secret")
def set_webhook_secret(name: str, body: SecretIn, who: Admin, c: C) -> dict[str, Any]:
    return webhook_secrets.set_webhook_secret(c.db, c.box, name, body.secret, who.name)
