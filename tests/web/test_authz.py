"""The authorization matrix: every route of the app × every role → exactly the expected status.

Routes are enumerated from the app itself, so a new route without a row here
fails the test: decide who may call it, then add the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.services.auth import ROLES
from tests.web.conftest import Ui, make_ui

PUBLIC = "public"
MISSING = "missing0000"

# (method, route path) → (least role that may call it, status it answers that role, optional body).
# Path parameters are filled from `params` below: real ids where the page should render (200),
# unknown ids where a call would change something (the status then shows auth passed: 404).
MATRIX: dict[tuple[str, str], tuple[str, int, dict[str, Any] | None]] = {
    # public
    ("GET", "/healthz"): (PUBLIC, 200, None),
    ("GET", "/metrics"): (PUBLIC, 200, None),
    ("GET", "/openapi.json"): (PUBLIC, 200, None),
    ("GET", "/docs"): (PUBLIC, 200, None),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, 200, None),
    ("GET", "/redoc"): (PUBLIC, 200, None),
    ("GET", "/"): (PUBLIC, 302, None),
    ("GET", "/ui"): (PUBLIC, 302, None),
    ("GET", "/ui/"): (PUBLIC, 302, None),
    ("GET", "/ui/login"): (PUBLIC, 200, None),
    ("POST", "/ui/login"): (PUBLIC, 401, {}),  # no token in the form
    ("POST", "/ui/logout"): (PUBLIC, 303, {}),
    # the API
    ("POST", "/api/v1/tickets"): ("operator", 422, {}),
    ("POST", "/api/v1/records"): ("operator", 422, {}),
    ("GET", "/api/v1/runs"): ("viewer", 200, None),
    ("GET", "/api/v1/runs/{run_id}"): ("viewer", 200, None),
    ("GET", "/api/v1/runs/{run_id}/events"): ("viewer", 200, None),
    ("GET", "/api/v1/approvals"): ("viewer", 200, None),
    ("GET", "/api/v1/approvals/{action_id}"): ("viewer", 200, None),
    ("POST", "/api/v1/approvals/{action_id}/approve"): ("approver", 404, {}),
    ("POST", "/api/v1/approvals/{action_id}/reject"): ("approver", 404, {"reason": "no"}),
    ("POST", "/api/v1/approvals/{action_id}/retry"): ("approver", 404, {}),
    ("POST", "/api/v1/approvals/{action_id}/dismiss"): ("approver", 404, {"reason": "no"}),
    ("GET", "/api/v1/connections"): ("viewer", 200, None),
    ("POST", "/api/v1/connections/{name}/test"): ("operator", 200, {}),
    ("GET", "/api/v1/tokens"): ("admin", 200, None),
    ("POST", "/api/v1/tokens"): ("admin", 422, {}),
    ("DELETE", "/api/v1/tokens/{token_id}"): ("admin", 404, None),
    ("POST", "/api/v1/chat"): ("viewer", 422, {}),
    ("GET", "/api/v1/conversations/{conversation_id}"): ("viewer", 404, None),
    ("GET", "/api/v1/rules"): ("viewer", 200, None),
    ("POST", "/api/v1/rules"): ("admin", 422, {}),
    ("DELETE", "/api/v1/rules/{rule_id}"): ("admin", 404, None),
    ("POST", "/api/v1/runs/{run_id}/classification"): ("approver", 422, {}),
    ("POST", "/api/v1/runs/{run_id}/again"): ("operator", 409, None),  # the run did not fail
    ("GET", "/api/v1/workflows"): ("viewer", 200, None),
    ("POST", "/api/v1/workflows"): ("operator", 422, {}),
    ("POST", "/api/v1/workflows/{workflow_id}/activate"): ("approver", 404, None),
    ("GET", "/api/v1/workflows/help"): ("viewer", 200, None),
    ("GET", "/api/v1/workflows/{workflow_id}"): ("viewer", 404, None),
    ("GET", "/api/v1/workflows/{workflow_id}/history"): ("viewer", 404, None),
    ("POST", "/api/v1/workflows/{workflow_id}/dry-run"): ("operator", 404, None),
    ("POST", "/api/v1/workflows/{workflow_id}/pause"): ("approver", 404, None),
    ("POST", "/api/v1/workflows/{workflow_id}/resume"): ("approver", 404, None),
    ("POST", "/api/v1/workflows/{workflow_id}/versions"): ("operator", 404, {}),
    ("PUT", "/api/v1/connections/{name}/webhook-secret"): ("admin", 422, {}),  # no secret in the body
    # a system's events carry the vendor's signature instead of a token
    ("POST", "/api/v1/webhooks/{connection}"): (PUBLIC, 404, {}),
    # the web UI
    ("POST", "/ui/runs/{run_id}/classification"): ("approver", 422, {}),
    ("POST", "/ui/runs/{run_id}/again"): ("operator", 409, {}),  # the run did not fail
    ("GET", "/ui/queue"): ("viewer", 200, None),
    ("GET", "/ui/queue/panel"): ("viewer", 200, None),
    ("GET", "/ui/queue/more"): ("viewer", 200, None),
    ("GET", "/ui/queue/stamp"): ("viewer", 200, None),
    ("GET", "/ui/queue/{action_id}"): ("viewer", 200, None),
    ("GET", "/ui/queue/{action_id}/edit"): ("approver", 200, None),
    ("POST", "/ui/queue/{action_id}/approve"): ("approver", 404, {}),
    ("POST", "/ui/queue/{action_id}/reject"): ("approver", 404, {"reason": "no"}),
    ("POST", "/ui/queue/{action_id}/retry"): ("approver", 404, {}),
    ("POST", "/ui/queue/{action_id}/dismiss"): ("approver", 404, {"reason": "no"}),
    ("POST", "/ui/queue/bulk"): ("approver", 422, {}),
    ("GET", "/ui/runs"): ("viewer", 200, None),
    ("GET", "/ui/runs/{run_id}"): ("viewer", 200, None),
    ("GET", "/ui/reconciliation"): ("viewer", 200, None),
    ("POST", "/ui/reconciliation"): ("operator", 422, {}),  # no period in the form
    ("GET", "/ui/chat"): ("viewer", 200, None),
    ("GET", "/ui/dashboard"): ("viewer", 200, None),
    ("GET", "/ui/connections"): ("viewer", 200, None),
    ("POST", "/ui/connections/{name}/test"): ("operator", 303, {}),  # a plain form post: back to the page
    ("GET", "/ui/workflows"): ("viewer", 200, None),
    ("POST", "/ui/workflows"): ("operator", 422, {}),  # no sentence
    ("GET", "/ui/workflows/{workflow_id}"): ("viewer", 404, None),
    ("POST", "/ui/workflows/{workflow_id}/activate"): ("approver", 404, {}),
    ("POST", "/ui/workflows/{workflow_id}/pause"): ("approver", 404, {}),
    ("POST", "/ui/workflows/{workflow_id}/resume"): ("approver", 404, {}),
    ("POST", "/ui/workflows/{workflow_id}/dry-run"): ("operator", 404, {}),
    ("POST", "/ui/workflows/{workflow_id}/versions"): ("operator", 404, {}),
    ("GET", "/ui/work"): ("viewer", 200, None),
    ("POST", "/ui/work/ticket"): ("operator", 422, {}),
    ("POST", "/ui/work/record"): ("operator", 422, {}),
    ("POST", "/ui/connections/{name}/webhook-secret"): ("admin", 422, {}),  # an empty secret
    ("GET", "/ui/tokens"): ("admin", 200, None),
    ("POST", "/ui/tokens"): ("admin", 422, {}),
    ("POST", "/ui/tokens/{token_id}/revoke"): ("admin", 404, {}),
}
MOUNTS = {"/static"}
RANK = {role: i for i, role in enumerate(ROLES)}


def app_routes(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, including those of included routers (any FastAPI version)."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.16x includes routers lazily
    except ImportError:  # older FastAPI flattens included routers into app.routes
        routes: Any = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    for route in routes:
        methods = getattr(route, "methods", None)
        if methods is None:
            continue
        for method in sorted(methods - {"HEAD"}):
            yield method, route.path


def app_mounts(app: Any) -> set[str]:
    from starlette.routing import Mount

    return {r.path for r in app.routes if isinstance(r, Mount)}


def expected(route: tuple[str, str], role: str | None) -> int:
    least, allowed, _ = MATRIX[route]
    if least == PUBLIC:
        return allowed
    if role is None:
        if route[1].startswith("/ui"):
            return 302 if route[0] == "GET" else 303  # to the sign-in page
        return 401
    return allowed if RANK[role] >= RANK[least] else 403


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> Any:
    ui, app = await make_ui(db_url, tmp_path)
    yield ui, app
    await ui.client.aclose()
    await ui.c.pool.aclose()


async def test_every_route_is_in_the_matrix(world: tuple[Ui, Any]) -> None:
    _, app = world
    found = set(app_routes(app))
    missing = sorted(found - set(MATRIX))
    stale = sorted(set(MATRIX) - found)
    assert not missing, f"routes with no row in MATRIX (decide who may call them): {missing}"
    assert not stale, f"MATRIX rows for routes that no longer exist: {stale}"
    assert app_mounts(app) == MOUNTS


async def test_every_route_for_every_role(world: tuple[Ui, Any]) -> None:
    ui, app = world
    action_id = ui.pending()[0]["id"]
    params = {"run_id": ui.run_id, "action_id": action_id, "name": "helpdesk"}
    params.update(
        token_id=MISSING, conversation_id=MISSING, rule_id=MISSING, connection=MISSING, workflow_id=MISSING
    )
    surprises = []
    for method, path in sorted(set(app_routes(app))):
        _, _, body = MATRIX[(method, path)]
        url = path
        for key, value in params.items():
            # calls that would change something target an unknown id (404 proves auth passed)
            changes = method != "GET" and key in ("action_id", "token_id")
            url = url.replace("{" + key + "}", MISSING if changes else value)
        assert not re.search(r"{\w+}", url), f"no value for a path parameter in {path}"
        for role in (None, *ROLES):
            if path.startswith("/ui"):
                headers = {**ui.cookie(role), "Origin": "http://sb.test"}
                kw: dict[str, Any] = {"data": body} if body is not None else {}
            else:
                headers = ui.bearer(role)
                kw = {"json": body} if body is not None else {}
            r = await ui.client.request(method, url, headers=headers, **kw)
            want = expected((method, path), role)
            if r.status_code != want:
                surprises.append(f"{method} {url} as {role or 'nobody'}: {r.status_code}, expected {want}")
                continue

            if role is None and want in (302, 303) and MATRIX[(method, path)][0] != PUBLIC:
                assert r.headers["location"].startswith("/ui/login"), (method, url, r.headers)
            if want == 403 and path.startswith("/ui"):
                assert "needs the" in r.text and "role" in r.text
    assert not surprises, "\n".join(surprises)


async def test_static_assets_are_public(world: tuple[Ui, Any]) -> None:
    ui, _ = world
    for asset in ("app.css", "app.js", "htmx.min.js", "favicon.svg"):
        r = await ui.client.get(f"/static/{asset}")
        assert r.status_code == 200 and len(r.content) > 100, asset
