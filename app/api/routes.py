"""The HTTP API of CONTRACT.md. Routes are thin: parse, authorize, call a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, get_args

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.agent.orchestrator import worker_id
from app.api.deps import container, require
from app.api.reads import Reads, reads
from app.api.schemas import (
    ApproveIn,
    ChatIn,
    CorrectionIn,
    ReconciliationIn,
    RecordIn,
    RejectIn,
    RuleIn,
    TicketIn,
    TokenIn,
    WorkflowIn,
)
from app.main import Container
from app.services import (
    approvals,
    auth,
    chat,
    connections,
    corrections,
    events,
    intake,
    paging,
    reruns,
    rules,
    views,
    webhooks,
    workflows,
)
from app.services.auth import Principal
from app.services.errors import Invalid

router = APIRouter(prefix="/api/v1")


@router.post("/tickets", status_code=202)
def post_ticket(
    body: TicketIn, who: Principal = Depends(require("operator")), c: Container = Depends(container)
) -> JSONResponse:
    if body.external_id is not None and (
        problem := intake.ticket_id_problem(
            c.pool.catalogue(), "api", body.external_id, intake.ticket_system(c.db)
        )
    ):
        raise Invalid(problem, field="external_id")
    run_id, created = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=body.model_dump(), source="api", actor=who.name
    )
    c.wake()
    return JSONResponse({"run_id": run_id, "created": created}, status_code=202)


@router.post("/records", status_code=202)
def post_record(
    body: dict[str, Any] = Body(...),
    who: Principal = Depends(require("operator")),
    c: Container = Depends(container),
) -> JSONResponse:
    """A financial record, or `{"kind": "reconciliation", "period": "2026-11"}` for month-end."""
    schema: type[RecordIn] | type[ReconciliationIn] = (
        ReconciliationIn if body.get("kind") == "reconciliation" else RecordIn
    )
    kinds = (*get_args(RecordIn.model_fields["kind"].annotation), "reconciliation")
    if body.get("kind") not in kinds:
        raise Invalid(f"kind must be one of {', '.join(kinds)}, not {body.get('kind')!r}", field="kind")
    try:
        parsed = schema.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    payload = parsed.model_dump(mode="json", exclude_none=True)
    if "currency" in payload:
        payload["currency"] = payload["currency"].upper()
    run_id, created = intake.submit(
        c.db, kind="record", run_kind="record", payload=payload, source="api", actor=who.name
    )
    c.wake()
    return JSONResponse({"run_id": run_id, "created": created}, status_code=202)


def _paged(request: Request, page: paging.Page) -> JSONResponse:
    """The page's items as the bare JSON list CONTRACT.md names, and the next page's URL (this query
    with the next cursor) in a `Link: <…>; rel="next"` header (RFC 8288, as GitHub's API does): the
    body keeps the shape existing clients parse, and a client that ignores the header still gets the
    newest items. No header on the last page. The items are plain JSON already, so they go out as
    they are rather than through FastAPI's encoder (which cost more than the query)."""
    headers = {}
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse(page.items, headers=headers)


@router.get("/runs", response_model=list[dict[str, Any]])
async def get_runs(
    request: Request,
    status: str | None = None,
    kind: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = Query(paging.DEFAULT_LIMIT, ge=1),
    who: Principal = Depends(require("viewer")),
    c: Container = Depends(container),
    read: Reads = Depends(reads),
) -> JSONResponse:
    """Runs newest first, a page at a time (see `_paged`)."""
    filters = views.RunFilters(status or None, kind or None, created_after, created_before)
    page = await read(views.page_runs, c.db, filters, cursor=cursor, limit=limit, viewer=who)
    return _paged(request, page)


@router.get("/runs/{run_id}")
async def get_run(
    run_id: str,
    who: Principal = Depends(require("viewer")),
    c: Container = Depends(container),
    read: Reads = Depends(reads),
) -> dict[str, Any]:
    return await read(views.run_view, c.db, run_id, who)


@router.post("/runs/{run_id}/again", status_code=202)
def run_again(
    run_id: str, who: Principal = Depends(require("operator")), c: Container = Depends(container)
) -> JSONResponse:
    """A failed run once more: a new queued run on the same item with the same input (409 unless
    the run failed and its kind may run again; see app/services/reruns.py)."""
    result = reruns.run_again(c.db, run_id, who)
    c.wake()
    return JSONResponse(result, status_code=202)


@router.get("/approvals", response_model=list[dict[str, Any]])
async def get_approvals(
    request: Request,
    status: str | None = "pending",
    risk: str | None = None,
    connection: str | None = None,
    tool: str | None = None,
    operation: str | None = None,
    kind: str | None = None,
    run_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = Query(paging.DEFAULT_LIMIT, ge=1),
    who: Principal = Depends(require("viewer")),
    c: Container = Depends(container),
    read: Reads = Depends(reads),
) -> JSONResponse:
    """Actions newest first (`status=all` or empty for every status), a page at a time (see `_paged`);
    each a summary, the whole action at GET /approvals/{id}."""
    filters = approvals.ActionFilters(
        None if status in (None, "", "all") else status,
        risk or None,
        connection or None,
        tool or None,
        operation or None,
        kind or None,
        run_id or None,
        created_after,
        created_before,
    )
    page = await read(approvals.page_actions, c.db, filters, cursor=cursor, limit=limit)
    return _paged(request, page)


@router.get("/approvals/{action_id}", response_model=dict[str, Any])
async def get_approval(
    action_id: str,
    who: Principal = Depends(require("viewer")),
    c: Container = Depends(container),
    read: Reads = Depends(reads),
) -> JSONResponse:
    return JSONResponse(await read(approvals.get_action, c.db, action_id))


@router.post("/approvals/{action_id}/approve")
def approve(
    action_id: str,
    body: ApproveIn | None = Body(default=None),
    who: Principal = Depends(require("approver")),
    c: Container = Depends(container),
) -> dict[str, Any]:
    result = approvals.approve(
        c.db,
        action_id,
        who,
        c.pool.catalogue,
        body.arguments if body else None,
        policy=c.policy,
        seen=body.version if body else None,
    )
    c.wake()
    return result


@router.post("/approvals/{action_id}/reject")
def reject(
    action_id: str,
    body: RejectIn,
    who: Principal = Depends(require("approver")),
    c: Container = Depends(container),
) -> dict[str, Any]:
    result = approvals.reject(c.db, action_id, who, body.reason)
    c.wake()
    return result


@router.post("/approvals/{action_id}/retry")
def retry(
    action_id: str, who: Principal = Depends(require("approver")), c: Container = Depends(container)
) -> dict[str, Any]:
    """Run a failed write again with the same idempotency key (409 unless it failed)."""
    result = approvals.retry(c.db, action_id, who, policy=c.policy, ttl_hours=c.settings.approval_ttl_hours)
    c.wake()
    return result


@router.post("/approvals/{action_id}/dismiss")
def dismiss(
    action_id: str,
    body: RejectIn,
    who: Principal = Depends(require("approver")),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """Accept that a failed write did not happen, with a reason the model is told (409 unless it failed)."""
    result = approvals.dismiss(c.db, action_id, who, body.reason)
    c.wake()
    return result


@router.get("/connections")
def get_connections(
    who: Principal = Depends(require("viewer")), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    return connections.list_connections(c.db, c.pool.breakers)


@router.post("/connections/{name}/test")
async def test_connection(
    name: str, who: Principal = Depends(require("operator")), c: Container = Depends(container)
) -> dict[str, Any]:
    return await c.pool.test(name)


@router.get("/tokens")
def get_tokens(
    who: Principal = Depends(require("admin")), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    return auth.list_tokens(c.db)


@router.post("/tokens", status_code=201)
def post_token(
    body: TokenIn, who: Principal = Depends(require("admin")), c: Container = Depends(container)
) -> dict[str, Any]:
    token_id, token = auth.create_token(c.db, body.name, body.role, actor=who.name)
    return {"id": token_id, "token": token, "name": body.name, "role": body.role}


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(
    token_id: str, who: Principal = Depends(require("admin")), c: Container = Depends(container)
) -> None:
    auth.revoke_token(c.db, token_id, actor=who.name)


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/chat")
async def post_chat(
    body: ChatIn, who: Principal = Depends(require("viewer")), c: Container = Depends(container)
) -> StreamingResponse:
    """One chat turn as a server-sent event stream (see app/services/events.py for the events)."""
    run_id, conversation_id = await run_in_threadpool(
        chat.start_turn, c.db, body.message, body.conversation_id, who
    )
    # Subscribe before the turn starts so no answer text is missed; unsubscribed when either side ends.
    deltas = c.deltas.subscribe(run_id)

    async def turn() -> None:
        try:
            await c.orchestrator.advance_now(
                run_id, worker_id(), on_delta=lambda text: c.deltas.publish(run_id, text)
            )
        finally:
            c.deltas.unsubscribe(run_id, deltas)

    # Advance the turn right here unless a worker takes it first; the stream reads committed steps either
    # way, plus the answer's text as it streams when it is advanced here (a worker's run shows no deltas).
    c.background(turn())

    async def stream() -> AsyncIterator[str]:
        try:
            yield events.sse("conversation", {"conversation_id": conversation_id, "run_id": run_id})
            async for chunk in events.run_events(c.db, run_id, deltas=deltas):
                yield chunk
        finally:
            c.deltas.unsubscribe(run_id, deltas)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/conversations/{conversation_id}")
def get_conversation(
    conversation_id: str, who: Principal = Depends(require("viewer")), c: Container = Depends(container)
) -> dict[str, Any]:
    return chat.conversation(c.db, conversation_id, who)


@router.get("/runs/{run_id}/events")
async def get_run_events(
    run_id: str,
    after: int = Query(0, ge=0),
    who: Principal = Depends(require("viewer")),
    c: Container = Depends(container),
) -> StreamingResponse:
    """A run's steps as server-sent events from step `after` on, until it finishes or waits for people."""
    await run_in_threadpool(views.run_view, c.db, run_id, who)  # 404 before the stream starts
    c.wake()
    return StreamingResponse(
        events.run_events(c.db, run_id, after=after), media_type="text/event-stream", headers=SSE_HEADERS
    )


@router.get("/rules")
def get_rules(
    who: Principal = Depends(require("viewer")), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    return rules.list_rules(c.db)


@router.post("/rules", status_code=201)
def post_rule(
    body: RuleIn, who: Principal = Depends(require("admin")), c: Container = Depends(container)
) -> dict[str, Any]:
    """A standing rule: writes matching `tool` within the limits run without asking."""
    return rules.create_rule(c.db, who, **body.model_dump())


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(
    rule_id: str, who: Principal = Depends(require("admin")), c: Container = Depends(container)
) -> None:
    rules.revoke_rule(c.db, rule_id, who)


@router.post("/webhooks/{connection}", status_code=202)
async def post_webhook(connection: str, request: Request, c: Container = Depends(container)) -> JSONResponse:
    """A system's event. No bearer token: the vendor's signature, checked with the connection's secret."""
    body = await request.body()
    url = webhooks.vendor_url(c.settings.public_url, _as_sent(request), request.scope.get("root_path", ""))
    result = await run_in_threadpool(
        webhooks.receive, c.db, c.box, connection, request.headers, body, method=request.method, url=url
    )
    if "accepted" not in result:  # the system asked for an answer (Slack's URL check), not an event
        return JSONResponse(result, status_code=200)
    c.wake()
    return JSONResponse(result, status_code=202)


def _as_sent(request: Request) -> str:
    """The request's URL as its sender wrote it: the raw path, not `request.url`'s decoded one
    (a vendor signs `/hooks/a%20b`, and `/hooks/a b` would not match its signature)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{request.url.scheme}://{request.url.netloc}{path}" + (f"?{query}" if query else "")


@router.post("/workflows", status_code=201)
async def post_workflow(
    body: WorkflowIn, who: Principal = Depends(require("operator")), c: Container = Depends(container)
) -> dict[str, Any]:
    """Draft a workflow from a sentence; it does nothing until an approver activates it."""
    return await workflows.draft(
        c.db, lambda r: c.orchestrator.advance_now(r, worker_id()), body.request, who
    )


@router.get("/workflows")
def get_workflows(
    who: Principal = Depends(require("viewer")), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    return workflows.list_workflows(c.db)


@router.post("/workflows/{workflow_id}/activate")
async def activate_workflow(
    workflow_id: str, who: Principal = Depends(require("approver")), c: Container = Depends(container)
) -> dict[str, Any]:
    catalogue = await c.pool.load()
    return await run_in_threadpool(workflows.activate, c.db, workflow_id, who, catalogue)


@router.post("/runs/{run_id}/classification")
def correct_classification(
    run_id: str,
    body: CorrectionIn,
    who: Principal = Depends(require("approver")),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """A person fixes a ticket's category; the next similar ticket learns from it."""
    categories = [t["name"] for t in c.taxonomy]
    return corrections.correct_category(c.db, run_id, body.category, who, categories)
