"""Who is signed in to the web UI, what they may do, and cross-site request checks.

The UI signs in with an API token kept in an HttpOnly, SameSite=Strict cookie
(`sb_token`); the API accepts the same cookie, so the chat page can call it.
Roles are the API's roles, checked the same way. Any state-changing request
that a cookie authenticates must come from our own pages: its Origin (or,
failing that, Referer) must name this host, otherwise it is refused with 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

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


async def csrf_guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse cookie-authenticated state changes from other sites; add security headers to UI pages.
    (Body size, text and sign-in are checked before this, at the edge: app/api/edge.py.)"""
    path = request.url.path
    guarded = path.startswith(("/ui/", "/api/"))
    if (
        guarded
        and request.method not in SAFE_METHODS
        and request.cookies.get(COOKIE)
        and not _bearer(request)
        and not same_origin(request)
    ):
        return JSONResponse(
            {"error": "cross-site request refused: the Origin header does not match this site"}, 403
        )
    response = await call_next(request)
    if path == "/ui" or path.startswith("/ui/"):
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


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
