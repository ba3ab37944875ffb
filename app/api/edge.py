"""The edge: what every request meets before any route, in one pure ASGI middleware.

In order: the path and query string must be valid text; the caller is
authenticated from the token alone (in a worker thread, never on the event
loop), so a request without a valid token is refused before its body is read;
the rate limit is charged to the token, or to the client address when there
is none; the body is read from the stream up to the limit (a chunked body
without Content-Length is cut off the same way) and checked for invalid text.
Failed authentications are counted in metrics and sampled in the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import metrics
from app.api.ratelimit import RateLimiter
from app.api.reads import Reads, signed_in
from app.main import Container
from app.services.auth import Principal
from app.text import BadText, check_body, check_query, digits, problem
from app.web.security import COOKIE, login_redirect

log = logging.getLogger("switchboard.auth")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PASS_THROUGH = ("/sim/", "/static/")
WEBHOOKS = "/api/v1/webhooks/"
UI_OPEN = frozenset({"/ui/login", "/ui/logout"})


class FailureLog:
    """Log the first failed authentication, then at most one line per `every` seconds with a count."""

    def __init__(self, every: float = 10.0, clock: Any = time.monotonic):
        self.every = every
        self.clock = clock
        self._last = float("-inf")
        self._suppressed = 0

    def record(self, surface: str, path: str, client: str) -> None:
        metrics.AUTH_FAILURES.labels(surface).inc()
        now = self.clock()
        if now - self._last < self.every:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last line)" if self._suppressed else ""
        log.warning("authentication failed: %s %s from %s%s", surface, path, client, more)
        self._last, self._suppressed = now, 0


def _surface(path: str) -> str:
    if path.startswith(WEBHOOKS):
        return "webhook"
    return "ui" if path.startswith("/ui") else "api"


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or None


def _error(status: int, message: str, field: str | None = None, **headers: str) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
        body["fields"] = [field]
    return JSONResponse(body, status, headers=headers or None)


class Edge:
    def __init__(self, app: ASGIApp, container: Container, limiter: RateLimiter, reads: Reads):
        self.app = app
        self.container = container
        self.limiter = limiter
        self.reads = reads
        self.failures = FailureLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PASS_THROUGH):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refused, replay = await self._screen(scope, receive)
            if refused is not None:
                await refused(scope, receive, sending)
            else:
                await self.app(scope, replay, sending)
        finally:
            path = scope["path"]
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
            if status == 401 or (status == 302 and scope.get("state", {}).get("auth_failed")):
                client = (scope.get("client") or ("?",))[0]
                self.failures.record(_surface(path), route if route != "unmatched" else path, client)

    async def _screen(self, scope: Scope, receive: Receive) -> tuple[Response | None, Receive]:
        """A response that refuses the request, or None and the receive channel to hand on."""
        request = Request(scope)
        path, method = scope["path"], scope["method"]
        settings = self.container.settings
        if (why := problem(path)) is not None:
            return _error(400, f"the path {why}", "path"), receive
        try:
            check_query(scope.get("query_string", b""))
        except BadText as exc:
            return _error(422, f"{exc.field}: {exc.message}", exc.field), receive

        api = path.startswith("/api/") and not path.startswith(WEBHOOKS)
        ui = path == "/ui" or path.startswith("/ui/")
        who: Principal | None = None
        token = _token(request) if (api or ui) else None
        if token:
            who = await signed_in(self.container, self.reads, token)
        state = scope.setdefault("state", {})
        state["principal"] = state["ui_principal"] = who
        state["auth_failed"] = bool(token) and who is None

        # A failed token lookup is charged wherever it happens (a page read with a guessed cookie
        # answers as the API does: signed in or not), so guessing is as slow on every surface.
        # /metrics reads the database at each scrape: charged too, so no one floods it with scrapes.
        limited = (
            path.startswith("/api/")
            or path == "/metrics"
            or (ui and method not in SAFE_METHODS)
            or state["auth_failed"]
        )
        client = (scope.get("client") or ("?",))[0]
        key = f"token:{who.token_id}" if who is not None else f"addr:{client}"
        if limited and not self.limiter.allow(key):
            return _error(429, "too many requests; slow down", **{"Retry-After": "1"}), receive

        if api and who is None:
            if not token:
                message = "missing bearer token: send 'Authorization: Bearer TOKEN'"
            else:
                message = "unknown, revoked or expired token"
            return _error(401, message, **{"WWW-Authenticate": "Bearer"}), receive
        if ui and who is None and method not in SAFE_METHODS and path not in UI_OPEN:
            return login_redirect(request), receive

        if method in SAFE_METHODS and not (
            request.headers.get("content-length") or request.headers.get("transfer-encoding")
        ):
            return None, receive
        limit = settings.max_body_bytes
        length = request.headers.get("content-length", "")
        if digits(length) and int(length) > limit:
            return _error(413, f"body too large: limit is {limit} bytes"), receive
        body, refused = await _read_body(receive, limit)
        if refused is not None:
            return refused, receive
        try:
            check_body(body, request.headers.get("content-type", ""))
        except BadText as exc:
            status = 400 if exc.field == "body" else 422
            return _error(status, f"{exc.field}: {exc.message}", exc.field), receive
        return None, _replay(body, receive)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, Response | None]:
    """The whole body, or a 413 as soon as it passes `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", _error(400, "the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", _error(413, f"body too large: limit is {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
