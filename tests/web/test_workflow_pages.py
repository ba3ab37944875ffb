"""The workflows pages and the work forms in-process: who may do what, what a person
reads, and bad input answered with the field named and nothing stored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.api.app import create_app
from app.services.webhook_secrets import has_webhook_secret
from app.store.tables import Run, Workflow
from tests.support.systems import Systems, systems

ORIGIN = "http://sb.test"
DISPUTE = "When a dispute opens in payments, open a ticket and post in #billing"


class Browser:
    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str]):
        self.client, self.tokens = client, tokens

    async def get(self, path: str, who: str) -> httpx.Response:
        return await self.client.get(path, headers={"Cookie": f"sb_token={self.tokens[who]}"})

    async def post(self, path: str, who: str, data: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Cookie": f"sb_token={self.tokens[who]}", "Origin": ORIGIN}
        return await self.client.post(path, headers=headers, data=data or {})


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[tuple[Systems, Browser]]:
    with systems(f"sqlite:///{tmp_path / 'ui.db'}", tmp_path) as sy:
        tokens = {
            n: h["Authorization"].split()[1]
            for n, h in sy.tokens(
                ("vic", "viewer"),
                ("olivia", "operator"),
                ("adam", "approver"),
                ("bea", "approver"),
                ("root", "admin"),
            ).items()
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url=ORIGIN
        ) as client:
            yield sy, Browser(client, tokens)
        await sy.c.pool.aclose()


def runs(sy: Systems) -> int:
    with sy.c.db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(Run).where(Run.kind.in_(("triage", "record")))) or 0
        )


async def test_describe_read_activate_pause_on_the_pages(ui: Any) -> None:
    _, b = ui
    page = await b.get("/ui/workflows", "vic")
    assert (
        page.status_code == 200 and "Describe a workflow" in page.text and "What can I ask for?" in page.text
    )
    assert (
        await b.post("/ui/workflows", "vic", {"request": DISPUTE})
    ).status_code == 403  # a viewer cannot draft
    short = await b.post("/ui/workflows", "olivia", {"request": "hi"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    r = await b.post("/ui/workflows", "adam", {"request": DISPUTE})
    assert r.status_code == 303
    url = r.headers["location"]
    page = await b.get(url, "adam")
    assert "When payments sends charge.dispute.created" in page.text
    assert (
        "write · waits for approval" in page.text
        and "Every connection and operation it uses exists." in page.text
    )
    assert re.search(r"<button[^>]*disabled[^>]*>Activate</button>", page.text)  # not by its author
    refused = await b.post(url + "/activate", "adam")
    assert refused.status_code == 422 and "someone other than the person who drafted it" in refused.text
    assert (await b.post(url + "/activate", "olivia")).status_code == 403
    assert (await b.post(url + "/activate", "bea")).status_code == 303
    page = await b.get(url, "bea")
    assert "badge st-active" in page.text and "Pause" in page.text and "bea" in page.text
    assert (await b.post(url + "/pause", "bea")).status_code == 303
    assert "Resume" in (await b.get(url, "bea")).text
    listing = (await b.get("/ui/workflows", "vic")).text
    assert "paused" in listing and "adam" in listing and "v1" in listing


async def test_dry_run_on_the_page_with_a_bad_and_a_good_event(ui: Any) -> None:
    sy, b = ui
    url = (await b.post("/ui/workflows", "olivia", {"request": DISPUTE})).headers["location"]
    bad = await b.post(url + "/dry-run", "olivia", {"event": "{not json"})
    assert bad.status_code == 422 and "not JSON" in bad.text
    before = sy.snapshot()
    event = '{"id": "dp_9", "charge": "ch_9", "amount": 4599, "currency": "usd", "reason": "fraudulent"}'
    page = await b.post(url + "/dry-run", "olivia", {"event": event})
    assert page.status_code == 200 and 'data-testid="dry-run"' in page.text
    assert "Dispute dp_9 opened on charge ch_9 for 45.99 USD" in page.text and "none made" in page.text
    assert sy.snapshot() == before


async def test_ticket_and_record_forms(ui: Any) -> None:
    sy, b = ui
    assert "A ticket" in (await b.get("/ui/work", "vic")).text
    assert (
        await b.post("/ui/work/ticket", "vic", {"subject": "x", "body": "y", "requester_email": "a@b.co"})
    ).status_code == 403
    bad = await b.post(
        "/ui/work/ticket",
        "olivia",
        {"subject": "Broken lamp", "body": "It flickers", "requester_email": "not-an-email"},
    )
    assert (
        bad.status_code == 422
        and "requester email" in bad.text
        and "Broken lamp" in bad.text
        and runs(sy) == 0
    )
    r = await b.post(
        "/ui/work/ticket",
        "olivia",
        {"subject": "Broken lamp", "body": "It flickers", "requester_email": "ann.lee@example.com"},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/runs/") and runs(sy) == 1
    bad = await b.post(
        "/ui/work/record",
        "olivia",
        {"kind": "invoice", "amount": "-3", "currency": "EUR", "counterparty": "Fabrikam"},
    )
    assert bad.status_code == 422 and "amount" in bad.text and runs(sy) == 1
    r = await b.post(
        "/ui/work/record",
        "olivia",
        {
            "kind": "invoice",
            "amount": "486.20",
            "currency": "eur",
            "counterparty": "Fabrikam",
            "description": "Toner",
            "invoice_number": "FAB-30001",
            "date": "2026-11-20",
            "vendor_id": "V1002",
        },
    )
    assert r.status_code == 303 and runs(sy) == 2
    with sy.c.db.session() as s:
        record = s.scalars(select(Run).where(Run.kind == "record")).one()
        assert record.input["record"]["currency"] == "EUR" and record.created_by == "olivia"


async def test_webhook_secret_form_on_the_connections_page(ui: Any) -> None:
    sy, b = ui
    assert "Webhook secret" in (await b.get("/ui/connections", "root")).text
    assert "Webhook secret" not in (await b.get("/ui/connections", "adam")).text
    assert (await b.post("/ui/connections/crm/webhook-secret", "adam", {"secret": "x"})).status_code == 403
    r = await b.post("/ui/connections/crm/webhook-secret", "root", {"secret": "hubspot-s3cret"})
    assert r.status_code == 303 and has_webhook_secret(sy.c.db, sy.c.box, "crm")
    page = await b.get("/ui/connections", "root")
    assert "hubspot-s3cret" not in page.text
    with sy.c.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Workflow)) == 0
