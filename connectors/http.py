"""The HTTP client every connector is handed: auth, timeouts, retries, rate limit.

Connectors only speak their vendor's API; everything about *how* requests survive
a flaky network lives here, once, as httpx transports and auth classes:

- `RetryTransport` retries what is safe to retry (see `RetryTransport.should_retry`):
  a retried write must never become a second write, so POST/PATCH (and any request
  marked with `NOT_IDEMPOTENT`) are repeated only when they carry an
  `Idempotency-Key` (or the header `IDEMPOTENCY_HEADER_EXTENSION` names) the system honours, when the failure happened before the request
  left this process, or on 429 (the system refused it without acting on it).
- `RateLimitTransport` spaces requests with a token bucket so a busy run does not
  earn 429s in the first place.
- `BearerAuth`, `ApiKeyAuth`, `zendesk_token_auth` (plus `httpx.BasicAuth`); OAuth2 with
  automatic refresh is in `connectors.auth`.
- `CircuitBreakerTransport` (`connectors.circuit`) fails fast while a system is down.

Sleep and clocks are injectable so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.aio import AiohttpTransport
from connectors.base import note_call
from connectors.circuit import CircuitBreaker, CircuitBreakerTransport
from connectors.ratelimit import Clock, Sleep
from connectors.ratelimit import TokenBucket as TokenBucket  # callers build a client's limit from here
from connectors.reach import PinnedTransport, PublicOnlyTransport

log = logging.getLogger("switchboard.connectors.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

# Put this in a request's `extensions` when the HTTP method claims idempotency but the
# endpoint does not keep it (Zendesk's PUT tickets/{id} with a comment adds a comment
# every time). The request is then retried like a POST without a key.
NOT_IDEMPOTENT_EXTENSION = "switchboard.not_idempotent"
NOT_IDEMPOTENT: dict[str, Any] = {NOT_IDEMPOTENT_EXTENSION: True}
# The header that carries the request's idempotency key, when the API names it something other
# than `Idempotency-Key` (an OpenAPI connection's `idempotency_header`): a request carrying it is
# as safe to repeat as one carrying `Idempotency-Key`.
IDEMPOTENCY_HEADER_EXTENSION = "switchboard.idempotency_header"

# Failures where the request never left this process: always safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures where the request may have reached the system: repeat only if it is safe.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `max_attempts` counts the first try (1 = never retry)."""

    max_attempts: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    # Extra random delay, up to this fraction of the backoff, so many clients that
    # failed together do not all come back at the same instant.
    jitter: float = 0.5
    # A Retry-After longer than this is cut to it: a worker should not park for an hour.
    retry_after_max: float = 60.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # The system's own word on one answer: True retry it (when safe), False never,
    # None decide by `statuses` (e.g. Stripe's `Stripe-Should-Retry` header and 409s).
    advice: Callable[[httpx.Response], bool | None] | None = field(default=None, compare=False)
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    clock: Clock = field(default=time.time, compare=False)  # wall clock, for HTTP-date Retry-After
    rng: random.Random = field(default_factory=random.Random, compare=False)
    # Told of each retry ({"attempt", "status" or "error", "wait_seconds", "method", "path"}), so
    # a connection's health can show that a system is rate limiting or failing.
    on_retry: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)

    def backoff(self, retry_number: int) -> float:
        """Delay before retry `retry_number` (1-based): exponential, capped, with jitter."""
        base = min(self.backoff_max, self.backoff_initial * (2 ** (retry_number - 1)))
        return min(self.backoff_max, base + self.rng.uniform(0, base * self.jitter))


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _keyed(request: httpx.Request) -> bool:
    named = request.extensions.get(IDEMPOTENCY_HEADER_EXTENSION)
    return "idempotency-key" in request.headers or (bool(named) and str(named) in request.headers)


def _safe_to_repeat(request: httpx.Request) -> bool:
    if request.extensions.get(NOT_IDEMPOTENT_EXTENSION):
        return _keyed(request)
    return request.method.upper() in IDEMPOTENT_METHODS or _keyed(request)


class RetryTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and retries transient failures that are safe to retry.

    After the last attempt a failing response is returned as is (the connector turns
    it into a ConnectorError with the system's message) and a failing exception is
    raised as is.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy | None = None):
        self.inner = inner
        self.policy = policy or RetryPolicy()

    def should_retry(
        self,
        request: httpx.Request,
        *,
        status: int | None = None,
        exc: Exception | None = None,
        response: httpx.Response | None = None,
    ) -> bool:
        if exc is not None:
            if isinstance(exc, _NOT_SENT):
                return True
            return isinstance(exc, _MAYBE_SENT) and _safe_to_repeat(request)
        advised = self.policy.advice(response) if self.policy.advice and response is not None else None
        if advised is not None:
            return advised and (status == 429 or _safe_to_repeat(request))
        if status not in self.policy.statuses:
            return False
        # 429 means the system refused the request without acting on it.
        return status == 429 or _safe_to_repeat(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= policy.max_attempts
            try:
                response = await self.inner.handle_async_request(request)
            except httpx.TransportError as exc:
                if last or not self.should_retry(request, exc=exc):
                    raise
                pause = policy.backoff(attempt)
                self._retrying(request, attempt, pause, error=type(exc).__name__)
                await policy.sleep(pause)
                continue
            if last or not self.should_retry(request, status=response.status_code, response=response):
                return response
            delay = parse_retry_after(response.headers.get("retry-after"), now=policy.clock())
            delay = policy.backoff(attempt) if delay is None else min(delay, policy.retry_after_max)
            await response.aclose()
            self._retrying(request, attempt, delay, status=response.status_code)
            await policy.sleep(delay)

    def _retrying(
        self,
        request: httpx.Request,
        attempt: int,
        delay: float,
        *,
        status: int | None = None,
        error: str = "",
    ) -> None:
        """Say that attempt `attempt` failed and another follows after `delay` seconds."""
        event: dict[str, Any] = {
            "attempt": attempt,
            "method": request.method,
            "path": request.url.path,
            "wait_seconds": round(delay, 2),
        }
        if status is not None:
            event["status"] = status
        else:
            event["error"] = error
        note_call(event)
        if self.policy.on_retry is not None:
            try:
                self.policy.on_retry(event)
            except Exception:  # a failing listener never stops the call
                log.exception("retry listener failed")

    async def aclose(self) -> None:
        await self.inner.aclose()


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Takes a token from the bucket before every request, retries included."""

    def __init__(self, inner: httpx.AsyncBaseTransport, bucket: TokenBucket):
        self.inner = inner
        self.bucket = bucket

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.bucket.acquire()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>` (OAuth2 access tokens, most modern APIs)."""

    def __init__(self, token: str):
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return "BearerAuth(token=***)"


class ApiKeyAuth(httpx.Auth):
    """An API key in a header (default `X-API-Key`) or, if `query_param` is set, the URL.

    Prefer the header: a key in the URL shows up wherever URLs are logged (httpx logs
    request URLs at INFO), so use `query_param` only for APIs that accept nothing else."""

    def __init__(
        self, key: str, *, header: str = "X-API-Key", query_param: str | None = None, prefix: str = ""
    ):
        self._key = key
        self.header = header
        self.query_param = query_param
        self.prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.query_param:
            # Appended to the query as it is: re-parsing it would re-encode what an OpenAPI
            # style deliberately left literal (`ids=1|2`, `filter[a]=b`, allowReserved values).
            pair = urlencode({self.query_param: self._key}).encode()
            query = request.url.query
            request.url = request.url.copy_with(query=query + b"&" + pair if query else pair)
        else:
            request.headers[self.header] = f"{self.prefix}{self._key}"
        yield request

    def __repr__(self) -> str:
        where = f"query_param={self.query_param!r}" if self.query_param else f"header={self.header!r}"
        return f"ApiKeyAuth({where}, key=***)"


def zendesk_token_auth(email: str, api_token: str) -> httpx.BasicAuth:
    """Zendesk API-token auth: basic auth as `{email}/token` with the token as password."""
    return httpx.BasicAuth(f"{email}/token", api_token)


def build_client(
    base_url: str,
    *,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | httpx.Timeout = 15.0,
    retry: RetryPolicy | None = None,
    rate_limit: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    rate_limiter: TokenBucket | None = None,
    circuit: CircuitBreaker | None = None,
    public_only: bool = False,
) -> httpx.AsyncClient:
    """An AsyncClient with retries (on by default: `RetryPolicy()`; pass `NO_RETRY` to
    turn them off) and, if `rate_limit` (requests/second) or `rate_limiter` is given,
    a token bucket in front of every attempt. `transport` is the innermost transport
    (e.g. `httpx.MockTransport` in tests). A `circuit` breaker goes outside the retries,
    so one call counts once however many attempts it took. `public_only` refuses, before any
    retry, requests to loopback, link-local and private addresses (connectors/reach.py)."""
    inner: httpx.AsyncBaseTransport = transport or AiohttpTransport()
    if public_only:  # each attempt to the addresses PublicOnlyTransport (outermost) checked
        inner = PinnedTransport(inner)
    bucket = rate_limiter or (TokenBucket(rate_limit) if rate_limit else None)
    if bucket is not None:
        inner = RateLimitTransport(inner, bucket)
    outer: httpx.AsyncBaseTransport = RetryTransport(inner, retry or RetryPolicy())
    if circuit is not None:
        outer = CircuitBreakerTransport(outer, circuit)
    if public_only:
        outer = PublicOnlyTransport(outer)
    all_headers = {"Accept": "application/json", "User-Agent": "switchboard/0.1"}
    all_headers.update(headers or {})
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        auth=auth,
        headers=all_headers,
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        transport=outer,
    )
