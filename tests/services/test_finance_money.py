"""Money you can trust: no double booking, no false evidence, no irreversible write that looks
routine, no assumed vendor. End to end with the local model on the simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import approvals, intake
from app.services.auth import Principal
from app.services.views import run_view
from tests.support.app import full_container

PAT = Principal("pat", "approver")
LEE = Principal("lee", "approver")
README_INVOICE = {
    "kind": "invoice",
    "amount": "486.20",
    "currency": "EUR",
    "counterparty": "Fabrikam",
    "description": "Toner and paper",
    "invoice_number": "FAB-30001",
    "date": "2026-11-20",
    "vendor_id": "V1002",
}


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    c, sims = full_container(db_url, tmp_path, crm=True)
    yield c, sims
    await c.pool.aclose()


def submit(c: Any, record: dict[str, Any], actor: str = "erp-sync") -> str:
    return intake.submit(c.db, kind="record", run_kind="record", payload=record, source="api", actor=actor)[0]


async def run(c: Any, record: dict[str, Any], actor: str = "erp-sync") -> dict[str, Any]:
    run_id = submit(c, record, actor)
    await c.orchestrator.drain("w")
    return run_view(c.db, run_id)


async def _ui_get(c: Any, path: str) -> str:
    import httpx

    from app.api.app import create_app
    from app.services.auth import create_token

    token = create_token(c.db, "reader", "viewer")[1]
    transport = httpx.ASGITransport(app=create_app(c))
    async with httpx.AsyncClient(transport=transport, base_url="http://sb") as client:
        r = await client.get(path, headers={"Cookie": f"sb_token={token}"})
    assert r.status_code == 200, r.text[:500]
    return r.text


def ops(view: dict[str, Any]) -> list[str]:
    return [a["operation"] for a in view["actions"]]


# --- 1. double booking ---------------------------------------------------------------------------


async def test_the_same_invoice_posted_again_after_its_entry_was_booked_is_a_duplicate(rig: Any) -> None:
    """The README's invoice, approved and booked, then posted again: the second run finds the
    entry in the ERP's journal and proposes no second journal entry."""
    c, _ = rig
    first = await run(c, README_INVOICE)
    [entry] = [a for a in first["actions"] if a["operation"] == "post_journal_entry"]
    assert entry["required_approvals"] == 1  # 486.20 is below the default threshold of 500.00
    approvals.approve(c.db, entry["id"], PAT, c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, first["id"])["status"] == "succeeded"

    again = await run(c, README_INVOICE)
    findings = {f["kind"]: f["reason"] for f in again["classification"]["findings"]}
    assert "already_booked" in findings, findings
    assert "FAB-30001" in findings["already_booked"] and "journal" in findings["already_booked"]
    assert "post_journal_entry" not in ops(again)
    [notice] = [a for a in again["actions"] if a["operation"] == "post_message"]
    assert "FAB-30001" in notice["arguments"]["text"]


async def test_an_invoice_whose_entry_waits_in_the_queue_is_a_duplicate(rig: Any) -> None:
    c, _ = rig
    first = await run(c, README_INVOICE)
    [pending] = [a for a in first["actions"] if a["operation"] == "post_journal_entry"]
    assert pending["status"] == "pending"
    again = await run(c, {**README_INVOICE, "description": "toner, paper (resent by vendor)"})
    findings = {f["kind"]: f["reason"] for f in again["classification"]["findings"]}
    assert "duplicate_pending" in findings and pending["id"] in findings["duplicate_pending"], findings
    assert "post_journal_entry" not in ops(again)


async def test_a_journal_entry_proposed_by_hand_for_a_booked_invoice_is_high_risk(rig: Any) -> None:
    """Whatever the model proposes, the gate reads the duplicate finding."""
    from app.agent.policy import Policy
    from app.services.finance import gate_findings
    from tests.support.tools import tool

    findings = gate_findings(
        {"kind": "invoice"}, [{"kind": "already_booked", "reason": "invoice FAB-30001 is already booked"}]
    )
    d = Policy().decide(
        tool("erp__post_journal_entry"),
        {"date": "2026-11-20", "memo": "x", "lines": []},
        {"findings": findings},
    )
    assert d.risk == "high" and "invoice FAB-30001 is already booked" in d.reasons


