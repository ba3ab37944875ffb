"""Hostile input at the edge: invalid text, oversized and unauthenticated bodies, floods, forged
and malformed webhooks, money fields written loosely. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.api import metrics
from app.api.app import create_app
from app.llm.scripted import ScriptedModel
from app.main import Container
from app.services.auth import create_token
from app.services.connections import add_connection
from app.store.tables import AuditEntry, Run
from connectors.payments import webhooks as stripe
from tests.support.app import container, triage_script

SECRET = "whsec_edge_secret"
TICKET = {"subject": "Charged twice", "body": "Billed twice.", "requester_email": "ann@example.com"}


class Edge:
    def __init__(self, c: Container, client: httpx.AsyncClient):
        self.c = c
        self.client = client
        self.admin = create_token(c.db, "edge-admin", "admin")[1]

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def runs(self) -> int:
        with self.c.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Run)) or 0)


async def _edge(db_url: str, tmp_path: Path, **extra: Any) -> tuple[Edge, httpx.AsyncClient]:
    c = container(db_url, tmp_path, ScriptedModel(triage_script(5)), **extra)
    add_connection(
        c.db,
        c.box,
        name="payments",
        kind="payments",
        base_url="http://payments.sim",
        auth_type="bearer",
        credentials={"token": "t", "webhook_secret": SECRET},
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c), raise_app_exceptions=False),
        base_url="http://sb",
    )
    return Edge(c, client), client


@pytest.fixture
async def edge(db_url: str, tmp_path: Path) -> AsyncIterator[Edge]:
    e, client = await _edge(db_url, tmp_path, SWITCHBOARD_MAX_BODY_BYTES=5000)
    yield e
    await client.aclose()
    await e.c.pool.aclose()
    e.c.db.dispose()


def signed(event: Any) -> tuple[bytes, dict[str, str]]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return body, {
        "Stripe-Signature": stripe.sign(body, SECRET, int(time.time())),
        "content-type": "application/json",
    }


# -- invalid text -----------------------------------------------------------------------------------
async def test_nul_and_invalid_text_are_refused_naming_the_field(edge: Edge) -> None:
    """On PostgreSQL each of these answered 500 (the webhook one without any login)."""
    h = edge.h
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", "/api/v1/runs/a%00b", {}, "path"),
        ("GET", "/api/v1/approvals/x%00", {}, "path"),
        ("GET", "/api/v1/runs?status=a%00", {}, "status"),
        ("GET", "/api/v1/approvals?status=%ff%fe", {}, "query parameter"),
        ("POST", "/api/v1/webhooks/pay%00ments", {"content": b"{}"}, "path"),
        ("POST", "/api/v1/tickets", {"json": {**TICKET, "subject": "a\x00b"}}, "subject"),
        ("POST", "/api/v1/tickets", {"json": {**TICKET, "tags": ["ok", "b\x00"]}}, "tags.1"),
        ("POST", "/api/v1/chat", {"json": {"message": "hi \x00"}}, "message"),
        (
            "POST",
            "/api/v1/tickets",
            {"content": b'{"subject": "\\ud800", "body": "x", "requester_email": "a@b.co"}'},
            "subject",
        ),
        ("POST", "/api/v1/approvals/x/reject", {"json": {"reason": "no\x00"}}, "reason"),
        ("POST", "/api/v1/tokens", {"json": {"name": "n\x00", "role": "viewer"}}, "name"),
    ]
    for method, path, kw, field in cases:
        r = await edge.client.request(method, path, headers={**h, "content-type": "application/json"}, **kw)
        assert r.status_code in (400, 422), (path, r.status_code, r.text)
        body = r.json()
        assert body["field"] == field and field in body["error"], (path, body)
    # the UI's forms too
    r = await edge.client.post(
        "/ui/login", data={"token": "sb_\x00"}, headers={"Origin": "http://sb", "Host": "sb"}
    )
    assert r.status_code == 422 and r.json()["field"] == "token"
    assert edge.runs() == 0  # nothing was stored


async def test_text_from_a_system_is_stored_without_nul_and_pages_still_render(edge: Edge) -> None:
    """A NUL that arrives from a connected system (not through the edge) is dropped on the way into
    the database; stored, it broke /ui/dashboard on PostgreSQL for everyone."""
    from app.services import intake
    from app.store.tables import Step

    run_id, _ = intake.submit(
        edge.c.db,
        kind="ticket",
        run_kind="triage",
        payload={**TICKET, "subject": "Refund\x00 please \ud83d"},
        source="helpdesk",
        actor="sync",
    )
    with edge.c.db.session() as s:
        s.add(
            Step(
                run_id=run_id,
                seq=1,
                kind="tool_call",
                name="helpdesk__get_ticket",
                data={"tool": "helpdesk__get_ticket", "is_error": True, "result": "bad\x00byte"},
            )
        )
    for page in ("/ui/dashboard", "/ui/queue", f"/ui/runs/{run_id}", "/ui/runs"):
        r = await edge.client.get(page, headers=edge.h)
        assert r.status_code == 200, (page, r.text[:300])
    run = (await edge.client.get(f"/api/v1/runs/{run_id}", headers=edge.h)).json()
    assert run["input"]["ticket"]["subject"] == "Refund please ?"


# -- bodies: size on the stream, sign-in first ---------------------------------------------------------
class CountingBody:
    """A chunked request body (no Content-Length) that counts how much the server pulled."""

    def __init__(self, chunks: int, size: int = 1000):
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * self.size


async def test_a_chunked_body_is_cut_off_at_the_limit(edge: Edge) -> None:
    body = CountingBody(chunks=1000)  # 1 MB against a 5000-byte limit
    r = await edge.client.post(
        "/api/v1/tickets", content=body, headers={**edge.h, "content-type": "application/json"}
    )
    assert r.status_code == 413 and "too large" in r.json()["error"]
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert body.pulled <= 6  # read up to the limit, never the rest


async def test_no_body_is_read_before_the_caller_is_signed_in(edge: Edge) -> None:
    for headers in ({}, {"Authorization": "Bearer sb_made_up"}):
        body = CountingBody(chunks=3)
        r = await edge.client.post("/api/v1/tickets", content=body, headers=headers)
        assert r.status_code == 401 and body.pulled == 0
    body = CountingBody(chunks=3)
    r = await edge.client.post(
        "/ui/queue/bulk", content=body, headers={"Cookie": "sb_token=sb_made_up", "Origin": "http://sb"}
    )
    assert r.status_code in (302, 303) and body.pulled == 0


# -- failed authentication: metrics and a sampled log, no audit row each ---------------------------------
async def test_failed_authentication_is_counted_and_sampled_not_audited(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    before = {
        s: metrics.AUTH_FAILURES.labels(s)._value.get()  # type: ignore[attr-defined]
        for s in ("webhook", "api")
    }
    with edge.c.db.session() as s:
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    body = json.dumps({"id": "evt_x", "type": "charge.dispute.created"}).encode()
    caplog.set_level(logging.WARNING, logger="switchboard.auth")
    for i in range(40):
        forged = {"Stripe-Signature": f"t={int(time.time())},v1={i:064x}"}
        r = await edge.client.post("/api/v1/webhooks/payments", content=body, headers=forged)
        assert r.status_code == 401
        r = await edge.client.get("/api/v1/runs", headers={"Authorization": f"Bearer sb_guess_{i}"})
        assert r.status_code == 401
    with edge.c.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits
    for surface in ("webhook", "api"):
        counted = metrics.AUTH_FAILURES.labels(surface)._value.get()  # type: ignore[attr-defined]
        assert counted - before[surface] == 40
    lines = [r for r in caplog.records if r.name == "switchboard.auth"]
    assert 1 <= len(lines) <= 2  # the first, then at most one line per interval
    scrape = (await edge.client.get("/metrics")).text
    assert 'switchboard_auth_failures_total{surface="webhook"}' in scrape


async def test_unauthenticated_traffic_is_limited_by_client_address(db_url: str, tmp_path: Path) -> None:
    """A random bad token each time was a new rate-limit key each time, so a flood was never limited."""
    e, client = await _edge(db_url, tmp_path, SWITCHBOARD_RATE_LIMIT=0.001, SWITCHBOARD_RATE_BURST=5)
    try:
        codes = [
            (await client.get("/api/v1/runs", headers={"Authorization": f"Bearer sb_{i}"})).status_code
            for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3
        # a valid token has a bucket of its own, apart from the address's failures
        assert (await client.get("/api/v1/runs", headers=e.h)).status_code == 200
    finally:
        await client.aclose()
        await e.c.pool.aclose()
        e.c.db.dispose()


# -- payment webhooks -----------------------------------------------------------------------------------
async def test_malformed_but_signed_payment_events_are_4xx(edge: Edge) -> None:
    for event in (
        b"not json at all",
        b"[1, 2, 3]",
        {"id": "evt_1", "type": "charge.dispute.created", "data": []},
        {"id": "evt_2", "type": "charge.dispute.created", "data": {"object": "dp_1"}},
        {
            "id": "evt_3",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_3", "amount": "1_000"}},
        },
        {"id": ["evt"], "type": "charge.refunded", "data": {"object": {}}},
    ):
        body, headers = signed(event)
        r = await edge.client.post("/api/v1/webhooks/payments", content=body, headers=headers)
        assert r.status_code in (400, 422), (event, r.status_code, r.text)
        assert r.json()["error"]
    assert edge.runs() == 0


async def test_an_event_without_ids_delivered_three_times_is_one_run(edge: Edge) -> None:
    event = {
        "type": "charge.dispute.created",
        "data": {"object": {"amount": 2500, "currency": "usd", "charge": "ch_1", "reason": "fraudulent"}},
    }
    runs = set()
    for _ in range(3):
        body, headers = signed(event)
        r = await edge.client.post("/api/v1/webhooks/payments", content=body, headers=headers)
        assert r.status_code == 202, r.text
        runs.add(r.json()["run_id"])
    assert len(runs) == 1 and edge.runs() == 1


# -- money -------------------------------------------------------------------------------------------------
async def test_record_amounts_are_plain_numbers(edge: Edge) -> None:
    record = {"kind": "invoice", "currency": "EUR", "counterparty": "Fabrikam"}
    for bad in ("1_000", "1e3", " 12", "12,50", "Infinity", "0x10", True, "-5"):
        r = await edge.client.post("/api/v1/records", headers=edge.h, json={**record, "amount": bad})
        assert r.status_code == 422 and r.json()["fields"] == ["amount"], (bad, r.text)
    for good in ("486.20", "1000", 12, 12.5):
        r = await edge.client.post(
            "/api/v1/records", headers=edge.h, json={**record, "amount": good, "external_id": str(good)}
        )
        assert r.status_code == 202, (good, r.text)


async def test_record_amounts_are_no_finer_than_their_currency(edge: Edge) -> None:
    """A yen has no decimals and a dinar three: 5000.5 JPY and 12.345 USD name no amount a
    payment system can move and are refused naming `amount`; 5.125 KWD is taken."""
    record = {"kind": "invoice", "counterparty": "Fabrikam"}
    for amount, currency in (("5000.5", "JPY"), ("12.345", "USD"), ("1.2345", "KWD")):
        r = await edge.client.post(
            "/api/v1/records", headers=edge.h, json={**record, "amount": amount, "currency": currency}
        )
        assert r.status_code == 422 and r.json()["fields"] == ["amount"], (amount, currency, r.text)
    for amount, currency in (("5.125", "KWD"), ("5000", "JPY"), ("486.20", "EUR")):
        r = await edge.client.post(
            "/api/v1/records",
            headers=edge.h,
            json={**record, "amount": amount, "currency": currency, "external_id": f"{amount}{currency}"},
        )
        assert r.status_code == 202, (amount, currency, r.text)
