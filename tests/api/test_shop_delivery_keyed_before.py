"""A shop delivery a workflow ran on when events were known by their body is still that event.

Shop events were known by the hash of their signed body (`sha256:...`), and a workflow's run
for one is keyed `FAMILY:sha256:...`; they are now known by topic and order id. A redelivery of
such a delivery (Shopify retries one whose answer it did not get in time; anyone holding the
signed body may resend it) finds the run it started, as a version's own-id keys are found.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.services import workflows
from connectors.webhooks import body_id
from tests.api.test_workflow_sentences import draft_and_activate, webhook
from tests.support.systems import Systems, systems

NEW_ORDERS = "When a new order comes in, post in #orders"


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, Any]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(("olivia", "operator"), ("adam", "approver"), ("root", "admin"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


async def test_a_delivery_run_before_the_upgrade_redelivered_after_it_starts_no_second_run(
    world: Any,
) -> None:
    sy, api, people = world
    draft = await draft_and_activate(api, people, NEW_ORDERS)
    assert draft["spec"]["trigger"]["event"] == "orders/create"
    sy.shop.place_order("raj.patel@example.org", [{"sku": "NW-BLND-129", "quantity": 1}])
    [(body, headers)] = [(b, h) for topic, b, h in sy.shop.take_outbox() if topic == "orders/create"]
    # As the receiver before the upgrade started it: keyed by the body's hash.
    [before] = workflows.dispatch(sy.c.db, "shop", "orders/create", json.loads(body), body_id(body))
    # Shopify's retry of that same delivery (same body, same headers) arrives after the upgrade.
    again = await webhook(api, "shop", body, headers)
    assert again == [before], "the order's creation ran twice: the pre-upgrade run was not found"
