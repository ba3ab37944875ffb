"""The HTTP API of CONTRACT.md: auth, roles, validation errors, the approval flow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.llm.scripted import ScriptedModel
from app.main import Container
from app.services.auth import create_token
from tests.support.app import container, triage_script

TICKET = {
    "subject": "Charged twice",
    "body": "Billed twice in March.",
    "requester_email": "ann@example.com",
    "external_id": 5,
}


class Api:
    def __init__(self, c: Container, client: httpx.AsyncClient):
        self.c = c
        self.client = client
        self.tokens = {
            role: create_token(c.db, f"{role}-user", role)[1]
            for role in ("viewer", "operator", "approver", "admin")
        }

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if role:
            headers.update(self.h(role))
        return await self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    c = container(db_url, tmp_path, ScriptedModel(triage_script(5)), SWITCHBOARD_MAX_BODY_BYTES=5000)
    app = create_app(c)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as client:
        yield Api(c, client)
    await c.pool.aclose()


async def test_health_needs_no_token(api: Api) -> None:
    r = await api.call("GET", "/healthz", role=None)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_missing_and_bad_tokens_are_401(api: Api) -> None:
    assert (await api.call("GET", "/api/v1/approvals", role=None)).status_code == 401
    r = await api.call("GET", "/api/v1/approvals", role=None, headers={"Authorization": "Bearer sb_nope"})
    assert r.status_code == 401 and "token" in r.json()["error"]


async def test_validation_errors_name_the_field(api: Api) -> None:
    r = await api.call(
        "POST", "/api/v1/tickets", role="operator", json={"body": "x", "requester_email": "a@b.co"}
    )
    assert r.status_code == 422 and "subject" in r.json()["error"]
    r = await api.call(
        "POST", "/api/v1/tickets", role="operator", json={**TICKET, "requester_email": "not-an-email"}
    )
    assert r.status_code == 422 and "requester_email" in r.json()["error"]
    r = await api.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "subject": "   "})
    assert r.status_code == 422 and "subject" in r.json()["error"]
    r = await api.call(
        "POST",
        "/api/v1/tickets",
        role="operator",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = await api.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "body": "x" * 6000})
    assert r.status_code == 413
    assert (await api.call("GET", "/api/v1/runs/nope")).status_code == 404
    r = await api.call("GET", "/api/v1/approvals?status=bogus")
    assert r.status_code == 422 and r.json()["field"] == "status"


async def test_a_ticket_id_the_help_desk_cannot_have_is_refused(api: Api) -> None:
    """The help desk's ticket ids are integers (its get_ticket says so): "ext-77" would be triaged
    into writes no help desk takes, so it is refused at intake, naming the field; "5" is ticket 5."""
    r = await api.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "external_id": "ext-77"})
    assert r.status_code == 422 and r.json()["field"] == "external_id"
    assert "'ext-77' is not a ticket id of helpdesk" in r.json()["error"]
    # digits to str.isdigit() that int() refuses ('²') or reads as another number ('١٢')
    for odd in ("\u00b2", "\u0661\u0662"):
        r = await api.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "external_id": odd})
        assert r.status_code == 422 and r.json()["field"] == "external_id", r.text
    assert (await api.call("GET", "/api/v1/runs")).json() == []
    r = await api.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "external_id": "5"})
    assert r.status_code == 202


async def test_roles(api: Api) -> None:
    assert (await api.call("POST", "/api/v1/tickets", role="viewer", json=TICKET)).status_code == 403
    assert (await api.call("GET", "/api/v1/tokens", role="approver")).status_code == 403
    r = await api.call("POST", "/api/v1/tokens", role="admin", json={"name": "bot", "role": "wizard"})
    assert r.status_code == 422 and "role" in r.json()["error"]
    r = await api.call("POST", "/api/v1/tokens", role="admin", json={"name": "bot", "role": "viewer"})
    assert r.status_code == 201
    new = r.json()["token"]
    assert (
        await api.call("GET", "/api/v1/runs", role=None, headers={"Authorization": f"Bearer {new}"})
    ).status_code == 200
    assert (await api.call("DELETE", f"/api/v1/tokens/{r.json()['id']}")).status_code == 204
    assert (
        await api.call("GET", "/api/v1/runs", role=None, headers={"Authorization": f"Bearer {new}"})
    ).status_code == 401


async def test_ticket_to_approval_to_write(api: Api) -> None:
    r = await api.call("POST", "/api/v1/tickets", role="operator", json=TICKET)
    assert r.status_code == 202
    run_id = r.json()["run_id"]
    again = await api.call("POST", "/api/v1/tickets", role="operator", json=TICKET)
    assert again.json()["run_id"] == run_id  # the same ticket delivered twice is one run
    await api.c.orchestrator.drain("w")

    run = (await api.call("GET", f"/api/v1/runs/{run_id}", role="viewer")).json()
    assert run["status"] == "waiting_approval"
    assert {"id", "kind", "status", "classification", "draft", "actions", "steps", "usage"} <= set(run)
    assert set(run["usage"]) == {"input_tokens", "output_tokens", "cost_usd"}
    pending = (await api.call("GET", "/api/v1/approvals?status=pending", role="viewer")).json()
    assert len(pending) == 2
    assert {"id", "run_id", "connection", "operation", "arguments", "risk", "reasons", "status"} <= set(
        pending[0]
    )
    reply = next(a for a in pending if a["operation"] == "add_comment")
    other = next(a for a in pending if a["operation"] == "update_ticket")

    assert (
        await api.call("POST", f"/api/v1/approvals/{reply['id']}/approve", role="operator")
    ).status_code == 403
    r = await api.call(
        "POST",
        f"/api/v1/approvals/{reply['id']}/approve",
        role="approver",
        json={"arguments": {"ticket_id": "five"}},
    )
    assert r.status_code == 422 and "ticket_id" in r.json()["error"]
    edited = {**reply["arguments"], "body": "Edited reply."}
    r = await api.call(
        "POST", f"/api/v1/approvals/{reply['id']}/approve", role="approver", json={"arguments": edited}
    )
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["edited"] is True
    r = await api.call("POST", f"/api/v1/approvals/{reply['id']}/approve", role="approver")
    assert r.status_code == 409 and "no longer pending" in r.json()["error"]

    r = await api.call("POST", f"/api/v1/approvals/{other['id']}/reject", role="approver", json={})
    assert r.status_code == 422 and "reason" in r.json()["error"]
    r = await api.call(
        "POST",
        f"/api/v1/approvals/{other['id']}/reject",
        role="approver",
        json={"reason": "priority is fine"},
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (
        await api.call(
            "POST", f"/api/v1/approvals/{other['id']}/reject", role="approver", json={"reason": "x"}
        )
    ).status_code == 409

    await api.c.orchestrator.drain("w")
    run = (await api.call("GET", f"/api/v1/runs/{run_id}")).json()
    assert run["status"] == "succeeded"
    statuses = {a["operation"]: a["status"] for a in run["actions"]}
    assert statuses == {"add_comment": "succeeded", "update_ticket": "rejected"}
    comments = await api.c.pool.connector("helpdesk").list_comments(ticket_id=5)  # type: ignore[attr-defined]
    assert [c["body"] for c in comments].count("Edited reply.") == 1

    metrics = await api.call("GET", "/metrics", role=None)
    assert 'switchboard_actions{status="succeeded"} 1.0' in metrics.text


async def test_a_payee_proposed_from_an_invoice_someone_posts_is_theirs(db_url: str, tmp_path: Path) -> None:
    """A person who posts an invoice from a vendor the ERP does not know cannot approve the vendor
    the agent proposes from it, with the bank account they typed in: creating a payee with one's
    own account and then getting it paid is the classic vendor-master fraud (four eyes). A second
    approver can, and the gate never rates a new payee low."""
    from evals.wiring import demo_container

    c, _ = demo_container(db_url, tmp_path)
    alice = create_token(c.db, "alice", "approver")[1]
    bob = create_token(c.db, "bob", "approver")[1]
    invoice = {
        "kind": "invoice",
        "amount": "380.00",
        "currency": "EUR",
        "counterparty": "Sparkle Office Cleaning GmbH",
        "description": "Office cleaning, November",
        "invoice_number": "SOC-2211",
        "date": "2026-11-28",
        "iban": "DE44 5001 0517 5407 3249 31",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:

        async def post(path: str, token: str, **kw: Any) -> httpx.Response:
            return await client.post(path, headers={"Authorization": f"Bearer {token}"}, **kw)

        r = await post("/api/v1/records", alice, json=invoice)
        assert r.status_code == 202
        await c.orchestrator.drain("w")
        run = (
            await client.get(f"/api/v1/runs/{r.json()['run_id']}", headers={"Authorization": f"Bearer {bob}"})
        ).json()
        [vendor] = [a for a in run["actions"] if a["operation"] == "create_vendor"]
        assert vendor["arguments"]["iban"] == invoice["iban"]

        refused = await post(f"/api/v1/approvals/{vendor['id']}/approve", alice)
        assert refused.status_code == 403 and "four eyes" in refused.json()["error"]
        assert vendor["risk"] != "low" and vendor["effects"]["payee"] == {"account": invoice["iban"]}
        approved = await post(f"/api/v1/approvals/{vendor['id']}/approve", bob)
        assert approved.status_code == 200 and approved.json()["decided_by"] == "bob"
        await c.orchestrator.drain("w")
        done = (
            await client.get(f"/api/v1/approvals/{vendor['id']}", headers={"Authorization": f"Bearer {bob}"})
        ).json()
    assert done["status"] == "succeeded" and done["requested_by"] == "alice"
    await c.pool.aclose()


async def test_connections_show_health_without_secrets(api: Api) -> None:
    r = await api.call("POST", "/api/v1/connections/helpdesk/test", role="operator")
    assert r.status_code == 200 and r.json()["health"] == "ok"
    rows = (await api.call("GET", "/api/v1/connections", role="viewer")).json()
    assert rows[0]["name"] == "helpdesk" and rows[0]["health"] == "ok" and rows[0]["owner"] == "ops"
    assert "s3cr3t" not in str(rows)


async def test_a_refund_asked_for_in_a_ticket_someone_posts_is_theirs(db_url: str, tmp_path: Path) -> None:
    """A person who posts a ticket asking for money back cannot approve the refund the agent proposes
    from it (four eyes), as if they had asked for it in chat; a second approver can. Its reply,
    which moves no money, stays theirs to approve, as for a ticket a system delivered."""
    from evals.wiring import demo_container

    c, _ = demo_container(db_url, tmp_path)
    alice = create_token(c.db, "alice", "approver")[1]
    bob = create_token(c.db, "bob", "approver")[1]
    subject, body = (
        "Charged twice for Plus",
        "My card shows the Plus renewal twice. Please refund the duplicate.",
    )
    created = await c.pool.connector("helpdesk").create_ticket(  # type: ignore[attr-defined]
        subject=subject, body=body, requester_email="raj.patel@example.org"
    )
    ticket = {
        "subject": subject,
        "body": body,
        "requester_email": "raj.patel@example.org",
        "external_id": created["ticket_id"],
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:

        async def post(path: str, token: str, **kw: Any) -> httpx.Response:
            return await client.post(path, headers={"Authorization": f"Bearer {token}"}, **kw)

        r = await post("/api/v1/tickets", alice, json=ticket)
        assert r.status_code == 202
        await c.orchestrator.drain("w")
        run = (
            await client.get(f"/api/v1/runs/{r.json()['run_id']}", headers={"Authorization": f"Bearer {bob}"})
        ).json()
        [refund] = [a for a in run["actions"] if a["operation"] == "create_refund"]
        [reply] = [a for a in run["actions"] if a["operation"] == "add_comment"]

        refused = await post(f"/api/v1/approvals/{refund['id']}/approve", alice)
        assert refused.status_code == 403 and "four eyes" in refused.json()["error"]
        assert (await post(f"/api/v1/approvals/{reply['id']}/approve", alice)).status_code == 200
        approved = await post(f"/api/v1/approvals/{refund['id']}/approve", bob)
        assert approved.status_code == 200 and approved.json()["decided_by"] == "bob"
        await c.orchestrator.drain("w")
        done = (
            await client.get(f"/api/v1/approvals/{refund['id']}", headers={"Authorization": f"Bearer {bob}"})
        ).json()
    assert done["status"] == "succeeded" and done["requested_by"] == "alice"
    await c.pool.aclose()
