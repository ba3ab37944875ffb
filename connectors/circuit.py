"""A circuit breaker: stop calling a system that keeps failing, and say so plainly.

Retries ride out a blip; they make an outage worse. After `failure_threshold`
failed calls in a row the breaker *opens*: every call fails at once with a
`CircuitOpenError` that tells the model and the run what is wrong and for how
long, and no request leaves this process. After `reset_after` seconds it lets
one *trial* call through (half-open): success closes it, failure opens it again
for another `reset_after`.

`CircuitBreakerTransport` sits OUTSIDE the `RetryTransport` (see
`connectors.http.build_client(circuit=...)`), so one logical call, however many
attempts it took, counts once. A failure is what says "the system is not
working": a 5xx, a 429 still standing after the retries, a timeout, a
connection error. Any other answer (2xx-4xx) proves the system is up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal

import httpx

from connectors.base import ConnectorError

State = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]


class CircuitOpenError(ConnectorError):
    """The breaker is open: the system was not called. `retry_in` is seconds until a trial."""

    def __init__(self, message: str, *, retry_in: float, breaker: CircuitBreaker):
        super().__init__(message, retryable=True)
        self.retry_in = retry_in
        self.breaker = breaker


def describe_status(status: int) -> str:
    """'503 Service Unavailable'."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def describe_exception(exc: BaseException) -> str:
    """'ConnectTimeout' or 'ConnectError: [Errno 111] Connection refused'."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_failure_status(status: int) -> bool:
    return status >= 500 or status == 429


class CircuitBreaker:
    """Counts consecutive failures of one system and decides whether to call it.

    Shared by every client of one connection (one breaker per system, not per
    request). `clock` is monotonic (injectable for tests); `wall_clock` only turns
    `opened_at` into a time a person can read.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Clock = time.monotonic,
        name: str = "",
        *,
        wall_clock: Clock = time.time,
    ):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_after < 0:
            raise ValueError("reset_after must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.name = name
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._last_error: str | None = None
        self._opened_mono: float | None = None
        self._opened_wall: float | None = None
        self._trial_in_flight = False

    # --- what the service shows on the connection ---

    @property
    def state(self) -> State:
        """'closed', 'open', or 'half_open' (reset_after has passed: the next call is a trial)."""
        with self._lock:
            return self._current_state()

    @property
    def failures(self) -> int:
        """Consecutive failed calls (0 after any success)."""
        return self._failures

    @property
    def last_error(self) -> str | None:
        """The last failure, e.g. '503 Service Unavailable' or 'ConnectTimeout'."""
        return self._last_error

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker last opened (UTC), or None while it is closed."""
        with self._lock:
            if self._state == "closed" or self._opened_wall is None:
                return None
            return datetime.fromtimestamp(self._opened_wall, UTC)

    @property
    def retry_in(self) -> float:
        """Seconds until a trial call is let through (0 when closed or ready for a trial)."""
        with self._lock:
            return self._retry_in()

    def snapshot(self) -> dict[str, Any]:
        """Everything above as JSON-ready values."""
        opened = self.opened_at
        with self._lock:
            return {
                "name": self.name,
                "state": self._current_state(),
                "failures": self._failures,
                "failure_threshold": self.failure_threshold,
                "last_error": self._last_error,
                "opened_at": opened.isoformat() if opened else None,
                "retry_in": self._retry_in(),
            }

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state!r}, failures={self._failures})"

    # --- the protocol a caller follows: before_call, then exactly one of the three ---

    def before_call(self, system: str | None = None) -> None:
        """Raise CircuitOpenError if the system must not be called now; otherwise let
        the call through (as the trial, if the breaker was open long enough)."""
        with self._lock:
            state = self._current_state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_in_flight:
                self._state = "half_open"
                self._trial_in_flight = True
                return
            retry_in = self._retry_in()
            message = self._open_message(system, retry_in)
        raise CircuitOpenError(message, retry_in=retry_in, breaker=self)

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._opened_mono = self._opened_wall = None
            self._trial_in_flight = False

    def record_failure(self, error: str) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = error
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                self._state = "open"
                self._opened_mono = self._clock()
                self._opened_wall = self._wall_clock()
            self._trial_in_flight = False

    def record_abandoned(self) -> None:
        """The call ended without a verdict (cancelled, or failed inside this process):
        free the trial slot so the next call can be the trial."""
        with self._lock:
            self._trial_in_flight = False

    # --- internals (call with the lock held) ---

    def _current_state(self) -> State:
        if self._state == "open" and self._retry_in() <= 0:
            return "half_open"
        return self._state

    def _retry_in(self) -> float:
        if self._state != "open" or self._opened_mono is None:
            return 0.0
        return max(0.0, self._opened_mono + self.reset_after - self._clock())

    def _open_message(self, system: str | None, retry_in: float) -> str:
        who = self.name or system or "the system"
        n = self._failures
        what = f"{n} failure{'s' if n != 1 else ''} in a row"
        if self._last_error:
            what += f", last: {self._last_error}"
        if self._trial_in_flight:
            when = "a trial call is checking whether it is back"
        else:
            when = f"not calling it again for {max(1, math.ceil(retry_in))} s"
        return f"{who} is unavailable: {what}; {when}"


class CircuitBreakerTransport(httpx.AsyncBaseTransport):
    """Asks the breaker before each request and reports how it went.

    Wrap the RetryTransport with it, not the other way round, so the breaker sees
    one outcome per logical call."""

    def __init__(self, inner: httpx.AsyncBaseTransport, breaker: CircuitBreaker):
        self.inner = inner
        self.breaker = breaker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.breaker.before_call(request.url.host)
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:  # timeouts, connection errors, broken answers
            self.breaker.record_failure(describe_exception(exc))
            raise
        except BaseException:  # cancelled, or a bug here: says nothing about the system
            self.breaker.record_abandoned()
            raise
        if is_failure_status(response.status_code):
            self.breaker.record_failure(describe_status(response.status_code))
        else:
            self.breaker.record_success()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
