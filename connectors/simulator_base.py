"""What every simulator shares: fault injection, credential checks, control endpoints.

A simulator is a FastAPI app answering in its vendor's wire format. Tests and the
demo steer it over HTTP, so they work the same in-process and across processes:

    POST   /_faults   partial update, e.g. {"rate_limit_next": 2, "retry_after": 1}
    GET    /_faults   the current settings and counters
    DELETE /_faults   back to no faults, counters zeroed

Fault settings (all optional in a POST; unknown fields are a 422):
    latency_ms            every request waits this long before it is handled
    rate_limit_next       the next N requests answer 429 with Retry-After: retry_after
    retry_after           seconds in that Retry-After header
    fail_next             the next N requests answer `status`
    error_rate            each request answers `status` with this probability (seeded RNG)
    status                the status for fail_next/error_rate (default 503)
    delay_after_write_ms  a successful write is applied, then the answer waits this
                          long (a client timing out here has lost the answer, not the write)
    reject_auth           every request answers 401, as if the credentials expired
    outage_seconds        every request answers `status` for this many seconds from now,
                          then the system is back by itself (GET shows `outage_left`)
    methods, path         only requests with one of these methods / whose path contains
                          this text are affected (null = all)
    seed                  reseeds the RNG used by error_rate

Control endpoints (/_faults, /_state) skip faults and auth.

OAuth2 (any simulator, through `install(..., oauth=OAuthSettings(...))` or
`SimulatorAuth(oauth=...)`): an RFC 6749 token endpoint and access tokens that
expire, so a client's refresh logic meets the real thing.

    POST   /oauth/token       grant_type=client_credentials | refresh_token, form-encoded;
                              client auth by HTTP basic (or client_id/client_secret in the
                              form). Answers {"access_token", "token_type": "Bearer",
                              "expires_in", "refresh_token"?, "scope"?}; errors are
                              {"error": "invalid_grant" | "invalid_client" | ...,
                              "error_description"} with 400 (401 for invalid_client).
                              Faults apply to it; API auth does not.
    POST   /_oauth/grant      a new access + refresh token, as if a person had just
                              authorized the app (body optional: {"scope": "..."})
    POST   /_oauth/revoke     revoke every token issued so far (body optional:
                              {"refresh_tokens": false} to revoke access tokens only)
    GET    /_oauth            counters: token requests, tokens issued, live tokens

With OAuth on, the API needs a live access token (or the static credentials of
`SimulatorAuth`, if any are set); an expired or revoked one answers 401 with
`WWW-Authenticate: Bearer error="invalid_token"`. Refresh tokens rotate on use by
default: the old one then answers invalid_grant.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote_plus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

CONTROL_PATHS = ("/_faults", "/_state")
OAUTH_CONTROL_PATHS = ("/_oauth", "/_oauth/grant", "/_oauth/revoke")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# status -> the vendor's error body for an injected fault or an auth failure.
ErrorBody = Callable[[int], Any]


class FaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    rate_limit_next: int = Field(default=0, ge=0)
    retry_after: float = Field(default=1, ge=0)
    fail_next: int = Field(default=0, ge=0)
    delay_after_write_ms: int = Field(default=0, ge=0, le=600_000)
    reject_auth: bool = False
    outage_seconds: float = Field(default=0, ge=0, le=3600)
    methods: list[str] | None = None
    path: str | None = None
    seed: int | None = None


@dataclass
class Injection:
    """What the fault layer decided for one request."""

    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    delay_after_write: float = 0.0


class Faults:
    """Thread-safe fault settings: the demo's HTTP thread and tests both touch them."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._default_seed = seed
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings()
            self.rng = random.Random(self._default_seed)
            self.requests = 0
            self.injected = 0
            self._down_until = 0.0

    def update(self, changes: dict[str, Any]) -> FaultSettings:
        with self._lock:
            merged = self.settings.model_dump() | changes
            self.settings = FaultSettings.model_validate(merged)
            if "seed" in changes and self.settings.seed is not None:
                self.rng = random.Random(self.settings.seed)
            if "outage_seconds" in changes:
                self._down_until = time.monotonic() + self.settings.outage_seconds
            return self.settings

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            left = max(0.0, self._down_until - time.monotonic())
            return self.settings.model_dump() | {
                "requests": self.requests,
                "injected": self.injected,
                "outage_left": round(left, 3),
            }

    def _applies(self, method: str, path: str) -> bool:
        s = self.settings
        if s.methods is not None and method.upper() not in {m.upper() for m in s.methods}:
            return False
        return s.path is None or s.path in path

    def decide(self, method: str, path: str) -> Injection:
        """Consume this request's share of the configured faults."""
        with self._lock:
            self.requests += 1
            s = self.settings
            if not self._applies(method, path):
                return Injection()
            out = Injection(latency=s.latency_ms / 1000)
            if method.upper() in WRITE_METHODS:
                out.delay_after_write = s.delay_after_write_ms / 1000
            if s.reject_auth:
                out.status = 401
            elif time.monotonic() < self._down_until:
                out.status = s.status
            elif s.rate_limit_next > 0:
                s.rate_limit_next -= 1
                out.status, out.retry_after = 429, s.retry_after
            elif s.fail_next > 0:
                s.fail_next -= 1
                out.status = s.status
            elif s.error_rate > 0 and self.rng.random() < s.error_rate:
                out.status = s.status
            if out.status is not None:
                self.injected += 1
            return out


