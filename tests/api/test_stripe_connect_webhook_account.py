"""A Stripe event is taken by the connection that acts for the account it happened on.

A Connect endpoint's one secret signs the events of every connected account, each naming its
account in `account` (the platform's own events name none: docs.stripe.com/connect/webhooks).
A payments connection acts for its `stripe_account` (else the platform). A validly signed event
of another account is answered (so Stripe does not send it again) and recorded as ignored, but
starts no run and no workflow; the connection's own events go on as before.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.api.app import create_app
from app.services.connections import add_connection
from app.store.tables import AuditEntry, Run
from connectors.payments import webhooks as stripe
from tests.support.app import container

SECRET = "whsec_connect_endpoint"


def dispute(event_id: str, account: str | None) -> bytes:
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": f"dp_{event_id}",
                "object": "dispute",
                "amount": 250000,
                "currency": "usd",
                "charge": "ch_1",
                "reason": "fraudulent",
            }
        },
    }
    if account is not None:
        event["account"] = account
    return json.dumps(event).encode()


async def deliver(
    db_url: str, tmp_path: Path, ours: str | None, body: bytes
) -> tuple[httpx.Response, int, Any]:
    c = container(db_url, tmp_path)
    add_connection(
        c.db,
        c.box,
        name="payments",
        kind="payments",
        base_url="http://payments.sim",
        auth_type="bearer",
        credentials={"token": "t", "webhook_secret": SECRET},
        config={"stripe_account": ours} if ours else {},
    )
    app = create_app(c)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as api:
        headers = {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}
        r = await api.post("/api/v1/webhooks/payments", content=body, headers=headers)
    await c.pool.aclose()
    with c.db.session() as s:
        runs = len(s.scalars(select(Run)).all())
        events = [
            (a.event, a.data) for a in s.scalars(select(AuditEntry).where(AuditEntry.event.like("webhook.%")))
        ]
    return r, runs, events


@pytest.mark.parametrize(
    ("ours", "theirs", "why"),
    [
        (
            "acct_OURS",
            "acct_OTHER",
            "connected account acct_OTHER; this connection acts for connected account acct_OURS",
        ),
        (None, "acct_OTHER", "connected account acct_OTHER; this connection acts for the platform account"),
        ("acct_OURS", None, "the platform account; this connection acts for connected account acct_OURS"),
    ],
    ids=["another-connected-account", "connected-on-platform", "platform-on-connected"],
)
async def test_an_event_of_another_account_starts_nothing(
    db_url: str, tmp_path: Path, ours: str | None, theirs: str | None, why: str
) -> None:
    r, runs, events = await deliver(db_url, tmp_path, ours, dispute("evt_1", theirs))
    assert r.status_code == 202, r.text
    assert r.json()["run_id"] is None and r.json()["events"][0]["ignored"].endswith(why)
    assert runs == 0
    assert [e for e, _ in events] == ["webhook.ignored"]


@pytest.mark.parametrize("ours", ["acct_OURS", None], ids=["connected", "platform"])
async def test_an_event_of_the_connections_own_account_is_taken(
    db_url: str, tmp_path: Path, ours: str | None
) -> None:
    r, runs, events = await deliver(db_url, tmp_path, ours, dispute("evt_2", ours))
    assert r.status_code == 202, r.text
    assert r.json()["run_id"] is not None and runs == 1
    assert [e for e, _ in events] == ["webhook.received"]


async def test_a_signed_body_that_is_not_a_stripe_event_is_a_422(db_url: str, tmp_path: Path) -> None:
    r, runs, events = await deliver(db_url, tmp_path, None, b"{}")
    assert r.status_code == 422 and r.json()["field"] == "type", r.text
    assert runs == 0 and events == []
