"""The circuit breaker: opens after N failed calls, fails fast without calling, tries again.

The outage is the help-desk simulator's own fault injection over loopback, and the
simulator's request counter proves that an open breaker sends nothing. A fake
monotonic clock stands in for the wait before the trial call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.circuit import CircuitBreaker, CircuitBreakerTransport, CircuitOpenError
from connectors.helpdesk.client import HelpdeskConnector
from connectors.http import NO_RETRY, build_client
from tests.connectors.conftest import FakeSleep, Sim, retry_policy


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


WALL = 1_750_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=3, reset_after=30, clock=clock, name="helpdesk", wall_clock=lambda: WALL
    )


def connector(sim: Sim, breaker: CircuitBreaker, sleep: FakeSleep, **policy: Any) -> HelpdeskConnector:
    client = build_client(sim.url, retry=retry_policy(sleep, **policy), timeout=5.0, circuit=breaker)
    return HelpdeskConnector(client)


def requests_seen(sim: Sim) -> int:
    count: int = sim.fault_stats()["requests"]
    return count


async def fail(c: HelpdeskConnector, times: int, status: int = 503) -> None:
    for _ in range(times):
        with pytest.raises(ConnectorError) as err:
            await c.get_ticket(1)
        assert not isinstance(err.value, CircuitOpenError)
        assert err.value.status == status


async def test_opens_after_n_failures_and_fails_fast_while_open(
    helpdesk_sim: Sim, breaker: CircuitBreaker, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    helpdesk_sim.faults(fail_next=1000, status=503)
    c = connector(helpdesk_sim, breaker, fake_sleep, max_attempts=2)
    try:
        await fail(c, 2)
        assert (breaker.state, breaker.failures) == ("closed", 2)
        await fail(c, 1)
        assert breaker.state == "open"
        assert (breaker.failures, breaker.last_error) == (3, "503 Service Unavailable")
        assert breaker.opened_at == datetime.fromtimestamp(WALL, UTC)
        # One logical call = one failure, however many attempts the retries made.
        assert requests_seen(helpdesk_sim) == 6

        with pytest.raises(CircuitOpenError) as err:
            await c.get_ticket(1)
        assert str(err.value) == (
            "helpdesk is unavailable: 3 failures in a row, last: 503 Service Unavailable; "
            "not calling it again for 30 s"
        )
        assert err.value.retryable and err.value.retry_in == 30
        clock.advance(3.2)
        with pytest.raises(CircuitOpenError, match="not calling it again for 27 s"):
            await c.search_tickets("refund")
        assert requests_seen(helpdesk_sim) == 6  # nothing reached the system
        assert fake_sleep.delays == [0.5, 0.5, 0.5]  # and nobody waited for it either
    finally:
        await c.aclose()
    snap = breaker.snapshot()
    assert snap["state"] == "open" and snap["failures"] == 3 and snap["retry_in"] == pytest.approx(26.8)


async def test_half_open_trial_reopens_on_failure_and_closes_on_success(
    helpdesk_sim: Sim, breaker: CircuitBreaker, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    helpdesk_sim.faults(fail_next=1000, status=502)
    c = connector(helpdesk_sim, breaker, fake_sleep, max_attempts=1)
    try:
        await fail(c, 3, status=502)
        assert breaker.state == "open"
        clock.advance(30)
        assert (breaker.state, breaker.retry_in) == ("half_open", 0)

        await fail(c, 1, status=502)  # the trial goes through, and fails: open again
        assert requests_seen(helpdesk_sim) == 4
        assert (breaker.state, breaker.failures, breaker.last_error) == ("open", 4, "502 Bad Gateway")
        with pytest.raises(CircuitOpenError, match=r"4 failures in a row, last: 502 Bad Gateway; .* 30 s"):
            await c.get_ticket(1)
        assert requests_seen(helpdesk_sim) == 4  # the open breaker sent nothing

        clock.advance(30)
        helpdesk_sim.http.delete("/_faults")  # the system is back
        assert (await c.get_ticket(1))["id"] == 1  # the trial succeeds: closed
        assert (breaker.state, breaker.failures, breaker.opened_at) == ("closed", 0, None)
        assert (await c.get_ticket(2))["id"] == 2
        assert requests_seen(helpdesk_sim) == 2
    finally:
        await c.aclose()


async def test_success_resets_the_count_and_4xx_is_not_a_failure(
    helpdesk_sim: Sim, breaker: CircuitBreaker, fake_sleep: FakeSleep
) -> None:
    c = connector(helpdesk_sim, breaker, fake_sleep, max_attempts=1)
    try:
        helpdesk_sim.faults(fail_next=2, status=500)
        await fail(c, 2, status=500)
        await c.get_ticket(1)
        assert breaker.failures == 0
        helpdesk_sim.faults(fail_next=2, status=504)
        await fail(c, 2, status=504)
        for _ in range(3):  # the system answers, so it is up, even if the answer is "no"
            with pytest.raises(ConnectorError) as err:
                await c.get_ticket(999_999)
            assert err.value.status == 404
    finally:
        await c.aclose()
    assert (breaker.state, breaker.failures) == ("closed", 0)


async def test_429_still_standing_after_the_retries_counts(
    helpdesk_sim: Sim, breaker: CircuitBreaker, fake_sleep: FakeSleep
) -> None:
    helpdesk_sim.faults(rate_limit_next=1000, retry_after=2)
    c = connector(helpdesk_sim, breaker, fake_sleep, max_attempts=3)
    try:
        await fail(c, 3, status=429)
    finally:
        await c.aclose()
    assert breaker.state == "open" and breaker.last_error == "429 Too Many Requests"
    assert requests_seen(helpdesk_sim) == 9
    assert fake_sleep.delays == [2.0] * 6


@pytest.mark.parametrize(
    ("exc", "described"),
    [
        (httpx.ReadTimeout("timed out"), "ReadTimeout: timed out"),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "ConnectError: [Errno 111] Connection refused",
        ),
    ],
    ids=["timeout", "connect-error"],
)
async def test_timeouts_and_connection_errors_count(
    breaker: CircuitBreaker, exc: httpx.TransportError, described: str
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise exc

    client = build_client(
        "https://zendesk.example", retry=NO_RETRY, transport=httpx.MockTransport(handler), circuit=breaker
    )
    c = HelpdeskConnector(client)
    try:
        for _ in range(3):
            with pytest.raises(ConnectorError) as err:
                await c.get_ticket(1)
            assert err.value.retryable and not isinstance(err.value, CircuitOpenError)
        with pytest.raises(CircuitOpenError) as err:
            await c.get_ticket(1)
        assert str(err.value).endswith(f"last: {described}; not calling it again for 30 s")
    finally:
        await c.aclose()
    assert len(calls) == 3 and breaker.last_error == described


async def test_only_one_trial_at_a_time_and_a_cancelled_trial_frees_the_slot(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    release = asyncio.Event()
    answers = [503, 503, 503]
    started: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        started.append(request.url.path)
        if answers:
            return httpx.Response(answers.pop(0))
        await release.wait()
        return httpx.Response(200, json={})

    transport = CircuitBreakerTransport(httpx.MockTransport(handler), breaker)
    async with httpx.AsyncClient(base_url="https://api.example", transport=transport) as client:
        for _ in range(3):
            assert (await client.get("/x")).status_code == 503
        clock.advance(30)

        trial = asyncio.create_task(client.get("/trial"))
        await until(lambda: len(started) == 4)
        with pytest.raises(CircuitOpenError, match="a trial call is checking whether it is back"):
            await asyncio.wait_for(client.get("/other"), 2)  # a second trial would hang here
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        assert breaker.state == "half_open"  # no verdict from a cancelled trial

        second = asyncio.create_task(client.get("/trial2"))
        await until(lambda: len(started) == 5 or second.done())
        release.set()
        assert (await second).status_code == 200
    assert breaker.state == "closed"
    assert started == ["/x", "/x", "/x", "/trial", "/trial2"]


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


def test_message_without_a_name_uses_the_host_and_validation() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, reset_after=10, clock=clock)
    b.record_failure("ConnectTimeout")
    with pytest.raises(CircuitOpenError) as err:
        b.before_call("api.stripe.example")
    assert str(err.value) == (
        "api.stripe.example is unavailable: 1 failure in a row, last: ConnectTimeout; not calling it again for 10 s"
    )
    assert "state='open'" in repr(b)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