async def test_a_second_refund_for_a_charge_with_a_refund_pending_or_done_is_a_duplicate(rig: Any) -> None:
    c, _ = rig
    payments = c.pool.connector("payments")
    dana = await payments.find_customer(email="dana.whitfield@example.com")  # type: ignore[attr-defined]
    [blender] = [
        ch
        for ch in await payments.list_charges(customer_id=dana["id"])  # type: ignore[attr-defined]
        if "NW-48102" in ch["description"]
    ]
    refund = {
        "kind": "refund",
        "amount": "129.00",
        "currency": "USD",
        "counterparty": "Dana Whitfield",
        "description": "blender arrived broken",
        "customer_email": "dana.whitfield@example.com",
        "charge_id": blender["id"],
    }
    first = await run(c, refund, actor="clerk-kim")
    assert "create_refund" in ops(first)
    pending = await run(c, refund, actor="clerk-joe")  # asked again while the first waits
    assert "create_refund" not in ops(pending)
    reasons = [f["reason"] for f in pending["classification"]["findings"] if f["kind"] == "duplicate_refund"]
    assert reasons and "pending in the queue" in reasons[0], pending["classification"]["findings"]

    [made] = [a for a in first["actions"] if a["operation"] == "create_refund"]
    approvals.approve(c.db, made["id"], PAT, c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, first["id"])["status"] == "succeeded"
    done = await run(c, {**refund, "description": "customer called again"}, actor="clerk-ann")
    assert "create_refund" not in ops(done)
    reasons = [f["reason"] for f in done["classification"]["findings"] if f["kind"] == "duplicate_refund"]
    assert any("already has refund re_" in r for r in reasons), reasons


async def test_a_record_s_currency_never_makes_its_journal_entry_weigh_less(rig: Any) -> None:
    """The ledger's lines carry no currency and the record's is what the sender says: an invoice
    that claims yen is still booked in the ledger's two-decimal currency, so its entry is read
    with two decimals (120,000.00 is 12,000,000 minor units), flagged as larger than the record,
    and needs two approvers; a claimed currency can never shrink what the gate weighs."""
    c, _ = rig
    yen = {**README_INVOICE, "amount": "120000", "currency": "JPY", "invoice_number": "FAB-30777"}
    view = await run(c, yen)
    [entry] = [a for a in view["actions"] if a["operation"] == "post_journal_entry"]
    assert entry["effects"]["money"]["amount"] == 12_000_000
    assert any("larger than the record's amount" in r for r in entry["reasons"]), entry["reasons"]
    assert (entry["risk"], entry["required_approvals"]) == ("high", 2)


async def test_a_yen_refund_proposes_as_many_yen_as_the_record_asks(rig: Any) -> None:
    """Stripe counts JPY in whole yen: refunding ¥5,000 of a ¥5,000 charge is amount=5000, which
    is all that is left on it and no more than the record, not 500,000."""
    c, sims = rig
    state = sims["payments"].state.payments
    kenji = state.add_customer(name="Kenji Sato", email="kenji.sato@example.jp", currency="jpy")
    charge = state.add_charge(customer_id=kenji["id"], amount=5000, currency="jpy", description="Tea set")
    view = await run(
        c,
        {
            "kind": "refund",
            "amount": "5000",
            "currency": "JPY",
            "counterparty": "Kenji Sato",
            "description": "tea set arrived broken",
            "customer_email": "kenji.sato@example.jp",
            "charge_id": charge["id"],
        },
        actor="clerk-kim",
    )
    assert not view["classification"]["findings"], view["classification"]["findings"]
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    assert refund["arguments"]["amount"] == 5000
    assert (refund["effects"]["money"]["amount"], refund["effects"]["money"]["left"]) == (5000, 5000)
    assert not [r for r in refund["reasons"] if "exceeds" in r or "larger than" in r], refund["reasons"]
    assert "¥5,000" in await _ui_get(c, "/ui/queue")