@dataclass
class OAuthSettings:
    """How a simulator's OAuth2 authorization server behaves.

    `clock` is wall time in seconds; tests pass a fake one (and the same one to the
    client) to move past expiry without waiting. Refresh tokens live until revoked
    unless `refresh_expires_in` is set.
    """

    client_id: str = "switchboard"
    client_secret: str = field(default="switchboard-client-secret", repr=False)
    expires_in: int = 3600
    refresh_expires_in: int | None = None
    rotate_refresh_tokens: bool = True
    # Most servers issue no refresh token for client credentials (RFC 6749 section 4.4.3).
    refresh_token_for_client_credentials: bool = False
    token_path: str = "/oauth/token"
    clock: Callable[[], float] = field(default=time.time, compare=False)


@dataclass
class _Grant:
    expires_at: float | None
    scope: str | None


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


class OAuthIssuer:
    """The token endpoint's state: live access and refresh tokens, and counters.

    Thread-safe: the demo serves it from uvicorn's thread while tests read it."""

    def __init__(self, settings: OAuthSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self.token_requests = 0
        self.issued = 0
        self.refreshed = 0
        self.refused = 0

    def validate(self, access_token: str) -> bool:
        """Is this a live access token (issued, not revoked, not expired)?"""
        with self._lock:
            grant = self._access.get(access_token)
            return grant is not None and not self._expired(grant)

    def token(self, authorization: str | None, content_type: str, body: bytes) -> dict[str, Any]:
        """Answer one token request, or raise OAuthError."""
        with self._lock:
            self.token_requests += 1
        try:
            form = self._parse_form(content_type, body)
            self._authenticate_client(authorization, form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required")
            if grant_type == "client_credentials":
                return self._issue(form.get("scope"), self.settings.refresh_token_for_client_credentials)
            if grant_type == "refresh_token":
                return self._refresh_grant(form.get("refresh_token"), form.get("scope"))
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except OAuthError:
            with self._lock:
                self.refused += 1
            raise

    def grant(self, scope: str | None = None) -> dict[str, Any]:
        """Tokens as an authorization-code exchange would give them: access + refresh."""
        return self._issue(scope, True)

    def revoke(self, *, refresh_tokens: bool = True) -> dict[str, int]:
        with self._lock:
            counts = {"revoked_access_tokens": len(self._access), "revoked_refresh_tokens": 0}
            self._access.clear()
            if refresh_tokens:
                counts["revoked_refresh_tokens"] = len(self._refresh)
                self._refresh.clear()
            return counts

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "token_requests": self.token_requests,
                "issued": self.issued,
                "refreshed": self.refreshed,
                "refused": self.refused,
                "live_access_tokens": sum(not self._expired(g) for g in self._access.values()),
                "live_refresh_tokens": sum(not self._expired(g) for g in self._refresh.values()),
                "client_id": self.settings.client_id,
                "expires_in": self.settings.expires_in,
                "token_path": self.settings.token_path,
            }

    # --- internals ---

    def _expired(self, grant: _Grant) -> bool:
        return grant.expires_at is not None and self.settings.clock() >= grant.expires_at

    @staticmethod
    def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError("invalid_request", "the body is not a valid form") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise OAuthError("invalid_request", "a parameter is repeated")
        return form

    def _authenticate_client(self, authorization: str | None, form: dict[str, str]) -> None:
        scheme, _, value = (authorization or "").partition(" ")
        in_form = "client_secret" in form
        if scheme.lower() == "basic" and value:
            if in_form:
                raise OAuthError("invalid_request", "use one client authentication method, not two")
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "Client authentication failed", 401) from None
            client = (unquote_plus(user), unquote_plus(password))
        elif in_form:
            client = (form.get("client_id", ""), form["client_secret"])
        else:
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        same_id = secrets.compare_digest(client[0].encode(), self.settings.client_id.encode())
        same_secret = secrets.compare_digest(client[1].encode(), self.settings.client_secret.encode())
        if not (same_id and same_secret):
            raise OAuthError("invalid_client", "Client authentication failed", 401)

    def _issue(self, scope: str | None, with_refresh: bool) -> dict[str, Any]:
        s = self.settings
        now = s.clock()
        access = "at_" + secrets.token_urlsafe(24)
        out: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": s.expires_in}
        with self._lock:
            # Forget tokens that expired long ago, so a long-running demo does not grow.
            for token in [
                t for t, g in self._access.items() if g.expires_at is not None and g.expires_at < now - 86400
            ]:
                del self._access[token]
            self._access[access] = _Grant(now + s.expires_in, scope)
            if with_refresh:
                refresh = "rt_" + secrets.token_urlsafe(32)
                expires = None if s.refresh_expires_in is None else now + s.refresh_expires_in
                self._refresh[refresh] = _Grant(expires, scope)
                out["refresh_token"] = refresh
            self.issued += 1
        if scope:
            out["scope"] = scope
        return out

    def _refresh_grant(self, refresh_token: str | None, scope: str | None) -> dict[str, Any]:
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or self._expired(grant):
                raise OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked")
            if scope and not set(scope.split()) <= set((grant.scope or "").split()):
                raise OAuthError("invalid_scope", "The requested scope exceeds the one granted")
            if self.settings.rotate_refresh_tokens:
                del self._refresh[refresh_token]
            self.refreshed += 1
        out = self._issue(scope or grant.scope, self.settings.rotate_refresh_tokens)
        if not self.settings.rotate_refresh_tokens:
            out["refresh_token"] = refresh_token
        return out


