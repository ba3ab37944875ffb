"""POST /api/v1/webhooks/{connection}: vendors' signatures checked; events become runs once."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.services.connections import add_connection
from app.services.views import run_view
from connectors.chat import signing as slack
from connectors.helpdesk import webhooks as zendesk
from connectors.payments import webhooks as stripe
from tests.support.app import container

SECRET = "whsec_test_secret"


@pytest.fixture
async def hook(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    c = container(db_url, tmp_path)
    for name in ("payments", "chat"):
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=name,
            base_url=f"http://{name}.sim",
            auth_type="bearer",
            credentials={"token": "t", "webhook_secret": SECRET},
        )
    add_connection(
        c.db,
        c.box,
        name="desk2",
        kind="helpdesk",
        base_url="http://hd.sim",
        credentials={"webhook_secret": SECRET},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield client, c
    await c.pool.aclose()


def dispute_event() -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "charge.dispute.created",
            "data": {
                "object": {
                    "id": "dp_123",
                    "object": "dispute",
                    "amount": 4599,
                    "currency": "usd",
                    "charge": "ch_9",
                    "reason": "fraudulent",
                }
            },
        }
    ).encode()


async def test_a_signed_dispute_starts_one_record_run(hook) -> None:  # type: ignore[no-untyped-def]
    client, c = hook
    body = dispute_event()
    headers = {
        "Stripe-Signature": stripe.sign(body, SECRET, int(time.time())),
        "content-type": "application/json",
    }
    r = await client.post("/api/v1/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 202 and r.json()["created"] is True
    run = run_view(c.db, r.json()["run_id"])
    assert run["kind"] == "record" and run["input"]["record"]["dispute_id"] == "dp_123"
    again = await client.post("/api/v1/webhooks/payments", content=body, headers=headers)
    assert again.json()["run_id"] == r.json()["run_id"] and again.json()["created"] is False


async def test_bad_signatures_are_refused(hook) -> None:  # type: ignore[no-untyped-def]
    client, _ = hook
    body = dispute_event()
    good = stripe.sign(body, SECRET, int(time.time()))
    r = await client.post(
        "/api/v1/webhooks/payments",
        content=body.replace(b"4599", b"9999"),
        headers={"Stripe-Signature": good},
    )
    assert r.status_code == 401 and "signature" in r.json()["error"]
    r = await client.post("/api/v1/webhooks/payments", content=body)
    assert r.status_code == 401
    stale = stripe.sign(body, SECRET, int(time.time()) - 3600)
    assert (
        await client.post("/api/v1/webhooks/payments", content=body, headers={"Stripe-Signature": stale})
    ).status_code == 401
    assert (
        await client.post("/api/v1/webhooks/helpdesk", content=b"{}")
    ).status_code == 422  # no secret configured
    assert (await client.post("/api/v1/webhooks/nope", content=b"{}")).status_code == 404


async def test_slack_url_verification_and_zendesk_ticket(hook) -> None:  # type: ignore[no-untyped-def]
    client, c = hook
    body = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    r = await client.post(
        "/api/v1/webhooks/chat", content=body, headers=slack.signed_headers(body, SECRET, int(time.time()))
    )
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}

    body = json.dumps(
        {
            "type": "zen:event-type:ticket.created",
            "detail": {
                "id": 77,
                "subject": "Login broken",
                "description": "I cannot log in",
                "requester_email": "ann.lee@example.com",
            },
        }
    ).encode()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = await client.post(
        "/api/v1/webhooks/desk2", content=body, headers=zendesk.signed_headers(body, SECRET, ts)
    )
    assert r.status_code == 202
    assert run_view(c.db, r.json()["run_id"])["input"]["ticket"]["external_id"] == 77