async def test_a_claimed_currency_never_raises_what_a_record_lets_a_write_move(rig: Any) -> None:
    """A refund record that says 12.90 KWD (three decimals) for a $129.00 USD charge: read in the
    claimed currency it would cap the refund at 12900, ten times the record, and a refund of the
    whole charge would pass as "the record's amount". The record's cap is never more than its
    amount read with two decimals, and a currency that is not the charge's is a finding: no refund
    is proposed, and one a person proposes by hand is high risk."""
    c, sims = rig
    state = sims["payments"].state.payments
    dana = state.add_customer(name="Dana Reyes", email="dana.reyes@example.com", currency="usd")
    charge = state.add_charge(customer_id=dana["id"], amount=12900, currency="usd", description="Blender")
    view = await run(
        c,
        {
            "kind": "refund",
            "amount": "12.90",
            "currency": "KWD",
            "counterparty": "Dana Reyes",
            "description": "blender arrived broken",
            "customer_email": "dana.reyes@example.com",
            "charge_id": charge["id"],
        },
        actor="clerk-kim",
    )
    findings = {f["kind"]: f["reason"] for f in view["classification"]["findings"]}
    assert "is in KWD, but charge" in findings.get("currency_mismatch", ""), findings
    assert "create_refund" not in ops(view)

    from app.agent.policy import Policy, new_facts
    from app.services.finance import gate_findings, record_cap

    assert (record_cap("12.90", "KWD"), record_cap("12.90", "USD"), record_cap("5000", "JPY")) == (
        1290,
        1290,
        5000,
    )
    facts = new_facts()
    facts.update(record_amount=record_cap("12.90", "KWD"))
    facts["findings"] = gate_findings({"charge_id": charge["id"]}, view["classification"]["findings"])
    refund = c.pool.catalogue().get("payments__create_refund")
    decision = Policy().decide(refund, {"charge_id": charge["id"], "amount": 12900}, facts)
    assert decision.risk == "high", decision.reasons
    assert any("larger than the record's amount 1290" in r for r in decision.reasons), decision.reasons
    assert any("is in KWD, but charge" in r for r in decision.reasons), decision.reasons


# --- 2. dispute evidence --------------------------------------------------------------------------


async def test_dispute_evidence_never_claims_what_the_help_desk_contradicts(rig: Any) -> None:
    """Raj Patel asked the help desk for a refund of his duplicate Plus charge; a dispute on it
    must not say that no refund was requested, and must not be submitted as if it could."""
    c, _ = rig
    payments = c.pool.connector("payments")
    raj = await payments.find_customer(email="raj.patel@example.org")  # type: ignore[attr-defined]
    newest = (await payments.list_charges(customer_id=raj["id"]))[0]  # type: ignore[attr-defined]
    emitted = await payments.client.post("/_emit/dispute_created", json={"charge": newest["id"]})  # type: ignore[attr-defined]
    dispute = emitted.json()["event"]["data"]["object"]
    view = await run(
        c,
        {
            "kind": "dispute",
            "amount": "9.99",
            "currency": "USD",
            "counterparty": newest["id"],
            "description": "Dispute opened: fraudulent",
            "dispute_id": dispute["id"],
            "charge_id": newest["id"],
        },
        actor="webhook:payments",
    )
    read = [s["data"]["tool"] for s in view["steps"] if s["kind"] == "tool_call"]
    assert "helpdesk__search_tickets" in read and "crm__list_notes" in read, read
    draft = view["draft"]
    assert "refund" not in draft["text"].lower() or "no refund has been issued" in draft["text"].lower()
    assert "did not ask for a refund" not in draft["text"]
    assert "(source: payments charge" in draft["text"]  # every sentence names its fact
    [left_out] = [r for r in draft["rejected_claims"] if r["claim"] == "no_refund_requested"]
    assert "help-desk ticket" in left_out["reason"] and "refund" in left_out["reason"]
    kinds = {f["kind"] for f in view["classification"]["findings"]}
    assert "refund_requested_before_dispute" in kinds
    page = await _ui_get(c, f"/ui/runs/{view['id']}")
    assert "Left out, because the facts read do not support them" in page and "no refund requested" in page
    [submit] = [a for a in view["actions"] if a["operation"] == "submit_dispute_evidence"]
    assert submit["arguments"]["uncategorized_text"] == draft["text"]
    assert submit["arguments"]["submit"] is False  # saved for a person, not sent
    assert submit["bulk"] is False  # written to the card network: never in a bulk approval


async def test_submitting_evidence_is_final_and_edited_evidence_is_unchecked(rig: Any) -> None:
    from app.agent.policy import Policy
    from tests.support.tools import tool

    evidence_tool = tool("payments__submit_dispute_evidence")
    facts = {
        "findings": [
            {
                "operation": "submit_dispute_evidence",
                "unless": {"uncategorized_text": "checked text"},
                "level": "high",
                "reason": "the evidence text is not the text whose claims were checked",
            }
        ]
    }
    # `submit` left out means submitted (Stripe's default): final, never low
    ok = Policy().decide(evidence_tool, {"dispute_id": "dp_1", "uncategorized_text": "checked text"}, facts)
    assert ok.risk == "medium" and any("final submission" in r for r in ok.reasons)
    edited = Policy().decide(
        evidence_tool, {"dispute_id": "dp_1", "uncategorized_text": "No refund was ever requested."}, facts
    )
    assert edited.risk == "high"


