"""A correctly signed `charge.dispute.created` that carries no dispute is refused with 422 naming
the field, as a body not in the vendor's shape is; it used to become a dispute record of amount 0
with no ids, and a workflow ticket "Dispute  opened on charge  for 0.00"."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from app.api.app import create_app
from connectors.payments import webhooks as stripe
from tests.support.app import container, webhook_connections

SECRET = "whsec_test_secret"


async def test_a_dispute_event_without_its_dispute_is_422(tmp_path: Path) -> None:
    c = container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    webhook_connections(c, {"payments": SECRET})
    body = json.dumps({"id": "evt_1", "type": "charge.dispute.created", "data": {}}).encode()
    headers = {
        "Stripe-Signature": stripe.sign(body, SECRET, int(time.time())),
        "content-type": "application/json",
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
        ) as client:
            r = await client.post("/api/v1/webhooks/payments", content=body, headers=headers)
    finally:
        await c.pool.aclose()
    assert r.status_code == 422, r.text
    assert "data.object.amount" in r.json()["error"]
