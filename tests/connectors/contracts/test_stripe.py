"""The payments client's requests against Stripe's published API (see connectors/payments/CONTRACT.md).

Recorded on an `httpx.MockTransport` that answers as Stripe documents, independently of
our simulator.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import RetryPolicy
from connectors.payments.client import PaymentsConnector, stripe_retry_advice
from tests.connectors.conftest import FakeSleep
from tests.connectors.contracts.recorder import Recorder, form, reply

BASE = "https://api.stripe.com"
REFUND = {"id": "re_1", "object": "refund", "amount": 999, "charge": "ch_1", "status": "succeeded"}


def empty_list(url: str) -> dict[str, Any]:
    return {"object": "list", "data": [], "has_more": False, "url": url}


def policy(sleep: FakeSleep) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, sleep=sleep, advice=PaymentsConnector.retry_advice)


async def test_key_in_use_409_is_retried_with_the_same_key(fake_sleep: FakeSleep) -> None:
    """stripe-python retries every 409 (stripe/_http_client.py, HTTPClient._should_retry)."""
    posts = 0

    def stripe(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "GET":
            return reply(200, empty_list("/v1/refunds"))
        posts += 1
        if posts == 1:
            return reply(
                409,
                {
                    "error": {
                        "type": "idempotency_error",
                        "code": "idempotency_key_in_use",
                        "message": "in use",
                    }
                },
            )
        return reply(200, REFUND)

    rec = Recorder(stripe)
    payments = PaymentsConnector(rec.client(BASE, retry=policy(fake_sleep)))
    result = await payments.create_refund("ch_1", 999, idempotency_key="act-1")
    assert result["refund"]["id"] == "re_1"
    keyed = rec.calls("POST", "/v1/refunds")
    assert len(keyed) == 2 and {r.headers["Idempotency-Key"] for r in keyed} == {"act-1"}
    await payments.aclose()


async def test_key_in_use_without_retries_left_says_so_and_is_retryable() -> None:
    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(200, empty_list("/v1/refunds"))
        body = {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "busy"}}
        return reply(409, body)

    payments = PaymentsConnector(Recorder(stripe).client(BASE))
    with pytest.raises(ConnectorError) as err:
        await payments.create_refund("ch_1", idempotency_key="act-1")
    assert err.value.retryable is True
    assert "different arguments" not in str(err.value)
    assert "still running an earlier request" in str(err.value)
    await payments.aclose()


async def test_stripe_should_retry_header_is_obeyed(fake_sleep: FakeSleep) -> None:
    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(200, empty_list("/v1/refunds"))
        return reply(
            500, {"error": {"type": "api_error", "message": "x"}}, **{"Stripe-Should-Retry": "false"}
        )

    rec = Recorder(stripe)
    payments = PaymentsConnector(rec.client(BASE, retry=policy(fake_sleep)))
    with pytest.raises(ConnectorError) as err:
        await payments.create_refund("ch_1", idempotency_key="act-1")
    assert len(rec.calls("POST")) == 1 and err.value.retryable is False
    assert stripe_retry_advice(httpx.Response(400, headers={"Stripe-Should-Retry": "true"})) is True
    assert stripe_retry_advice(httpx.Response(400)) is None
    await payments.aclose()


async def test_a_refund_retried_after_stripe_forgot_the_key_is_found_by_its_metadata() -> None:
    """Stripe prunes idempotency keys after 24 hours (docs.stripe.com/api/idempotent_requests):
    the client looks for its action id in the charge's refunds before refunding again."""

    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/refunds":
            assert request.url.params["charge"] == "ch_1"
            earlier = {**REFUND, "metadata": {"switchboard_action_id": "act-1"}}
            other = {**REFUND, "id": "re_0", "metadata": {}}
            return reply(200, {**empty_list("/v1/refunds"), "data": [other, earlier]})
        return reply(200, {**REFUND, "id": "re_2"})

    rec = Recorder(stripe)
    payments = PaymentsConnector(rec.client(BASE))
    result = await payments.create_refund("ch_1", 999, idempotency_key="act-1")
    assert result == {
        "refund": {**REFUND, "metadata": {"switchboard_action_id": "act-1"}},
        "deduplicated": True,
    }
    assert rec.calls("POST") == []
    await payments.aclose()


async def test_refund_form_is_stripe_encoded() -> None:
    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(200, empty_list("/v1/refunds"))
        return reply(200, REFUND)

    rec = Recorder(stripe)
    payments = PaymentsConnector(rec.client(BASE))
    await payments.create_refund("ch_1", 500, reason="duplicate", idempotency_key="act-1")
    post = rec.calls("POST", "/v1/refunds")[0]
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(post) == [
        ("charge", "ch_1"),
        ("amount", "500"),
        ("reason", "duplicate"),
        ("metadata[switchboard_action_id]", "act-1"),
    ]
    await payments.aclose()


def test_dispute_status_filter_knows_every_stripe_status() -> None:
    """stripe-python `stripe/_dispute.py`: status is one of these eight."""
    schema = next(s for s in PaymentsConnector.operations() if s.name == "list_disputes").input_schema
    statuses = set(schema["properties"]["status"]["anyOf"][0]["enum"])
    assert statuses == {
        "warning_needs_response",
        "warning_under_review",
        "warning_closed",
        "needs_response",
        "under_review",
        "won",
        "lost",
        "prevented",
    }
