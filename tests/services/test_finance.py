"""Financial records end to end with the local model on the payments, ERP and chat simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import approvals, intake
from app.services.auth import Principal
from app.services.booked import refund_duplicates
from app.services.errors import Conflict, Forbidden
from app.services.evidence import check_claims
from app.services.finance import detect_anomalies
from app.services.views import run_view
from tests.support.app import full_container

PAT = Principal("pat", "approver")
LEE = Principal("lee", "approver")


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    c, sims = full_container(db_url, tmp_path, SWITCHBOARD_TWO_APPROVERS_ABOVE=20_000)
    yield c, sims
    await c.pool.aclose()


def submit(c: Any, record: dict[str, Any], actor: str = "erp-sync") -> str:
    return intake.submit(c.db, kind="record", run_kind="record", payload=record, source="api", actor=actor)[0]


async def test_new_invoice_gets_a_balanced_entry_posted_after_two_approvals(rig: Any) -> None:
    """The entry books 486.20, above the rig's threshold of 200.00: its debits count as a refund's
    amount does, so it needs two different approvers and is posted once, after the second."""
    c, _ = rig
    run_id = submit(
        c,
        {
            "kind": "invoice",
            "amount": "486.20",
            "currency": "EUR",
            "counterparty": "Fabrikam Office Supplies",
            "description": "Toner and printer paper",
            "invoice_number": "FAB-30001",
            "date": "2026-11-20",
            "vendor_id": "V1002",
        },
    )
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    assert view["status"] == "waiting_approval", view["error"]
    assert view["classification"]["gl_account"] == "6200"  # office supplies, the vendor's default
    lines = view["draft"]["lines"]
    assert sum(x["debit"] for x in lines) == sum(x["credit"] for x in lines) == 486.20
    [entry] = [a for a in view["actions"] if a["operation"] == "post_journal_entry"]
    assert entry["arguments"]["lines"] == lines
    assert entry["effects"]["money"]["amount"] == 48_620
    assert entry["required_approvals"] == 2 and entry["risk"] == "medium", entry["reasons"]
    assert "amount 48620 is above 20000: two different approvers" in entry["reasons"]

    erp = c.pool.connector("erp")
    before = await erp.list_journal_entries()  # type: ignore[attr-defined]
    approvals.approve(c.db, entry["id"], PAT, c.pool.catalogue)
    with pytest.raises(Conflict):  # the same person twice is still one approver
        approvals.approve(c.db, entry["id"], PAT, c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, run_id)["status"] == "waiting_approval"
    assert await erp.list_journal_entries() == before  # type: ignore[attr-defined]

    approvals.approve(c.db, entry["id"], LEE, c.pool.catalogue)
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    after = await erp.list_journal_entries()  # type: ignore[attr-defined]
    assert [e["EntryId"] for e in after if e not in before] == [entry["id"]]
    posted = await erp.get_journal_entry(entry_id=entry["id"])  # type: ignore[attr-defined]
    assert posted["Memo"].startswith("Invoice FAB-30001")


async def test_duplicate_invoice_is_flagged_and_not_posted(rig: Any) -> None:
    c, _ = rig
    erp = c.pool.connector("erp")
    seeded = await erp.get_invoice(invoice_number="FAB-22817")  # type: ignore[attr-defined]
    near = {
        "kind": "invoice",
        "amount": str(seeded["TotalAmount"]),
        "currency": "EUR",
        "counterparty": "Fabrikam",
        "description": "paper and toner",
        "invoice_number": "FAB-22718",
        "date": seeded["InvoiceDate"],
        "vendor_id": "V1002",
    }
    same = {**near, "invoice_number": "FAB-22817"}
    for record, kind in ((near, "possible_duplicate"), (same, "duplicate_invoice")):
        run_id = submit(c, record)
        await c.orchestrator.drain("w")
        view = run_view(c.db, run_id)
        assert kind in view["classification"]["anomalies"], view["classification"]
        ops = [a["operation"] for a in view["actions"]]
        assert "post_journal_entry" not in ops
        [notice] = [a for a in view["actions"] if a["operation"] == "post_message"]
        assert notice["arguments"]["channel"] == "#finance" and "FAB-22817" in notice["arguments"]["text"]


async def test_large_refund_needs_two_different_approvers_and_runs_once(rig: Any) -> None:
    c, _ = rig
    payments = c.pool.connector("payments")
    customer = await payments.find_customer(email="ann.lee@example.com")  # type: ignore[attr-defined]
    charges = await payments.list_charges(customer_id=customer["id"])  # type: ignore[attr-defined]
    charge = max(charges, key=lambda ch: ch["amount"] - ch["amount_refunded"])
    amount = (charge["amount"] - charge["amount_refunded"]) / 100
    assert amount * 100 > 20_000
    run_id = submit(
        c,
        {
            "kind": "refund",
            "amount": f"{amount:.2f}",
            "currency": "USD",
            "counterparty": "Ann Lee",
            "description": "refund requested by phone",
            "customer_email": "ann.lee@example.com",
            "charge_id": charge["id"],
        },
        actor="clerk-kim",
    )
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    assert refund["required_approvals"] == 2 and refund["risk"] == "medium", refund["reasons"]

    with pytest.raises(Forbidden):  # four eyes: the clerk who asked for the refund cannot approve it
        approvals.approve(c.db, refund["id"], Principal("clerk-kim", "approver"), c.pool.catalogue)
    approvals.approve(c.db, refund["id"], PAT, c.pool.catalogue)
    with pytest.raises(Conflict):
        approvals.approve(c.db, refund["id"], PAT, c.pool.catalogue)
    before = await payments.list_refunds(charge_id=charge["id"])  # type: ignore[attr-defined]
    await c.orchestrator.drain("w")
    assert await payments.list_refunds(charge_id=charge["id"]) == before  # type: ignore[attr-defined]
    approvals.approve(c.db, refund["id"], LEE, c.pool.catalogue)
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    refunds = await payments.list_refunds(charge_id=charge["id"])  # type: ignore[attr-defined]
    assert len(refunds) == len(before) + 1 and refunds[0]["amount"] == round(amount * 100)


async def test_refund_of_someone_elses_charge_is_high_risk(rig: Any) -> None:
    c, _ = rig
    payments = c.pool.connector("payments")
    other = await payments.find_customer(email="dana.whitfield@example.com")  # type: ignore[attr-defined]
    if other is None:
        pytest.fail("seed lacks a second customer")
    charge = (await payments.list_charges(customer_id=other["id"]))[0]  # type: ignore[attr-defined]
    run_id = submit(
        c,
        {
            "kind": "refund",
            "amount": "10.00",
            "currency": "USD",
            "counterparty": "Ann Lee",
            "description": "refund",
            "customer_email": "ann.lee@example.com",
            "charge_id": charge["id"],
        },
    )
    await c.orchestrator.drain("w")
    [refund] = [a for a in run_view(c.db, run_id)["actions"] if a["operation"] == "create_refund"]
    assert refund["risk"] == "high"
    assert any("not to the requester" in r for r in refund["reasons"]), refund["reasons"]


@pytest.mark.parametrize(
    ("amount", "currency", "charged", "over"),
    [("5000", "JPY", 5000, False), ("5001", "jpy", 5000, True), ("5.13", "KWD", 5120, True)],
)
def test_a_refund_is_weighed_against_its_charge_in_the_currency_s_minor_units(
    amount: str, currency: str, charged: int, over: bool
) -> None:
    """Stripe's ¥5,000 charge has amount=5000: a ¥5,000 refund of it is not more than what is
    left, and ¥5,001 is; 5.130 KWD is more than a 5.120 KWD charge."""
    record = {"kind": "refund", "amount": amount, "currency": currency, "charge_id": "ch_1"}
    charge = {"id": "ch_1", "amount": charged, "amount_refunded": 0, "currency": currency.lower()}
    found = detect_anomalies(record, vendor=None, history=[], existing=None, charges=[charge], charge=charge)
    assert [f["kind"] for f in found] == (["refund_exceeds_charge"] if over else [])


def test_dispute_evidence_and_findings_write_amounts_in_the_currency_s_units() -> None:
    """A ¥5,000 charge (Stripe's amount=5000) is quoted as 5000 JPY, a 5.120 KWD refund as such."""
    charge = {"type": "charge", "status": "succeeded", "amount": 5000, "currency": "jpy", "created": 0}
    checked = check_claims(
        [{"claim": "payment_authorised", "sources": ["payments.charge:ch_1"]}],
        {"payments.charge:ch_1": charge},
    )
    assert "The payment of 5000 JPY on" in checked.text, checked
    [found] = refund_duplicates("ch_1", [{"id": "re_1", "amount": 5120, "currency": "kwd"}], [])
    assert "already has refund re_1 of 5.120 KWD" in found["reason"], found
