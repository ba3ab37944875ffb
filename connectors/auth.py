"""OAuth2 access tokens that renew themselves: client credentials and refresh tokens.

A connection configured with OAuth2 holds long-lived credentials (a client id and
secret, and for user-authorized apps a refresh token) and trades them for
short-lived access tokens. These `httpx.Auth` classes do that trade (RFC 6749
section 4.4 / section 6) so a connector never sees it:

- a token is fetched when there is none or when it expires within
  `refresh_margin` seconds, i.e. *before* it expires, and cached;
- if the API still answers 401 (the token was revoked or expired early), the
  token is renewed once and the request sent once more;
- one renewal at a time: concurrent requests wait for it instead of each
  spending a refresh token (which, where refresh tokens rotate, would lock out
  all but one of them);
- a rotated refresh token replaces the old one at once and is handed to
  `on_token` so the service can persist it;
- when the authorization server refuses (`invalid_grant`, `invalid_client`, ...)
  `on_failure` hears why and the request raises `OAuth2TokenError` (a
  `ConnectorError`) saying plainly that the credentials need renewing. A token
  endpoint that is down (429, 5xx) raises a retryable error instead: the
  credentials are fine, so `on_failure` is not called.

The token request is yielded through the same client as the API call, so it
gets that client's transport, retries, circuit breaker and timeout.

Secrets (client secret, refresh and access tokens) never appear in repr, str or
an error message.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus

import httpx

from connectors.base import ConnectorError
from connectors.circuit import describe_status

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# on_token(access_token_expires_at, refresh_token): expiry is None when the server did
# not say (`expires_in` missing); refresh_token is a new one to persist, or None when the
# server issued none. May be a coroutine function.
OnToken = Callable[[datetime | None, str | None], Any]
# on_failure(message): the server refused to renew the token; the connection needs a person.
OnFailure = Callable[[str], Any]
ClientAuthMethod = Literal["basic", "post"]

# Errors from the authorization server that no retry will fix (RFC 6749 section 5.2).
_REFUSALS = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "unsupported_grant_type",
        "invalid_request",
        "access_denied",
    }
)


class OAuth2TokenError(ConnectorError):
    """Getting an access token failed. `needs_reauth` is true when the credentials
    themselves were refused (a person must renew them), false when the token endpoint
    was merely unavailable. `error` is the OAuth2 error code, if the server gave one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        needs_reauth: bool = False,
        error: str | None = None,
    ):
        super().__init__(message, status=status, retryable=retryable)
        self.needs_reauth = needs_reauth
        self.error = error


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 section 2.3.1: both are form-urlencoded before they are joined and encoded.
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _as_timestamp(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    """Run a service callback (sync or async). Its failure must not fail the API call,
    which already has a good token, so it is logged and dropped."""
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("OAuth2 callback %s failed", getattr(callback, "__qualname__", callback))


class _OAuth2Auth(httpx.Auth):
    """The shared flow; subclasses say which grant they use."""

    requires_request_body = True  # a request may be sent twice (after a 401)
    grant_type: ClassVar[str] = ""
    reauth_hint: ClassVar[str] = ""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        *,
        scope: str | Sequence[str] | None = None,
        access_token: str | None = None,
        expires_at: datetime | float | None = None,
        refresh_margin: float = 60.0,
        clock: Clock = time.time,
        on_token: OnToken | None = None,
        on_failure: OnFailure | None = None,
        client_auth: ClientAuthMethod = "basic",
    ):
        url = httpx.URL(token_url)
        if not url.is_absolute_url:
            raise ValueError("token_url must be an absolute URL")
        if refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative")
        self.token_url = str(url)
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope if scope is None or isinstance(scope, str) else " ".join(scope)
        self.refresh_margin = refresh_margin
        self.client_auth = client_auth
        self._clock = clock
        self._on_token = on_token
        self._on_failure = on_failure
        self._access_token = access_token
        self._expires_at = _as_timestamp(expires_at)
        self._refresh_at = None if self._expires_at is None else self._expires_at - refresh_margin
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # --- what the service may look at ---

    @property
    def expires_at(self) -> datetime | None:
        """When the cached access token expires (UTC), if known."""
        return None if self._expires_at is None else datetime.fromtimestamp(self._expires_at, UTC)

    @property
    def has_token(self) -> bool:
        return self._access_token is not None

    def invalidate(self) -> None:
        """Forget the cached access token: the next request fetches a new one."""
        self._access_token = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, client_id={self.client_id!r}, secrets=***)"
        )

    # --- the flow ---

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        lock = self._get_lock()
        async with lock:
            if self._needs_token():
                token_response = yield self._token_request(request)
                await self._accept(token_response)
            token = self._access_token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # Revoked or expired early. Renew once - unless another request already did
        # while this one was in flight - and send the request once more.
        async with lock:
            if self._access_token == token:
                token_response = yield self._token_request(request)
                await self._accept(token_response)
            token = self._access_token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _get_lock(self) -> asyncio.Lock:
        # A lock belongs to one event loop; a service may drive this auth from several.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _needs_token(self) -> bool:
        if self._access_token is None:
            return True
        return self._refresh_at is not None and self._clock() >= self._refresh_at

    def _grant_fields(self) -> dict[str, str]:
        raise NotImplementedError

    def _token_request(self, api_request: httpx.Request) -> httpx.Request:
        data = {"grant_type": self.grant_type, **self._grant_fields()}
        if self.scope:
            data["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic" and self._client_secret is not None:
            headers["Authorization"] = _basic(self.client_id, self._client_secret)
        else:  # client_secret_post, or a public client (no secret)
            data["client_id"] = self.client_id
            if self._client_secret is not None:
                data["client_secret"] = self._client_secret
        extensions = {}
        if "timeout" in api_request.extensions:  # a bare Request would wait forever
            extensions["timeout"] = api_request.extensions["timeout"]
        return httpx.Request("POST", self.token_url, data=data, headers=headers, extensions=extensions)

    async def _accept(self, response: httpx.Response) -> None:
        """Take the token from the answer, or raise OAuth2TokenError."""
        await response.aread()
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        token = body.get("access_token")
        token_type = str(body.get("token_type") or "bearer").lower()
        if response.status_code == 200 and isinstance(token, str) and token and token_type == "bearer":
            await self._store(token, body)
            return
        await self._refused(response, body)

    async def _store(self, token: str, body: dict[str, Any]) -> None:
        now = self._clock()
        try:
            lifetime: float | None = float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            lifetime = None
        self._access_token = token
        if lifetime is None:
            self._expires_at = self._refresh_at = None  # used until the API answers 401
        else:
            # A token shorter-lived than the margin would otherwise be renewed on every call.
            self._expires_at = now + lifetime
            self._refresh_at = self._expires_at - min(self.refresh_margin, lifetime / 2)
        new_refresh = body.get("refresh_token")
        new_refresh = new_refresh if isinstance(new_refresh, str) and new_refresh else None
        if new_refresh is not None:
            self._rotate(new_refresh)
        await _call(self._on_token, self.expires_at, new_refresh)

    def _rotate(self, refresh_token: str) -> None:
        """Keep a refresh token the server issued (client credentials ignore it)."""

    async def _refused(self, response: httpx.Response, body: dict[str, Any]) -> None:
        status = response.status_code
        host = response.request.url.host or "the authorization server"
        error = body.get("error") if isinstance(body.get("error"), str) else None
        description = body.get("error_description")
        detail = error or describe_status(status)
        if isinstance(description, str) and description.strip():
            detail += f": {' '.join(description.split())[:200]}"
        detail = self._scrub(detail)
        if status == 429 or status >= 500:
            raise OAuth2TokenError(
                f"could not get an OAuth2 access token: {host} answered {detail}; try again later",
                status=status,
                retryable=True,
                error=error,
            )
        if status in (400, 401, 403) or error in _REFUSALS:
            message = (
                f"{host} refused to issue an OAuth2 access token ({detail}): "
                f"the credentials of this connection need renewing; {self.reauth_hint}"
            )
            await _call(self._on_failure, message)
            raise OAuth2TokenError(message, status=status, needs_reauth=True, error=error)
        raise OAuth2TokenError(
            f"could not get an OAuth2 access token: {host} answered {describe_status(status)} "
            "without a bearer access_token",
            status=status,
            error=error,
        )

    def _secrets(self) -> list[str]:
        return [s for s in (self._client_secret, self._access_token) if s]

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


class OAuth2ClientCredentials(_OAuth2Auth):
    """Client credentials grant (RFC 6749 section 4.4): machine-to-machine APIs.

    `on_token(expires_at, refresh_token)` hears of each new token; `on_failure(message)`
    of a refusal. `clock` is wall time in seconds (injectable for tests).
    """

    grant_type = "client_credentials"
    reauth_hint = "check or replace its client id and client secret"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | Sequence[str] | None = None,
        *,
        refresh_margin: float = 60.0,
        clock: Clock = time.time,
        on_token: OnToken | None = None,
        on_failure: OnFailure | None = None,
        client_auth: ClientAuthMethod = "basic",
    ):
        super().__init__(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            refresh_margin=refresh_margin,
            clock=clock,
            on_token=on_token,
            on_failure=on_failure,
            client_auth=client_auth,
        )

    def _grant_fields(self) -> dict[str, str]:
        return {}


