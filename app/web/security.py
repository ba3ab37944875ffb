"""Who is signed in to the web UI, what they may do, and cross-site request checks.

The UI signs in with an API token, and the HttpOnly, SameSite=Strict cookie (`sb_token`)
then holds a web session's own token (auth.start_session: the person's name and role, 12
hours, ended on the server by signing out or by revoking the API token); the API accepts the
same cookie, so the chat page can call it.
Roles are the API's roles, checked the same way. Any state-changing request
that a cookie authenticates must come from our own pages: its Origin (or,
failing that, Referer) must name this host, otherwise it is refused with 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.main import Container
from app.services.auth import Principal, authenticate

COOKIE = "sb_token"
COOKIE_MAX_AGE = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid sign-in: pages redirect to /ui/login (htmx requests get HX-Redirect)."""


class RoleRequired(Exception):
    def __init__(self, role: str, who: Principal):
        super().__init__(f"this needs the {role} role; {who.name} has {who.role}")
        self.role = role
        self.who = who


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current(request: Request) -> Principal | None:
    """The signed-in person, from a Bearer header or the session cookie, or None."""
    cached: Principal | bool | None = getattr(request.state, "ui_principal", False)
    if cached is not False:
        return cached if isinstance(cached, Principal) else None
    token = _bearer(request) or request.cookies.get(COOKIE)
    who = authenticate(container(request).db, token) if token else None
    request.state.ui_principal = who
    return who


def signed_in(request: Request) -> Principal:
    who = current(request)
    if who is None:
        raise LoginRequired()
    return who


def require(role: str) -> Callable[..., Principal]:
    def check(who: Principal = Depends(signed_in)) -> Principal:
        if not who.can(role):
            raise RoleRequired(role, who)
        return who

    return check


def _netloc(url: str | None) -> str | None:
    if not url or url == "null":
        return None
    parts = urlsplit(url)
    return parts.netloc.lower() or None


def same_origin(request: Request) -> bool:
    """Origin (or Referer when a browser sent no Origin) names this host, or the configured public URL."""
    source = _netloc(request.headers.get("origin")) or (
        None if "origin" in request.headers else _netloc(request.headers.get("referer"))
    )
    if source is None:
        return False
    allowed = {request.headers.get("host", "").lower()}
    public = container(request).settings.public_url
    if public:
        allowed.add(_netloc(public) or "")
    return source in allowed


def login_redirect(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/ui/login" + (f"?next={quote(here, safe='')}" if request.method == "GET" else "")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return Response(status_code=302 if request.method == "GET" else 303, headers={"Location": target})


def set_session(response: Response, token: str, request: Request) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or (container(request).settings.public_url or "").startswith("https://"),
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class CsrfGuard:
    """Refuse cookie-authenticated state changes from other sites; add security headers to UI pages.
    (Body size, text and sign-in are checked before this, at the edge: app/api/edge.py.)

    Pure ASGI rather than `@app.middleware("http")`: that wrapper runs every request through
    a task group and memory streams, which costs more than this check."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(("/ui/", "/api/")) and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            if request.cookies.get(COOKIE) and not _bearer(request) and not same_origin(request):
                refused = JSONResponse(
                    {"error": "cross-site request refused: the Origin header does not match this site"}, 403
                )
                await refused(scope, receive, send)
                return
        if not (path == "/ui" or path.startswith("/ui/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


def template_user(who: Principal | None) -> dict[str, Any]:
    if who is None:
        return {"name": None, "role": None}
    return {
        "name": who.name,
        "role": who.role,
        "can_operate": who.can("operator"),
        "can_approve": who.can("approver"),
        "is_admin": who.can("admin"),
    }
