"""A workflow from a sentence: drafted, activated by a person, run on a signed event, every write approved."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from app.services.views import run_view
from app.store.crypto import SecretBox
from app.store.tables import Connection
from connectors.payments import webhooks as stripe
from tests.support.app import full_container

SENTENCE = "When a dispute opens in payments, open a ticket and post in #billing"


def add_webhook_secret(c: Any, name: str, secret: str) -> None:
    box: SecretBox = c.box
    with c.db.session() as s:
        row = s.query(Connection).filter_by(name=name).one()
        creds = box.open(row.credentials)
        row.credentials = box.seal({**creds, "webhook_secret": secret})


async def test_sentence_to_running_workflow(db_url: str, tmp_path: Path) -> None:
    c, _ = full_container(db_url, tmp_path)
    add_webhook_secret(c, "payments", "whsec_1")
    tokens = {r: create_token(c.db, f"{r}-person", r)[1] for r in ("operator", "approver")}

    def h(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        r = await api.post("/api/v1/workflows", json={"request": SENTENCE}, headers=h("operator"))
        assert r.status_code == 201, r.text
        draft = r.json()
        assert draft["status"] == "draft" and draft["problems"] == []
        assert draft["spec"]["trigger"] == {"connection": "payments", "event": "charge.dispute.created"}
        assert [s["tool"] for s in draft["spec"]["steps"]] == [
            "helpdesk__create_ticket",
            "chat__post_message",
        ]
        assert draft["spec"]["steps"][1]["arguments"]["channel"] == "#billing"
        assert any(
            s["kind"] == "model_call" for s in run_view(c.db, draft["run_id"])["steps"]
        )  # drafting is recorded

        # before activation an event starts nothing
        body = json.dumps(
            {
                "id": "evt_9",
                "type": "charge.dispute.created",
                "data": {
                    "object": {
                        "id": "dp_9",
                        "object": "dispute",
                        "amount": 4599,
                        "currency": "usd",
                        "charge": "ch_9",
                        "reason": "fraudulent",
                    }
                },
            }
        ).encode()
        signed = {"Stripe-Signature": stripe.sign(body, "whsec_1", int(time.time()))}
        assert (await api.post("/api/v1/webhooks/payments", content=body, headers=signed)).json()[
            "workflow_runs"
        ] == []

        assert (
            await api.post(f"/api/v1/workflows/{draft['id']}/activate", headers=h("operator"))
        ).status_code == 403
        r = await api.post(f"/api/v1/workflows/{draft['id']}/activate", headers=h("approver"))
        assert (
            r.status_code == 200
            and r.json()["status"] == "active"
            and r.json()["activated_by"] == "approver-person"
        )
        assert (
            await api.post(f"/api/v1/workflows/{draft['id']}/activate", headers=h("approver"))
        ).status_code == 409

        body = body.replace(b"evt_9", b"evt_10").replace(b"dp_9", b"dp_10")
        signed = {"Stripe-Signature": stripe.sign(body, "whsec_1", int(time.time()))}
        [run_id] = (await api.post("/api/v1/webhooks/payments", content=body, headers=signed)).json()[
            "workflow_runs"
        ]

        for expected in ("create_ticket", "post_message"):
            await c.orchestrator.drain("w")
            pending = [a for a in run_view(c.db, run_id)["actions"] if a["status"] == "pending"]
            assert [a["operation"] for a in pending] == [expected]
            r = await api.post(f"/api/v1/approvals/{pending[0]['id']}/approve", headers=h("approver"))
            assert r.status_code == 200
        await c.orchestrator.drain("w")
        assert run_view(c.db, run_id)["status"] == "succeeded", run_view(c.db, run_id)["error"]
    history = await c.pool.connector("chat").channel_history(channel="#billing")  # type: ignore[attr-defined]
    texts = [m.get("text", "") for m in history["messages"]]
    assert any("Dispute dp_10" in t and "ticket #" in t for t in texts), texts
    await c.pool.aclose()


async def test_a_request_it_cannot_build_says_so(db_url: str, tmp_path: Path) -> None:
    c, _ = full_container(db_url, tmp_path)
    token = create_token(c.db, "op", "operator")[1]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        r = await api.post(
            "/api/v1/workflows",
            json={"request": "whenever the moon is full, water the plants"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201 and r.json()["problems"]
        r2 = await api.post(
            f"/api/v1/workflows/{r.json()['id']}/activate",
            headers={"Authorization": f"Bearer {create_token(c.db, 'ap', 'approver')[1]}"},
        )
        assert r2.status_code == 422 and "trigger" in r2.json()["error"]
        assert (
            await api.post(
                "/api/v1/workflows", json={"request": "x"}, headers={"Authorization": f"Bearer {token}"}
            )
        ).status_code == 422
    await c.pool.aclose()


def test_a_path_index_is_ascii_digits_only() -> None:
    """`event.items.²` is no index (int() refuses '²'): the field is missing, not an error."""
    from app.services.workflow_engine import field

    scope = {"event": {"items": ["a", "b"]}}
    assert field(scope, "event.items.1") == "b" and field(scope, "event.items.-1") == "b"
    assert field(scope, "event.items.\u00b2") is None
