"""The HTTP API as the README documents it, as a newcomer meets it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from tests.support.app import container, full_container


async def test_an_unknown_approval_status_names_all_among_the_choices(tmp_path: Path) -> None:
    """README: `GET /api/v1/approvals?status=S` takes `pending` (the default), any action status,
    or `all` for every status. A wrong status is refused naming the choices, `all` among them."""
    c = container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    token = create_token(c.db, "ops", "viewer")[1]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
        ) as client:
            headers = {"Authorization": f"Bearer {token}"}
            ok = await client.get("/api/v1/approvals", params={"status": "all"}, headers=headers)
            r = await client.get("/api/v1/approvals", params={"status": "everything"}, headers=headers)
    finally:
        await c.pool.aclose()
    assert ok.status_code == 200, ok.text
    assert r.status_code == 422, r.text
    assert re.search(r"\ball\b", r.json()["error"]), r.json()


def _said(body: str) -> str:
    """The text of the `message` events of a chat turn's server-sent events."""
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "message":
            out.append(json.loads(lines["data"])["text"])
    return "\n".join(out)


async def test_the_local_chat_lists_the_charges_of_a_customer_with_four(tmp_path: Path) -> None:
    """README (The models): the local model answers known question shapes, "a customer's charges"
    and "refund requests that become proposed writes" among them. Raj Patel, a seeded customer of
    the payments simulator, has four charges (an order and three Plus memberships): they are all
    listed, and the refund of the duplicate names a charge. (A Stripe charge carries some sixty
    fields; listed whole, four of them were cut to fit the model's budget and the local model,
    unable to parse the cut JSON, said "has no charges".)"""
    c, sims = full_container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    payments = sims["payments"].state.payments
    [raj] = [k for k, v in payments.customers.items() if v["email"] == "raj.patel@example.org"]
    payments.add_charge(  # what the demo's `link_shop_payments` adds for his shop order #1005
        customer_id=raj,
        amount=21800,
        currency="usd",
        description="Northwind Home order #1005",
        metadata={"shopify_order_id": "5406000000045"},
    )
    token = create_token(c.db, "ops", "operator")[1]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb", timeout=60
        ) as client:
            headers = {"Authorization": f"Bearer {token}"}
            listed = await client.post(
                "/api/v1/chat",
                headers=headers,
                json={"message": "What charges does raj.patel@example.org have?"},
            )
            refund = await client.post(
                "/api/v1/chat",
                headers=headers,
                json={"message": "Refund the duplicate Plus charge for raj.patel@example.org"},
            )
    finally:
        await c.pool.aclose()
    answer = _said(listed.text)
    assert "no charges" not in answer, answer
    assert answer.count("Plus") >= 3, answer
    refund_answer = _said(refund.text)
    assert not refund_answer.rstrip().endswith("Their charges:"), refund_answer
