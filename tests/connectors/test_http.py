"""The HTTP layer: retries (what, when, how long), rate limiting and auth, on MockTransport."""

from __future__ import annotations

import base64
import email.utils
import random
from collections.abc import Callable

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.helpdesk.client import HelpdeskConnector
from connectors.http import (
    NO_RETRY,
    NOT_IDEMPOTENT,
    ApiKeyAuth,
    BearerAuth,
    RetryPolicy,
    TokenBucket,
    build_client,
    parse_retry_after,
    zendesk_token_auth,
)
from tests.connectors.conftest import FakeSleep, retry_policy

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler that plays answers in order and records each request."""

    def __init__(self, *answers: httpx.Response | Exception):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(script: Script, sleep: FakeSleep, **policy: object) -> httpx.AsyncClient:
    return build_client(
        "https://acme.zendesk.com", transport=httpx.MockTransport(script), retry=retry_policy(sleep, **policy)
    )


def ok() -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


# --- retry: statuses -----------------------------------------------------------------


async def test_429_waits_exactly_the_retry_after_seconds(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    async with client_for(script, fake_sleep) as client:
        response = await client.get("/api/v2/tickets/1.json")
    assert response.status_code == 200
    assert fake_sleep.delays == [7.0]
    assert len(script.requests) == 2


async def test_retry_after_as_http_date_is_measured_from_the_clock(fake_sleep: FakeSleep) -> None:
    now = 1_700_000_000.0
    script = Script(
        httpx.Response(503, headers={"Retry-After": email.utils.formatdate(now + 30, usegmt=True)}), ok()
    )
    async with client_for(script, fake_sleep, clock=lambda: now) as client:
        await client.get("/x")
    assert fake_sleep.delays == [30.0]


async def test_retry_after_is_capped(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), ok())
    async with client_for(script, fake_sleep, retry_after_max=12.0) as client:
        await client.get("/x")
    assert fake_sleep.delays == [12.0]


def test_parse_retry_after_edges() -> None:
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("1.5", now=0) == 1.5
    assert parse_retry_after("-3", now=0) == 0.0
    past = email.utils.formatdate(1000, usegmt=True)
    assert parse_retry_after(past, now=5000) == 0.0


async def test_5xx_retried_with_exponential_backoff_then_returned(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(503, json={"error": "ServiceUnavailable"}))
    async with client_for(script, fake_sleep, max_attempts=4, backoff_initial=0.5) as client:
        response = await client.get("/x")
    assert response.status_code == 503
    assert len(script.requests) == 4
    assert fake_sleep.delays == [0.5, 1.0, 2.0]


async def test_5xx_after_max_attempts_is_a_connector_error(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(502, json={"error": "BadGateway", "description": "upstream died"}))
    connector = HelpdeskConnector(client_for(script, fake_sleep, max_attempts=3))
    with pytest.raises(ConnectorError) as err:
        await connector.get_ticket(1)
    assert err.value.status == 502
    assert err.value.retryable
    assert "BadGateway: upstream died" in str(err.value)
    assert len(script.requests) == 3


async def test_backoff_is_capped_and_jitter_bounded() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=5.0, jitter=0.5, rng=random.Random(3))
    delays = [policy.backoff(n) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        base = min(5.0, 2 ** (n - 1))
        assert base <= delay <= min(5.0, base * 1.5)
    assert delays[-1] == 5.0


async def test_client_errors_are_not_retried(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(404, json={"error": "RecordNotFound"}))
    async with client_for(script, fake_sleep) as client:
        response = await client.get("/x")
    assert response.status_code == 404
    assert len(script.requests) == 1
    assert fake_sleep.delays == []


# --- retry: which methods --------------------------------------------------------------


async def test_post_without_idempotency_key_is_not_retried_on_503(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(503), ok())
    async with client_for(script, fake_sleep) as client:
        response = await client.post("/api/v2/tickets.json", json={"ticket": {}})
    assert response.status_code == 503
    assert len(script.requests) == 1


async def test_post_with_idempotency_key_is_retried_on_503(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(503), ok())
    async with client_for(script, fake_sleep) as client:
        response = await client.post(
            "/api/v2/tickets.json", json={"ticket": {}}, headers={"Idempotency-Key": "a1"}
        )
    assert response.status_code == 200
    assert len(script.requests) == 2
    assert script.requests[1].headers["Idempotency-Key"] == "a1"
    assert script.requests[1].content == script.requests[0].content


async def test_patch_without_key_is_not_retried_but_any_method_is_retried_on_429(
    fake_sleep: FakeSleep,
) -> None:
    script = Script(httpx.Response(504), ok())
    async with client_for(script, fake_sleep) as client:
        assert (await client.patch("/x", json={})).status_code == 504
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}), ok())
    async with client_for(script, fake_sleep) as client:
        assert (await client.post("/x", json={})).status_code == 200
    assert len(script.requests) == 2


async def test_put_marked_not_idempotent_is_treated_like_a_post(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.Response(503), ok())
    async with client_for(script, fake_sleep) as client:
        assert (await client.put("/x", json={}, extensions=NOT_IDEMPOTENT)).status_code == 503
    assert len(script.requests) == 1
    script = Script(httpx.Response(503), ok())
    async with client_for(script, fake_sleep) as client:
        assert (await client.put("/x", json={})).status_code == 200
    assert len(script.requests) == 2


async def test_connect_error_is_retried_even_for_post_without_key(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.ConnectError("refused"), ok())
    async with client_for(script, fake_sleep) as client:
        response = await client.post("/x", json={})
    assert response.status_code == 200
    assert len(script.requests) == 2
    assert fake_sleep.delays == [0.5]


async def test_read_timeout_is_retried_for_get(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"), ok())
    async with client_for(script, fake_sleep) as client:
        response = await client.get("/x")
    assert response.status_code == 200
    assert len(script.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]


async def test_read_timeout_on_post_without_key_is_raised_at_once(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    async with client_for(script, fake_sleep) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/x", json={})
    assert len(script.requests) == 1


async def test_timeout_after_max_attempts_is_a_retryable_connector_error(fake_sleep: FakeSleep) -> None:
    script = Script(httpx.ReadTimeout("slow"))
    connector = HelpdeskConnector(client_for(script, fake_sleep, max_attempts=2))
    with pytest.raises(ConnectorError) as err:
        await connector.get_ticket(3)
    assert err.value.retryable
    assert "did not answer in time" in str(err.value)
    assert len(script.requests) == 2


async def test_no_retry_policy_makes_one_attempt() -> None:
    script = Script(httpx.Response(503), ok())
    client = build_client("https://x.example", transport=httpx.MockTransport(script), retry=NO_RETRY)
    async with client:
        assert (await client.get("/x")).status_code == 503
    assert len(script.requests) == 1


# --- rate limit ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_token_bucket_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == pytest.approx([0.5, 0.5])
    clock.now += 10  # idle: the bucket refills, but only up to its burst
    await bucket.acquire()
    await bucket.acquire()
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])


async def test_token_bucket_allows_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert clock.sleeps == pytest.approx([1.0])


async def test_client_rate_limit_applies_to_every_request() -> None:
    clock = FakeClock()
    script = Script(ok())
    client = build_client(
        "https://x.example",
        transport=httpx.MockTransport(script),
        rate_limiter=TokenBucket(4.0, clock=clock, sleep=clock.sleep),
    )
    async with client:
        for _ in range(3):
            await client.get("/x")
    assert len(script.requests) == 3
    assert clock.sleeps == pytest.approx([0.25, 0.25])


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(1, burst=0.5)


# --- auth ------------------------------------------------------------------------------


async def _sent_with(auth: httpx.Auth) -> httpx.Request:
    script = Script(ok())
    async with build_client("https://x.example", auth=auth, transport=httpx.MockTransport(script)) as client:
        await client.get("/api/v2/users/me.json", params={"a": "1"})
    return script.requests[0]


async def test_bearer_auth() -> None:
    request = await _sent_with(BearerAuth("tok-123"))
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert "tok-123" not in repr(BearerAuth("tok-123"))


async def test_api_key_auth_in_header_or_query() -> None:
    request = await _sent_with(ApiKeyAuth("k-9", header="X-Api-Token"))
    assert request.headers["X-Api-Token"] == "k-9"
    request = await _sent_with(ApiKeyAuth("k-9", query_param="api_key"))
    assert request.url.params["api_key"] == "k-9"
    assert request.url.params["a"] == "1"
    assert "k-9" not in repr(ApiKeyAuth("k-9"))


async def test_zendesk_token_auth_is_basic_with_slash_token() -> None:
    request = await _sent_with(zendesk_token_auth("ops@acme.example", "s3cret"))
    scheme, _, value = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "ops@acme.example/token:s3cret"


async def test_build_client_defaults() -> None:
    script = Script(ok())
    client = build_client(
        "https://acme.zendesk.com/", headers={"X-Trace": "t"}, transport=httpx.MockTransport(script)
    )
    async with client:
        await client.get("/api/v2/tickets.json")
    request = script.requests[0]
    assert str(request.url) == "https://acme.zendesk.com/api/v2/tickets.json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["X-Trace"] == "t"
    assert client.timeout.read == 15.0
