"""Edits at approval, through the HTTP API: values an approver chose in a money, final or payee
write are confirmed by a second person, and an approval applies to the arguments its approver
read (`version`), never to an edit made after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.services.auth import create_token
from tests.support.app import full_container

# A bank account that is on no vendor record: the approver's own.
MY_IBAN = "DE89370400440532013000"
INVOICE = {
    "kind": "invoice",
    "amount": "380.00",
    "currency": "EUR",
    "counterparty": "Sparkle Office Cleaning GmbH",
    "description": "Office cleaning, November",
    "invoice_number": "SOC-2211",
    "date": "2026-11-28",
}


class Rig:
    def __init__(self, c: Any, sims: dict[str, Any], client: httpx.AsyncClient):
        self.c, self.sims, self.client = c, sims, client
        people = {"olly": "operator", "pat": "approver", "lee": "approver"}
        self.tokens = {name: create_token(c.db, name, role)[1] for name, role in people.items()}

    async def call(self, method: str, path: str, who: str, **kw: Any) -> httpx.Response:
        return await self.client.request(
            method, path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw
        )


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    c, sims = full_container(db_url, tmp_path)  # the local model, as the demo runs
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Rig(c, sims, client)
    await c.pool.aclose()


async def _vendor_action(rig: Rig) -> dict[str, Any]:
    r = await rig.call("POST", "/api/v1/records", "olly", json=INVOICE)
    assert r.status_code == 202, r.text
    await rig.c.orchestrator.drain("w")
    run = (await rig.call("GET", f"/api/v1/runs/{r.json()['run_id']}", "olly")).json()
    [vendor] = [a for a in run["actions"] if a["operation"] == "create_vendor"]
    assert vendor["status"] == "pending" and not vendor["arguments"].get("iban")
    return vendor


async def test_one_approver_cannot_both_choose_a_payee_account_and_approve_it(rig: Rig) -> None:
    """Four eyes on payees: whoever supplies the bank account a new payee is paid to must not be
    the only person approving it (RunContext.requester_of: 'the classic vendor-master fraud').
    Approver pat types an IBAN into the pending create_vendor: that edit is pat's approval, the
    first of two, and nothing is created until another approver confirms the account."""
    vendor = await _vendor_action(rig)
    edited = {**vendor["arguments"], "iban": MY_IBAN}
    r = await rig.call("POST", f"/api/v1/approvals/{vendor['id']}/approve", "pat", json={"arguments": edited})
    assert r.status_code == 200, r.text
    decided = r.json()
    await rig.c.orchestrator.drain("w")
    created = [v for v in rig.sims["erp"].state.erp.vendors.values() if v.get("IBAN") == MY_IBAN]

    # What the gate itself says about the write it just let through on one person's word:
    assert decided["risk"] == "high"
    assert any("not on any vendor record" in why for why in decided["reasons"])
    # The promise: a second, different approver must decide it; it must not already be out.
    assert (decided["status"], decided["required_approvals"], len(created)) == ("pending", 2, 0), (
        f"status={decided['status']} decided_by={decided['decided_by']} "
        f"required={decided['required_approvals']} vendors created with {MY_IBAN}: {created}"
    )
    assert any("values chosen at approval by pat" in why for why in decided["reasons"])
    # Lee reads what pat chose and confirms it: now, and only now, the payee is created.
    seen = (await rig.call("GET", f"/api/v1/approvals/{vendor['id']}", "lee")).json()
    assert seen["arguments"]["iban"] == MY_IBAN
    r = await rig.call(
        "POST", f"/api/v1/approvals/{vendor['id']}/approve", "lee", json={"version": seen["version"]}
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    await rig.c.orchestrator.drain("w")
    assert [v for v in rig.sims["erp"].state.erp.vendors.values() if v.get("IBAN") == MY_IBAN]


# -- an approval is of the arguments its approver read ---------------------------------------------
EMAIL = "dana.reyes@example.com"


def _triage_proposing_refund(charge_id: str, amount: int) -> list[Any]:
    from app.llm.base import ModelResponse, ToolCall, Usage
    from app.llm.scripted import output, text

    return [
        output(
            {
                "category": "refund",
                "priority": "high",
                "sentiment": "negative",
                "language": "en",
                "confidence": 0.93,
                "rationale": "a broken item and money back",
            }
        ),
        output({"body": "We are refunding part of it.", "sources": [], "grounded": True}),
        ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c1",
                    name="payments__create_refund",
                    arguments={"charge_id": charge_id, "amount": amount},
                )
            ],
            stop_reason="tool_use",
            usage=Usage(input_tokens=100, output_tokens=20),
        ),
        text("Proposed the refund."),
    ]


@pytest.fixture
async def scripted(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Rig, Any]]:
    from app.llm.scripted import ScriptedModel

    model = ScriptedModel()
    c, sims = full_container(db_url, tmp_path, model)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Rig(c, sims, client), model
    await c.pool.aclose()


async def test_an_approval_applies_to_the_arguments_its_approver_read(scripted: Any) -> None:
    """Four eyes means two people approved the same write. pat reads a pending 600.00 refund
    (two approvers needed); before pat clicks, lee edits it to the whole 900.00 charge (lee's
    edit is lee's approval). pat's click, with the version pat read or with none, is refused:
    it would have approved 900.00 that only lee saw. Read again, pat may approve it."""
    rig, model = scripted
    payments = rig.sims["payments"].state.payments
    dana = payments.add_customer(name="Dana Reyes", email=EMAIL, currency="usd")
    charge = payments.add_charge(customer_id=dana["id"], amount=90000, currency="usd", description="Sofa")
    model.extend(_triage_proposing_refund(charge["id"], 60000))
    ticket = {"subject": "Sofa", "body": "It arrived torn.", "requester_email": EMAIL, "external_id": 5}
    run_id = (await rig.call("POST", "/api/v1/tickets", "olly", json=ticket)).json()["run_id"]
    await rig.c.orchestrator.drain("w")
    run = (await rig.call("GET", f"/api/v1/runs/{run_id}", "olly")).json()
    [refund] = [a for a in run["actions"] if a["operation"] == "create_refund"]

    seen_by_pat = (await rig.call("GET", f"/api/v1/approvals/{refund['id']}", "pat")).json()
    assert seen_by_pat["arguments"]["amount"] == 60000 and seen_by_pat["required_approvals"] == 2

    edited = {"charge_id": charge["id"], "amount": 90000}
    r = await rig.call("POST", f"/api/v1/approvals/{refund['id']}/approve", "lee", json={"arguments": edited})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text  # lee's edit: 1 of 2

    # pat clicks approve on what pat read: with its version, or with none at all
    for body in ({"version": seen_by_pat["version"]}, None):
        r = await rig.call("POST", f"/api/v1/approvals/{refund['id']}/approve", "pat", json=body)
        assert r.status_code == 409, r.text
        assert "edited" in r.json()["error"]
    await rig.c.orchestrator.drain("w")
    assert not [x for x in payments.refunds.values() if x["charge"] == charge["id"]]

    # pat reads it again, sees 900.00, and approves that
    seen_again = (await rig.call("GET", f"/api/v1/approvals/{refund['id']}", "pat")).json()
    assert seen_again["arguments"]["amount"] == 90000 and seen_again["version"] != seen_by_pat["version"]
    r = await rig.call(
        "POST", f"/api/v1/approvals/{refund['id']}/approve", "pat", json={"version": seen_again["version"]}
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    await rig.c.orchestrator.drain("w")
    assert [x["amount"] for x in payments.refunds.values() if x["charge"] == charge["id"]] == [90000]