def test_an_unchecked_claim_in_another_evidence_field_is_not_a_routine_submission() -> None:
    """The issuer reads every evidence field: a claim the check refused must not ride along in
    `product_description` (or the email field) beside the checked text."""
    from app.agent.policy import Policy, new_facts
    from app.services.finance import FinancePipeline
    from tests.support.tools import tool

    checked = "The payment of 129.00 USD was authorised by the cardholder."
    evidence_tool = tool("payments__submit_dispute_evidence")
    facts = new_facts()
    facts["findings"] = FinancePipeline._evidence_finding({"kind": "dispute"}, {"text": checked})
    alone = {"dispute_id": "dp_1", "uncategorized_text": checked, "submit": True}
    assert Policy().decide(evidence_tool, alone, facts).risk == "medium"  # final, so never low
    for field, claim in [
        ("product_description", "Delivered and signed for. The customer never asked for a refund."),
        ("customer_email_address", "someone.else@example.com"),
    ]:
        decision = Policy().decide(evidence_tool, {**alone, field: claim}, facts)
        assert decision.risk == "high", (field, decision.reasons)


# --- 4. unknown vendors ---------------------------------------------------------------------------


async def test_an_unknown_vendor_is_proposed_for_creation_not_booked_to_a_guessed_account(rig: Any) -> None:
    c, _ = rig
    view = await run(
        c,
        {
            "kind": "invoice",
            "amount": "380.00",
            "currency": "EUR",
            "counterparty": "Sparkle Office Cleaning GmbH",
            "description": "Office cleaning, November",
            "invoice_number": "SOC-2211",
            "date": "2026-11-28",
        },
    )
    cls = view["classification"]
    assert cls["needs_review"] is True
    assert "unknown_vendor" in cls["anomalies"] and "gl_account_guess" in cls["anomalies"]
    assert "Needs review" in cls["rationale"] and "guess" in cls["rationale"]
    assert "post_journal_entry" not in ops(view)
    [vendor] = [a for a in view["actions"] if a["operation"] == "create_vendor"]
    assert vendor["arguments"]["name"] == "Sparkle Office Cleaning GmbH"
    assert vendor["effects"]["reversible"] is False

    approvals.approve(c.db, vendor["id"], PAT, c.pool.catalogue)
    for other in view["actions"]:
        if other["id"] != vendor["id"]:
            approvals.reject(c.db, other["id"], PAT, "seen")
    await c.orchestrator.drain("w")
    found = await c.pool.connector("erp").find_vendor(name="Sparkle Office")  # type: ignore[attr-defined]
    assert [v["Name"] for v in found] == ["Sparkle Office Cleaning GmbH"]


async def test_a_known_vendor_without_a_default_account_says_the_account_is_a_guess(rig: Any) -> None:
    c, sims = rig
    state = sims["erp"].state.erp
    state.vendors["V1005"]["DefaultGLAccount"] = None  # Blue Yonder Travel, no default account
    view = await run(
        c,
        {
            "kind": "invoice",
            "amount": "214.60",
            "currency": "EUR",
            "counterparty": "Blue Yonder Travel",
            "description": "Flight BER-MXP",
            "invoice_number": "BYT-88999",
            "date": "2026-11-25",
            "vendor_id": "V1005",
        },
    )
    assert view["classification"]["needs_review"] is True
    [entry] = [a for a in view["actions"] if a["operation"] == "post_journal_entry"]
    assert any("is a guess" in r for r in entry["reasons"]), entry["reasons"]


# --- 5. the two-approver rule in the seeded data ---------------------------------------------------


async def test_a_refund_on_the_seeded_hotel_order_needs_two_approvers_at_the_default_threshold(
    rig: Any,
) -> None:
    c, _ = rig
    assert c.settings.two_approvers_above == 50_000
    payments = c.pool.connector("payments")
    hotel = await payments.find_customer(email="purchasing@harborlane.example")  # type: ignore[attr-defined]
    [order] = await payments.list_charges(customer_id=hotel["id"])  # type: ignore[attr-defined]
    view = await run(
        c,
        {
            "kind": "refund",
            "amount": "780.00",
            "currency": "USD",
            "counterparty": "Harbor Lane Hotels",
            "description": "10 of 40 bedding sets arrived stained",
            "customer_email": "purchasing@harborlane.example",
            "charge_id": order["id"],
        },
        actor="clerk-kim",
    )
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    assert refund["required_approvals"] == 2, refund["reasons"]