@dataclass
class SimulatorAuth:
    """Expected credentials. With none set, any request (even anonymous) is let in.

    `basic` is (username, password) - for Zendesk, ("{email}/token", api_token);
    `bearer` is a set of accepted tokens; `oauth` turns on the OAuth2 token endpoint,
    after which the API needs a live access token (or the basic/bearer credentials).
    """

    basic: tuple[str, str] | None = None
    bearer: frozenset[str] | None = None
    oauth: OAuthSettings | None = None

    @property
    def open(self) -> bool:
        return self.basic is None and not self.bearer

    def identify(self, authorization: str | None) -> tuple[bool, str | None]:
        """(allowed, principal): the principal is the basic-auth username, if any."""
        scheme, _, value = (authorization or "").partition(" ")
        principal = None
        basic: tuple[str, str] | None = None
        if scheme.lower() == "basic" and value:
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False, None
            basic, principal = (user, password), user
        if self.open:
            return True, principal
        if basic is not None and self.basic is not None:
            return basic == self.basic, principal
        if scheme.lower() == "bearer" and self.bearer:
            return value.strip() in self.bearer, None
        return False, None


def relative_path(request: Request) -> str:
    """The path inside this app, whether it is served alone or mounted under /sim/<name>."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def mount_base(request: Request) -> str:
    """This simulator's own root URL, for links it returns. Not request.base_url: under a
    Mount that is the outer app's root, and links must point inside the simulator (e.g.
    /sim/helpdesk/api/v2/...)."""
    root = request.scope.get("root_path", "")
    return str(request.url.replace(path=root, query="", fragment="")).rstrip("/")


class VendorError(Protocol):
    """A simulator's exception that knows its vendor-format answer."""

    status: int

    def body(self) -> Any: ...


