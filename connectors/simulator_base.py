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
    methods, path         only requests with one of these methods / whose path contains
                          this text are affected (null = all)
    seed                  reseeds the RNG used by error_rate

Control endpoints (/_faults, /_state) skip faults and auth.
"""

from __future__ import annotations

import asyncio
import base64
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

CONTROL_PATHS = ("/_faults", "/_state")
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

    def update(self, changes: dict[str, Any]) -> FaultSettings:
        with self._lock:
            merged = self.settings.model_dump() | changes
            self.settings = FaultSettings.model_validate(merged)
            if "seed" in changes and self.settings.seed is not None:
                self.rng = random.Random(self.settings.seed)
            return self.settings

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.settings.model_dump() | {"requests": self.requests, "injected": self.injected}

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
class SimulatorAuth:
    """Expected credentials. With neither set, any request (even anonymous) is let in.

    `basic` is (username, password) - for Zendesk, ("{email}/token", api_token);
    `bearer` is a set of accepted tokens.
    """

    basic: tuple[str, str] | None = None
    bearer: frozenset[str] | None = None

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


def install(
    app: FastAPI,
    *,
    faults: Faults,
    auth: SimulatorAuth,
    error_body: ErrorBody,
    state_snapshot: Callable[[], Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Add the control endpoints and the fault/auth layer to a simulator app.

    The authenticated basic-auth username (or None) is left in `request.state.principal`.
    """

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

    @app.middleware("http")
    async def fault_and_auth_layer(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = relative_path(request)
        request.state.principal = None
        if path in CONTROL_PATHS:
            return await call_next(request)
        injection = faults.decide(request.method, path)
        if injection.latency:
            await sleep(injection.latency)
        if injection.status is not None:
            headers = {}
            if injection.retry_after is not None:
                headers["Retry-After"] = f"{injection.retry_after:g}"
            return JSONResponse(error_body(injection.status), status_code=injection.status, headers=headers)
        allowed, principal = auth.identify(request.headers.get("authorization"))
        if not allowed:
            return JSONResponse(
                error_body(401), status_code=401, headers={"WWW-Authenticate": 'Basic realm="Web"'}
            )
        request.state.principal = principal
        response = await call_next(request)
        if injection.delay_after_write and response.status_code < 400:
            await sleep(injection.delay_after_write)
        return response
