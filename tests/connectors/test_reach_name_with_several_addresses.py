"""A guarded plain-http request to a name with several public addresses reaches it when one
of them does not answer.

A guarded plain-http request is sent to an address its name was checked at (DNS rebinding);
when no connection can be made to it (nothing was sent), the name's next checked address is
tried, as the connection layer (aiohttp, httpcore) itself tries a name's addresses in turn: a
round-robin or dual-stack API with one dead address still answers. The addresses are tried
inside one attempt, under the retries and the circuit breaker: a dead address is neither
retried with backoff before the next is tried nor counted as a failed call of its own. A
request that reached an address and failed after is not sent to another.

The inner transport here stands for the connection layer: asked for the dead address it cannot
connect.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from connectors.circuit import CircuitBreaker
from connectors.http import RetryPolicy, build_client

NAME = "api.round-robin.example"
DEAD, LIVE = "93.184.215.14", "93.184.215.15"


@pytest.fixture(autouse=True)
def two_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port or 80))
            for ip in (DEAD, LIVE)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def connection_layer(request: httpx.Request) -> httpx.Response:
    if request.url.host == DEAD:
        raise httpx.ConnectError("[Errno 113] No route to host", request=request)
    return httpx.Response(200, json={"ok": True})  # the name, or the live address


async def test_a_name_with_one_dead_address_is_still_reached() -> None:
    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(connection_layer),
        public_only=True,
        retry=RetryPolicy(max_attempts=3, backoff_initial=0.0),
    )
    async with client:
        r = await client.get("/v1/things")
    assert r.status_code == 200


async def test_a_request_that_reached_an_address_is_not_sent_to_another() -> None:
    sent: list[str] = []

    def dropped_after_sending(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        raise httpx.ReadError("connection reset after the request was written", request=request)

    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(dropped_after_sending),
        public_only=True,
        retry=RetryPolicy(max_attempts=1),
    )
    async with client:
        with pytest.raises(httpx.ReadError):
            await client.post("/v1/things", json={"n": 1})
    assert sent == [DEAD]


async def one_call(breaker: CircuitBreaker) -> httpx.Response:
    """One GET to the name through a guarded client with `breaker` and no retries."""
    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(connection_layer),
        public_only=True,
        circuit=breaker,
        retry=RetryPolicy(max_attempts=1),
    )
    async with client:
        return await client.get("/v1/things")


async def test_a_half_open_breakers_trial_reaches_the_names_live_address() -> None:
    now = [1000.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_after=30.0, clock=lambda: now[0], name="api")
    breaker.record_failure("ConnectError: the whole system was down a while ago")
    assert breaker.state == "open"
    now[0] += 31  # the system is back (one of its two addresses): the next call is the trial
    r = await one_call(breaker)
    assert r.status_code == 200
    assert breaker.state == "closed"


async def test_one_call_to_a_name_with_a_dead_address_counts_once_on_the_breaker() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30.0, name="api")
    breaker.record_failure("ReadTimeout")  # one failed call before: the next failed CALL opens it
    r = await one_call(breaker)  # the call succeeds (on the live address)
    assert r.status_code == 200


async def test_a_dead_address_is_not_retried_with_backoff_before_the_next_is_tried() -> None:
    slept: list[float] = []
    asked: list[str] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def layer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        return connection_layer(request)

    client = build_client(
        f"http://{NAME}",
        transport=httpx.MockTransport(layer),
        public_only=True,
        retry=RetryPolicy(sleep=sleep),  # the default a connection gets: 4 attempts, 0.5 s backoff
    )
    async with client:
        r = await client.get("/v1/things")
    assert r.status_code == 200
    assert asked == [DEAD, LIVE] and slept == []