def answer_errors(app: FastAPI, error_type: type[Exception]) -> None:
    """Answer `error_type` (a VendorError) with its own body and status."""

    async def vendor_error(_: Request, exc: Exception) -> Response:
        err = cast(VendorError, exc)
        headers = getattr(err, "headers", None) or None  # e.g. Stripe-Should-Retry
        return JSONResponse(err.body(), status_code=err.status, headers=headers)

    app.add_exception_handler(error_type, vendor_error)


class Snapshotting(Protocol):
    def snapshot(self) -> Any: ...


def simulator_app(
    title: str,
    *,
    state_name: str,
    state: Snapshotting,
    faults: Faults,
    auth: SimulatorAuth,
    error_body: ErrorBody,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    error_type: type[Exception] | None = None,
    controls: tuple[str, ...] = (),
    **fastapi_options: Any,
) -> FastAPI:
    """A simulator's FastAPI app with the wiring every one repeats: the state (as
    `app.state.<state_name>`), faults and auth on `app.state` for in-process tests, the
    fault/auth layer with /_faults and /_state (the state's snapshot), and, given
    `error_type`, its vendor-format error answers. `controls`: the simulator's own control
    paths (e.g. `/_webhook`), which skip faults and auth like /_faults."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, **fastapi_options)
    setattr(app.state, state_name, state)
    app.state.faults = faults
    app.state.auth = auth
    install(
        app,
        faults=faults,
        auth=auth,
        error_body=error_body,
        state_snapshot=state.snapshot,
        sleep=sleep,
        controls=controls,
    )
    if error_type is not None:
        answer_errors(app, error_type)
    return app


def install(
    app: FastAPI,
    *,
    faults: Faults,
    auth: SimulatorAuth,
    error_body: ErrorBody,
    state_snapshot: Callable[[], Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    oauth: OAuthSettings | None = None,
    controls: tuple[str, ...] = (),
) -> None:
    """Add the control endpoints and the fault/auth layer to a simulator app.

    The authenticated basic-auth username (or None) is left in `request.state.principal`.
    `oauth` (default: `auth.oauth`) adds the OAuth2 token endpoint; its issuer is
    `app.state.oauth` (None without OAuth).
    """
    oauth = oauth or auth.oauth
    issuer = OAuthIssuer(oauth) if oauth is not None else None
    app.state.oauth = issuer
    skip_all = CONTROL_PATHS + controls + (OAUTH_CONTROL_PATHS if issuer is not None else ())

    _install_controls(app, faults, state_snapshot)
    if issuer is not None:
        _install_oauth(app, issuer)
    check_credentials = _credentials_check(auth, issuer)

    @app.middleware("http")
    async def fault_and_auth_layer(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = relative_path(request)
        request.state.principal = None
        if path in skip_all:
            return await call_next(request)
        injection = faults.decide(request.method, path)
        if injection.latency:
            await sleep(injection.latency)
        if injection.status is not None:
            headers = {}
            if injection.retry_after is not None:
                headers["Retry-After"] = f"{injection.retry_after:g}"
            return JSONResponse(error_body(injection.status), status_code=injection.status, headers=headers)
        if issuer is not None and path == issuer.settings.token_path:
            return await call_next(request)  # the client authenticates in the token request
        allowed, principal, challenge = check_credentials(request.headers.get("authorization"))
        if not allowed:
            return JSONResponse(error_body(401), status_code=401, headers={"WWW-Authenticate": challenge})
        request.state.principal = principal
        response = await call_next(request)
        if injection.delay_after_write and response.status_code < 400:
            await sleep(injection.delay_after_write)
        return response


def _install_controls(app: FastAPI, faults: Faults, state_snapshot: Callable[[], Any] | None) -> None:
    """`/_faults` (read, change, reset) and, when the simulator has one, `/_state`."""

    @app.post("/_faults", include_in_schema=False)
    async def set_faults(changes: dict[str, Any]) -> Response:
        try:
            faults.update(changes)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return JSONResponse({"error": "InvalidFaults", "description": str(exc)}, status_code=422)
        return JSONResponse(faults.snapshot())

    @app.get("/_faults", include_in_schema=False)
    async def get_faults() -> dict[str, Any]:
        return faults.snapshot()

    @app.delete("/_faults", include_in_schema=False)
    async def reset_faults() -> dict[str, Any]:
        faults.reset()
        return faults.snapshot()

    if state_snapshot is not None:
        snapshot = state_snapshot

        @app.get("/_state", include_in_schema=False)
        async def get_state() -> Any:
            return snapshot()


def _credentials_check(
    auth: SimulatorAuth, issuer: OAuthIssuer | None
) -> Callable[[str | None], tuple[bool, str | None, str]]:
    """How the simulator judges an Authorization header: OAuth bearer tokens first when it
    issues them, then the configured static credentials."""

    def check_credentials(authorization: str | None) -> tuple[bool, str | None, str]:
        """(allowed, principal, the WWW-Authenticate challenge if not allowed)."""
        if issuer is not None:
            scheme, _, value = (authorization or "").partition(" ")
            token = value.strip()
            if scheme.lower() == "bearer" and token:
                if issuer.validate(token) or (auth.bearer and token in auth.bearer):
                    return True, None, ""
                challenge = (
                    'Bearer realm="api", error="invalid_token", '
                    'error_description="The access token is invalid, expired or revoked"'
                )
                return False, None, challenge
            if auth.open:  # OAuth on and nothing else configured: a token is required
                return False, None, 'Bearer realm="api"'
        allowed, principal = auth.identify(authorization)
        return allowed, principal, 'Basic realm="Web"'

    return check_credentials


def _install_oauth(app: FastAPI, issuer: OAuthIssuer) -> None:
    """The token endpoint and its control endpoints."""
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}

    @app.post(issuer.settings.token_path, include_in_schema=False)
    async def token(request: Request) -> Response:
        try:
            body = issuer.token(
                request.headers.get("authorization"),
                request.headers.get("content-type", ""),
                await request.body(),
            )
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(body, headers=no_store)

    async def optional_json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = await request.json()
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {}

    @app.post("/_oauth/grant", include_in_schema=False)
    async def grant(request: Request) -> Response:
        scope = (await optional_json(request)).get("scope")
        return JSONResponse(issuer.grant(scope if isinstance(scope, str) else None), headers=no_store)

    @app.post("/_oauth/revoke", include_in_schema=False)
    async def revoke(request: Request) -> dict[str, int]:
        data = await optional_json(request)
        return issuer.revoke(refresh_tokens=data.get("refresh_tokens", True) is not False)

    @app.get("/_oauth", include_in_schema=False)
    async def oauth_stats() -> dict[str, Any]:
        return issuer.snapshot()
