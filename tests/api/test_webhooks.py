"""POST /api/v1/webhooks/{connection}: vendors' signatures checked; events become runs once."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.services.connections import add_connection
from app.services.views import run_view
from connectors.chat import signing as slack
from connectors.helpdesk import webhooks as zendesk
from connectors.payments import webhooks as stripe
from tests.support.app import container, webhook_connections

SECRET = "whsec_test_secret"


@pytest.fixture
async def hook(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    c = container(db_url, tmp_path)
    webhook_connections(c, {"payments": SECRET, "chat": SECRET})
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


def dispute_event(amount: int = 4599, currency: str = "usd") -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "charge.dispute.created",
            "data": {
                "object": {
                    "id": "dp_123",
                    "object": "dispute",
                    "amount": amount,
                    "currency": currency,
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


async def test_a_yen_dispute_becomes_a_record_of_as_many_yen(hook) -> None:  # type: ignore[no-untyped-def]
    """JPY has no minor unit: Stripe's amount=5000 is ¥5,000, and the record says so."""
    client, c = hook
    body = dispute_event(amount=5000, currency="jpy")
    headers = {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}
    r = await client.post("/api/v1/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 202, r.text
    record = run_view(c.db, r.json()["run_id"])["input"]["record"]
    assert (Decimal(record["amount"]), record["currency"]) == (Decimal(5000), "JPY")


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


PAGER = """
import hashlib
import hmac
import json

from connectors.base import Connector
from connectors.webhooks import Intake, SignatureError, WebhookEvent, json_object, lowered


class PagerConnector(Connector):
    kind = "pager"
    description = "An on-call pager (test plug-in that takes webhooks)."
    events = ("incident.opened",)

    @classmethod
    def verify_webhook(cls, body, headers, secret):
        given = lowered(headers).get("x-pager-signature", "")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, expected):
            raise SignatureError("pager signature does not match")

    @classmethod
    def parse_webhook(cls, body, headers):
        incident = json_object(body)
        ticket = {
            "subject": incident["title"],
            "body": incident["summary"],
            "requester_email": "oncall@example.com",
            "external_id": incident["id"],
        }
        return WebhookEvent("incident.opened", incident["id"], incident, Intake("ticket", ticket))
"""


@pytest.fixture
def pager_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A connector kind from another distribution, found through its entry point."""
    import importlib

    from connectors.registry import CONNECTOR_TYPES

    site = tmp_path / "site"
    (site / "pager_plugin").mkdir(parents=True)
    (site / "pager_plugin" / "__init__.py").write_text(PAGER, encoding="utf-8")
    info = site / "pager_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pager-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[switchboard.connectors]\npager = pager_plugin:PagerConnector\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    CONNECTOR_TYPES._loaded.pop("pager", None)
    CONNECTOR_TYPES._points = None


@pytest.mark.usefixtures("pager_installed")
async def test_a_plugin_kind_takes_webhooks_with_no_edit_to_the_service(hook) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import hmac

    client, c = hook
    add_connection(
        c.db,
        c.box,
        name="oncall",
        kind="pager",
        base_url="https://pager.example",
        credentials={"webhook_secret": SECRET},
    )
    body = json.dumps({"id": "inc_7", "title": "Checkout down", "summary": "5xx on /pay"}).encode()
    good = {"X-Pager-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    r = await client.post("/api/v1/webhooks/oncall", content=body, headers=good)
    assert r.status_code == 202 and r.json()["event"] == "incident.opened" and r.json()["created"] is True
    run = run_view(c.db, r.json()["run_id"])
    assert run["kind"] == "triage" and run["input"]["ticket"]["subject"] == "Checkout down"
    again = await client.post("/api/v1/webhooks/oncall", content=body, headers=good)
    assert again.json()["run_id"] == r.json()["run_id"] and again.json()["created"] is False
    forged = await client.post("/api/v1/webhooks/oncall", content=body.replace(b"7", b"8"), headers=good)
    assert forged.status_code == 401 and "pager signature" in forged.json()["error"]


async def test_kinds_without_webhooks_and_unreadable_bodies_are_refused(hook) -> None:  # type: ignore[no-untyped-def]
    client, c = hook
    add_connection(
        c.db,
        c.box,
        name="books",
        kind="erp",
        base_url="https://erp.example/NorthwindERP.asmx",
        credentials={"webhook_secret": SECRET},
    )
    r = await client.post("/api/v1/webhooks/books", content=b"{}")
    assert r.status_code == 422 and "do not take webhooks" in r.json()["error"]
    body = json.dumps(
        {
            "id": "evt_2",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_1", "amount": "lots"}},
        }
    ).encode()
    headers = {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}
    r = await client.post("/api/v1/webhooks/payments", content=body, headers=headers)
    assert r.status_code == 422 and "data.object.amount" in r.json()["error"]
    body = b"[1, 2]"
    r = await client.post(
        "/api/v1/webhooks/payments",
        content=body,
        headers={"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))},
    )
    assert r.status_code == 422 and "JSON object" in r.json()["error"]


def test_a_signature_check_is_handed_only_the_request_parts_it_names() -> None:
    """A plug-in's `verify_webhook` may name `url`, `method`, both, neither, or take **kwargs:
    each gets what it names, and none fails for a part it did not ask for."""
    from typing import Any, ClassVar

    from app.services.webhooks import _verify

    class Seen:
        calls: ClassVar[list[dict[str, Any]]] = []

    class UrlOnly:
        @classmethod
        def verify_webhook(cls, body: bytes, headers: Any, secret: str, url: str = "") -> None:
            Seen.calls.append({"url": url})

    class Both:
        @classmethod
        def verify_webhook(cls, body: bytes, headers: Any, secret: str, **request: Any) -> None:
            Seen.calls.append(request)

    class Neither:
        @classmethod
        def verify_webhook(cls, body: bytes, headers: Any, secret: str) -> None:
            Seen.calls.append({})

    for system in (UrlOnly, Both, Neither):
        _verify(system, b"{}", {}, "s", method="POST", url="https://sb.example/hook")  # type: ignore[arg-type]
    assert Seen.calls == [
        {"url": "https://sb.example/hook"},
        {"method": "POST", "url": "https://sb.example/hook"},
        {},
    ]
