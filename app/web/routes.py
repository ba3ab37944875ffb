"""The web UI: server-rendered pages (Jinja2) made lively with htmx; no JavaScript build step.

Routes are thin, like the API's: authorize, call a service, render. Roles are
the API's (viewer reads, operator submits and tests connections, approver
decides, admin manages tokens). htmx requests (HX-Request header) get the
fragment they swap in; plain form posts get a redirect or a full page, so the
UI keeps working without JavaScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from app.services import (
    approvals,
    auth,
    connections,
    corrections,
    dashboard,
    decisions,
    followups,
    month_end,
    reruns,
    views,
)
from app.services.auth import ROLES, Principal
from app.services.bulk import bulk_refusal
from app.services.errors import Invalid, NotFound, ServiceError
from app.web import present
from app.web.security import (
    COOKIE,
    COOKIE_MAX_AGE,
    CsrfGuard,
    LoginRequired,
    RoleRequired,
    clear_session,
    container,
    current,
    login_redirect,
    require,
    same_origin,
    set_session,
    template_user,
)
from tools.base import UnknownTool

HERE = Path(__file__).parent
STATIC = HERE / "static"
RUN_STATUSES = views.RUN_STATUSES
ACTIVE_RUN = frozenset({"queued", "running"})
PAGE = 100  # queue items per page; more load on demand, so a long queue stays fast to render and refresh
RUNS_PAGE = 100
MAX_SHOWN = 2000

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.finalize = present.visible  # every {{ value }} shows its invisible characters
templates.env.tests["web_link"] = present.web_link
templates.env.filters.update(
    reltime=present.reltime,
    timetag=present.timetag,
    money=present.money,
    amount=present.amount,
    usd=present.usd,
    compact=present.compact,
    duration=present.duration,
    pretty=present.pretty,
    short_id=present.short_id,
    humanize=present.humanize,
    plain=present.plain,
    confidence=present.confidence,
    host=present.host,
)
templates.env.globals.update(
    argument_view=present.argument_view,
    result_ids=present.result_ids,
    diff=present.diff,
    as_datetime=present.as_datetime,
    nice_max=present.nice_max,
    inline_args=present.inline_args,
    pairs=present.pairs,
    now_utc=present.now_utc,
    roles=ROLES,
)

router = APIRouter(include_in_schema=False)


# -- rendering ----------------------------------------------------------------------------------------
def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    who = current(request)
    ctx: dict[str, Any] = {
        "user": template_user(who),
        "me": who,
        "path": request.url.path,
        "htmx": is_htmx(request),
        "local_model": container(request).settings.model == "local",
        **context,
    }
    if who is not None:
        by_status = dashboard.actions_by_status(container(request).db)
        ctx["nav_pending"] = by_status.get("pending", 0)
        ctx["nav_failed"] = by_status.get("failed", 0)
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def fragment_or_page(
    request: Request, fragment: str, context: dict[str, Any], *, title: str, status: int = 200
) -> HTMLResponse:
    """The fragment alone for htmx; wrapped in the layout for a plain browser request."""
    if is_htmx(request):
        return render(request, fragment, context, status)
    return render(request, "fragment_page.html", {**context, "fragment": fragment, "title": title}, status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return fragment_or_page(
        request, "_error.html", {"status": status, "message": message}, title="Error", status=status
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def form_lists(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


def _safe_next(value: str | None) -> str:
    target = unquote(value or "")
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/queue"


# -- entry and sign-in --------------------------------------------------------------------------------
@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=302)


@router.get("/ui")
@router.get("/ui/")
def ui_home() -> RedirectResponse:
    return RedirectResponse("/ui/queue", status_code=302)


@router.get("/ui/login")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await form_lists(request)
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: dict[str, list[str]]) -> Response:
    token = (form.get("token") or [""])[-1].strip()
    target = _safe_next((form.get("next") or [""])[-1])
    if "origin" in request.headers and not same_origin(request):
        return error_page(request, 403, "Sign-in refused: the form was posted from another site.")
    who = auth.authenticate(container(request).db, token) if token else None
    if who is None or who.session_id is not None:
        message = (
            "Paste an API token."
            if not token
            else "That token is unknown, revoked or expired."
            if who is None
            else "That is a web session's token; sign in with your API token."
        )
        return render(request, "login.html", {"next": target, "error": message}, 401)
    response = see_other(target)
    session = auth.start_session(container(request).db, who, hours=COOKIE_MAX_AGE / 3600)
    set_session(response, session, request)
    return response


@router.post("/ui/logout")
def logout(request: Request) -> Response:
    if token := request.cookies.get(COOKIE):
        auth.end_session(container(request).db, token)
    response = see_other("/ui/login")
    clear_session(response)
    return response


# -- the approval queue ------------------------------------------------------------------------------
def _tab(status: str | None) -> str:
    return status if status in dashboard.QUEUE_TABS else "pending"


def _panel(request: Request, tab: str, limit: int = PAGE, **extra: Any) -> dict[str, Any]:
    db = container(request).db
    limit = min(max(limit, PAGE), MAX_SHOWN)
    page = dashboard.queue_page(db, tab, limit=limit, viewer=_viewer(request))
    counts = dashboard.queue_counts(db)
    return {
        "tab": tab,
        "tabs": list(dashboard.QUEUE_TABS),
        "items": page.items,
        "counts": counts,
        "shown": len(page.items),
        "left": max(0, counts[tab] - len(page.items)) if page.next_cursor else 0,
        "cursor": page.next_cursor,
        "page": PAGE,
        "stamp": dashboard.queue_stamp(db),
        **extra,
    }


@router.get("/ui/queue")
def queue_page(
    request: Request, status: str = "pending", who: Principal = Depends(require("viewer"))
) -> HTMLResponse:
    return render(request, "queue.html", _panel(request, _tab(status)))


@router.get("/ui/queue/panel")
def queue_panel(
    request: Request,
    status: str = "pending",
    limit: int = PAGE,
    who: Principal = Depends(require("viewer")),
) -> HTMLResponse:
    """The live-refresh fragment: as many items as the page had loaded, so nobody loses their place."""
    return render(request, "_queue_panel.html", _panel(request, _tab(status), limit))


@router.get("/ui/queue/more")
def queue_more(
    request: Request,
    status: str = "pending",
    cursor: str = "",
    shown: int = 0,
    who: Principal = Depends(require("viewer")),
) -> HTMLResponse:
    """The page after `cursor`, appended in place of the "show more" button (`shown`: how many the
    page has already, for the count left and the live refresh)."""
    db = container(request).db
    tab = _tab(status)
    shown = min(max(shown, 0), MAX_SHOWN)
    try:
        page = dashboard.queue_page(
            db, tab, cursor=cursor or None, limit=max(1, min(PAGE, MAX_SHOWN - shown)), viewer=who
        )
    except ServiceError as exc:
        return error_page(request, exc.status, exc.message)
    total = dashboard.queue_counts(db)[tab]
    shown += len(page.items)
    left = max(0, total - shown) if page.next_cursor and shown < MAX_SHOWN else 0
    ctx = {
        "tab": tab,
        "items": page.items,
        "shown": shown,
        "left": left,
        "cursor": page.next_cursor,
        "page": PAGE,
    }
    return render(request, "_queue_more.html", ctx)


@router.get("/ui/queue/stamp")
def queue_stamp(request: Request, stamp: str = "", who: Principal = Depends(require("viewer"))) -> Response:
    """Polled every few seconds: tells the page (via HX-Trigger) when the queue changed."""
    now = dashboard.queue_stamp(container(request).db)
    if now == stamp:
        return Response(status_code=204)
    return Response(status_code=200, headers={"HX-Trigger": "queue-changed"})


def _item(request: Request, action_id: str) -> dict[str, Any]:
    return dashboard.queue_item(container(request).db, action_id, _viewer(request))


def _viewer(request: Request) -> Principal | None:
    """Who is signed in (set by the route's role check), for what the queue may show them."""
    return getattr(request.state, "ui_principal", None)


def _item_response(request: Request, action_id: str, *, status: int = 200, **extra: Any) -> HTMLResponse:
    try:
        item = _item(request, action_id)
    except NotFound as exc:
        return error_page(request, 404, exc.message)
    return fragment_or_page(
        request,
        "_queue_item.html",
        {"item": item, "standalone": True, **extra},
        title="Approval",
        status=status,
    )


@router.get("/ui/queue/{action_id}")
def queue_item(request: Request, action_id: str, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    return _item_response(request, action_id)


def _schema(request: Request, tool: str) -> dict[str, Any] | None:
    try:
        return container(request).pool.catalogue().get(tool).input_schema
    except (UnknownTool, ServiceError, KeyError):
        return None


def _edit_context(
    request: Request, item: dict[str, Any], args: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    arguments = args if args is not None else item["arguments"]
    fields = present.form_fields(_schema(request, item["tool"]), arguments)
    return {
        "item": item,
        "fields": fields,
        "arguments_json": present.pretty(arguments),
        "errors": {},
        "error": None,
        **extra,
    }


@router.get("/ui/queue/{action_id}/edit")
def edit_form(
    request: Request, action_id: str, who: Principal = Depends(require("approver"))
) -> HTMLResponse:
    try:
        item = _item(request, action_id)
    except NotFound as exc:
        return error_page(request, 404, exc.message)
    if item["status"] != "pending":
        return _item_response(request, action_id, status=409, error=f"This action is {item['status']} now.")
    return fragment_or_page(
        request, "_edit_form.html", _edit_context(request, item), title="Edit and approve"
    )


@router.post("/ui/queue/{action_id}/approve")
async def approve(
    request: Request, action_id: str, who: Principal = Depends(require("approver"))
) -> Response:
    form = await form_lists(request)
    return await run_in_threadpool(_approve, request, action_id, who, form)


def _approve(request: Request, action_id: str, who: Principal, form: dict[str, list[str]]) -> Response:
    c = container(request)
    arguments: dict[str, Any] | None = None
    if (form.get("mode") or [""])[-1] == "edit":
        try:
            item = _item(request, action_id)
        except NotFound as exc:
            return error_page(request, 404, exc.message)
        fields = present.form_fields(_schema(request, item["tool"]), item["arguments"])
        arguments, errors = present.parse_form(fields, form, item["arguments"])
        if arguments is None:
            ctx = _edit_context(request, item, errors=errors, error="Fix the fields marked below.")
            ctx["fields"] = _refill(ctx["fields"], form)
            if fields is None:
                ctx["arguments_json"] = (form.get("arguments_json") or [""])[-1]
            return _form_again(request, action_id, ctx)
    with_reply = (form.get("with_reply") or [""])[-1] == "1" and arguments is None
    reply = _follow_up(request, action_id) if with_reply else None
    try:
        seen = (form.get("version") or [""])[-1] or None
        approvals.approve(c.db, action_id, who, c.pool.catalogue, arguments, policy=c.policy, seen=seen)
        if reply is not None:
            followups.approve_ahead(c.db, action_id, who, reply)
    except Invalid as exc:
        item = _item(request, action_id)
        ctx = _edit_context(request, item, arguments, error=exc.message)
        return _form_again(request, action_id, ctx)
    except ServiceError as exc:
        return _item_response(request, action_id, status=exc.status, error=exc.message)
    c.wake()
    if not is_htmx(request):
        return see_other("/ui/queue")
    flash = (
        "Approved: the ticket is created in a moment, then the reply is posted on it."
        if reply is not None
        else "Approved. It runs in a moment."
    )
    return _item_response(request, action_id, flash=flash)


def _follow_up(request: Request, action_id: str) -> str | None:
    """The reply shown on a new ticket's card, which approving "ticket and reply" approves too."""
    try:
        item = _item(request, action_id)
    except NotFound:
        return None
    if item["operation"] != followups.CREATE or item["status"] != "pending":
        return None
    reply = item["origin"].get("reply")
    return reply if isinstance(reply, str) else None


def _form_again(request: Request, action_id: str, ctx: dict[str, Any]) -> HTMLResponse:
    """The edit form with its errors, swapped in where the form was (not over the whole item)."""
    response = fragment_or_page(request, "_edit_form.html", ctx, title="Edit and approve", status=422)
    if is_htmx(request):
        response.headers["HX-Retarget"] = f"#a-{action_id} .qi-body"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def _refill(fields: list[dict[str, Any]] | None, form: dict[str, list[str]]) -> list[dict[str, Any]] | None:
    """Put what the person typed back into the form after an error, so nothing is lost."""
    if fields is None:
        return None
    for f in fields:
        values = form.get(f"f_{f['name']}")
        if f["widget"] == "checkbox":
            f["value"] = bool(values) and (values or [""])[-1] == "true"
        elif values is not None:
            f["value"] = values[-1]
    return fields


@router.post("/ui/queue/{action_id}/reject")
async def reject(request: Request, action_id: str, who: Principal = Depends(require("approver"))) -> Response:
    form = await form_lists(request)
    return await run_in_threadpool(_reject, request, action_id, who, form)


def _reject(request: Request, action_id: str, who: Principal, form: dict[str, list[str]]) -> Response:
    c = container(request)
    reason = (form.get("reason") or [""])[-1]
    try:
        approvals.reject(c.db, action_id, who, reason)
    except Invalid as exc:
        return _item_response(request, action_id, status=422, reject_error=exc.message, rejecting=True)
    except ServiceError as exc:
        return _item_response(request, action_id, status=exc.status, error=exc.message)
    c.wake()
    if not is_htmx(request):
        return see_other("/ui/queue")
    flash = _rejected_flash(c.settings.model, approvals.get_action(c.db, action_id), reason)
    return _item_response(request, action_id, flash=flash)


def _rejected_flash(model: str, action: dict[str, Any], reason: str) -> str:
    """What happens next, truthfully: a hosted model reads the reason; the offline one redrafts
    a public reply for its tone or length, and otherwise leaves the write undone."""
    if model != "local":
        return "Rejected. The reason goes back to the model, which may propose something else."
    from app.llm.local.redraft import what_to_change

    args = action.get("arguments") or {}
    if action.get("operation") == "add_comment" and args.get("public", True) and what_to_change(reason):
        return (
            "Rejected. The offline model redrafts the reply as asked; the new draft appears here to approve."
        )
    return "Rejected. The reason is recorded with the run; this write will not happen."


@router.post("/ui/queue/{action_id}/retry")
async def retry(request: Request, action_id: str, who: Principal = Depends(require("approver"))) -> Response:
    """A failed write runs again, with the same idempotency key."""
    c = container(request)
    try:
        approvals.retry(c.db, action_id, who, policy=c.policy, ttl_hours=c.settings.approval_ttl_hours)
    except ServiceError as exc:
        return _item_response(request, action_id, status=exc.status, error=exc.message)
    c.wake()
    if not is_htmx(request):
        return see_other("/ui/queue?status=failed")
    return _item_response(request, action_id, flash="Retrying with the same idempotency key.")


@router.post("/ui/queue/{action_id}/dismiss")
async def dismiss(
    request: Request, action_id: str, who: Principal = Depends(require("approver"))
) -> Response:
    """A person accepts that a failed write did not happen; the model is told why."""
    c = container(request)
    form = await form_lists(request)
    reason = (form.get("reason") or [""])[-1]
    try:
        approvals.dismiss(c.db, action_id, who, reason)
    except Invalid as exc:
        return _item_response(request, action_id, status=422, dismiss_error=exc.message, dismissing=True)
    except ServiceError as exc:
        return _item_response(request, action_id, status=exc.status, error=exc.message)
    c.wake()
    if not is_htmx(request):
        return see_other("/ui/queue?status=failed")
    return _item_response(request, action_id, flash="Dismissed. The run goes on without it.")


@router.post("/ui/queue/bulk")
async def bulk(request: Request, who: Principal = Depends(require("approver"))) -> Response:
    """Approve or reject several low-risk, undoable actions at once. Money movements, final
    submissions, public messages and anything irreversible are refused here whatever the page
    sent: each must be opened and decided on its own."""
    form = await form_lists(request)
    return await run_in_threadpool(_bulk, request, who, form)


def _bulk(request: Request, who: Principal, form: dict[str, list[str]]) -> Response:
    c = container(request)
    ids = form.get("ids") or []
    decision = (form.get("decision") or [""])[-1]
    reason = (form.get("reason") or [""])[-1].strip()
    done: list[str] = []
    skipped: list[str] = []
    if decision not in ("approve", "reject"):
        skipped.append("choose approve or reject")
    elif not ids:
        skipped.append("select at least one item")
    elif decision == "reject" and not reason:
        skipped.append("a reason is required to reject")
    else:
        for action_id in ids:
            try:
                a = approvals.get_action(c.db, action_id)
                refused = bulk_refusal(a)
                if refused is not None:
                    skipped.append(
                        f"{present.short_id(action_id)}: {refused}; open it and decide it on its own"
                    )
                    continue
                if decision == "approve":
                    approvals.approve(c.db, action_id, who, c.pool.catalogue, policy=c.policy)
                else:
                    approvals.reject(c.db, action_id, who, reason)
                done.append(action_id)
            except ServiceError as exc:
                skipped.append(f"{present.short_id(action_id)}: {exc.message}")
        c.wake()
    verb = "Approved" if decision == "approve" else "Rejected"
    flash = f"{verb} {len(done)} item{'s' if len(done) != 1 else ''}." if done else None
    status = 200 if done or not skipped else 422
    if not is_htmx(request):
        if status != 200:
            return render(
                request, "queue.html", _panel(request, "pending", flash=flash, problems=skipped), status
            )
        return see_other("/ui/queue")
    return render(
        request, "_queue_panel.html", _panel(request, "pending", flash=flash, problems=skipped), status
    )


# -- runs ---------------------------------------------------------------------------------------------
@router.get("/ui/runs")
def runs_page(
    request: Request,
    status: str | None = None,
    cursor: str | None = None,
    who: Principal = Depends(require("viewer")),
) -> HTMLResponse:
    """Runs newest first, a page at a time ("Older runs" follows the cursor)."""
    db = container(request).db
    status = status if status in RUN_STATUSES else None
    try:
        page = views.page_runs(
            db, views.RunFilters(status=status), cursor=cursor, limit=RUNS_PAGE, viewer=who
        )
    except ServiceError as exc:
        return error_page(request, exc.status, exc.message)
    runs = page.items
    found = dashboard.origins(db, {r["id"] for r in runs})
    for r in runs:
        r["origin"] = found.get(r["id"], {})
    ctx = {
        "runs": runs,
        "status": status,
        "statuses": RUN_STATUSES,
        "next_cursor": page.next_cursor,
        "paged": bool(cursor),
    }
    return render(request, "runs.html", ctx)


@router.get("/ui/runs/{run_id}")
def run_page(request: Request, run_id: str, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    db = container(request).db
    try:
        run = views.run_view(db, run_id, who)
    except NotFound as exc:
        return error_page(request, 404, exc.message)
    origin = dashboard.origins(db, {run_id}).get(run_id, {})
    return render(
        request,
        "run.html",
        {
            "run": run,
            "origin": origin,
            "timeline": present.timeline(run),
            "active": run["status"] in ACTIVE_RUN,
            "categories": [t["name"] for t in container(request).taxonomy],
            # whether a failed run may run again, why not, or the run it was run again as
            "again": reruns.offer(db, run_id) if run["status"] == "failed" else None,
        },
    )


@router.post("/ui/runs/{run_id}/again")
def run_again(request: Request, run_id: str, who: Principal = Depends(require("operator"))) -> Response:
    """A failed run once more, as a new run on the same item; its page follows. A plain `def`: the
    store work, and the error page's, runs on a worker thread."""
    c = container(request)
    try:
        result = reruns.run_again(c.db, run_id, who)
    except ServiceError as exc:
        return error_page(request, exc.status, exc.message)
    c.wake()
    return see_other(f"/ui/runs/{result['run_id']}")


@router.post("/ui/runs/{run_id}/classification")
async def correct(request: Request, run_id: str, who: Principal = Depends(require("approver"))) -> Response:
    """A person fixes the category; the next similar ticket learns from it."""
    form = await form_lists(request)
    return await run_in_threadpool(_correct, request, run_id, who, form)


def _correct(request: Request, run_id: str, who: Principal, form: dict[str, list[str]]) -> Response:
    c = container(request)
    category = (form.get("category") or [""])[-1]
    try:
        corrections.correct_category(c.db, run_id, category, who, [t["name"] for t in c.taxonomy])
    except ServiceError as exc:
        return error_page(request, exc.status, exc.message)
    return see_other(f"/ui/runs/{run_id}")


# -- reconciliation ------------------------------------------------------------------------------------
@router.get("/ui/reconciliation")
def reconciliation_page(
    request: Request, run: str | None = None, who: Principal = Depends(require("viewer"))
) -> HTMLResponse:
    db = container(request).db
    recent = month_end.recent(db)
    current = None
    chosen = run or (recent[0]["id"] if recent else None)
    if chosen:
        try:
            current = month_end.report(db, chosen)
        except NotFound as exc:
            return error_page(request, 404, exc.message)
    period = (current or {}).get("period") or month_end.default_period()
    return render(request, "reconciliation.html", {"recent": recent, "current": current, "period": period})


@router.post("/ui/reconciliation")
async def start_reconciliation(request: Request, who: Principal = Depends(require("operator"))) -> Response:
    c = container(request)
    form = await form_lists(request)
    period = (form.get("period") or [""])[-1]
    try:
        run_id = month_end.start(c.db, period, who)
    except Invalid as exc:
        ctx = {"recent": month_end.recent(c.db), "current": None, "period": period, "error": exc.message}
        return render(request, "reconciliation.html", ctx, 422)
    c.wake()
    return see_other(f"/ui/reconciliation?run={run_id}")


# -- chat ---------------------------------------------------------------------------------------------
@router.get("/ui/chat")
def chat_page(request: Request, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    return render(request, "chat.html", {})


# -- dashboard ----------------------------------------------------------------------------------------
@router.get("/ui/dashboard")
def dashboard_page(
    request: Request, days: int = 14, who: Principal = Depends(require("viewer"))
) -> HTMLResponse:
    days = min(max(days, 1), 90)
    db = container(request).db
    return render(
        request,
        "dashboard.html",
        {"s": dashboard.stats(db, days=days), "d": decisions.decision_stats(db, days=days)},
    )


# -- connections --------------------------------------------------------------------------------------
@router.get("/ui/connections")
def connections_page(request: Request, who: Principal = Depends(require("viewer"))) -> HTMLResponse:
    return render(
        request, "connections.html", {"connections": connections.list_connections(container(request).db)}
    )


@router.post("/ui/connections/{name}/test")
async def test_connection(
    request: Request, name: str, who: Principal = Depends(require("operator"))
) -> Response:
    c = container(request)
    try:
        outcome = await c.pool.test(name)
    except NotFound as exc:
        return await run_in_threadpool(error_page, request, 404, exc.message)
    if not is_htmx(request):
        return see_other("/ui/connections")
    return await run_in_threadpool(_tested, request, name, outcome)


def _tested(request: Request, name: str, outcome: dict[str, Any]) -> Response:
    rows = connections.list_connections(container(request).db)
    row = next((x for x in rows if x["name"] == name), None)
    if row is None:
        return error_page(request, 404, f"no connection {name}")
    return render(request, "_connection.html", {"conn": row, "tested": outcome, "connections": rows})


# -- tokens -------------------------------------------------------------------------------------------
@router.get("/ui/tokens")
def tokens_page(request: Request, who: Principal = Depends(require("admin"))) -> HTMLResponse:
    return render(
        request, "tokens.html", {"tokens": auth.list_tokens(container(request).db), "created": None}
    )


@router.post("/ui/tokens")
async def create_token(request: Request, who: Principal = Depends(require("admin"))) -> HTMLResponse:
    form = await form_lists(request)
    return await run_in_threadpool(_create_token, request, who, form)


def _create_token(request: Request, who: Principal, form: dict[str, list[str]]) -> HTMLResponse:
    db = container(request).db
    name = (form.get("name") or [""])[-1].strip()
    role = (form.get("role") or [""])[-1]
    try:
        token_id, token = auth.create_token(db, name, role, actor=who.name)
    except Invalid as exc:
        ctx = {
            "tokens": auth.list_tokens(db),
            "created": None,
            "error": exc.message,
            "name": name,
            "role": role,
        }
        return render(request, "tokens.html", ctx, 422)
    created = {"id": token_id, "token": token, "name": name, "role": role}
    return render(request, "tokens.html", {"tokens": auth.list_tokens(db), "created": created}, 201)


@router.post("/ui/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, who: Principal = Depends(require("admin"))) -> Response:
    try:
        auth.revoke_token(container(request).db, token_id, actor=who.name)
    except NotFound as exc:
        return error_page(request, 404, exc.message)
    return see_other("/ui/tokens")


# -- wiring -------------------------------------------------------------------------------------------
def install(app: FastAPI) -> None:
    """Add the UI to the API app: pages under /ui, assets under /static, GET / → /ui/."""
    from app.web.workflows import router as workflow_pages

    app.include_router(router)
    app.include_router(workflow_pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(CsrfGuard)

    async def need_login(request: Request, exc: Exception) -> Response:
        return login_redirect(request)

    async def need_role(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RoleRequired)
        message = f"This needs the {exc.role} role. You are signed in as {exc.who.name}, who has the {exc.who.role} role."
        return await run_in_threadpool(error_page, request, 403, message)

    app.add_exception_handler(LoginRequired, need_login)
    app.add_exception_handler(RoleRequired, need_role)