class OAuth2RefreshToken(_OAuth2Auth):
    """Refresh token grant (RFC 6749 section 6): apps a person authorized once.

    Start from the stored refresh token (and, if still good, the stored access token
    and its expiry). Where the server rotates refresh tokens, the new one is used from
    then on and handed to `on_token` to persist; the old one is dead.
    `client_secret=None` is a public client (the client id goes in the form).
    """

    grant_type = "refresh_token"
    reauth_hint = "a person must sign in again to authorize it"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        refresh_token: str,
        access_token: str | None = None,
        expires_at: datetime | float | None = None,
        *,
        scope: str | Sequence[str] | None = None,
        refresh_margin: float = 60.0,
        clock: Clock = time.time,
        on_token: OnToken | None = None,
        on_failure: OnFailure | None = None,
        client_auth: ClientAuthMethod = "basic",
    ):
        if not refresh_token:
            raise ValueError("refresh_token is required")
        super().__init__(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            access_token=access_token,
            expires_at=expires_at,
            refresh_margin=refresh_margin,
            clock=clock,
            on_token=on_token,
            on_failure=on_failure,
            client_auth=client_auth,
        )
        self._refresh_token = refresh_token

    def _grant_fields(self) -> dict[str, str]:
        return {"refresh_token": self._refresh_token}

    def _rotate(self, refresh_token: str) -> None:
        self._refresh_token = refresh_token

    def _secrets(self) -> list[str]:
        return [*super()._secrets(), self._refresh_token]
