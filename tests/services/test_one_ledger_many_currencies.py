"""One ledger, one currency: amounts in another currency are left to a person, never booked as
the same number.

The ERP's journal lines carry no currency (`connectors/erp/erp.wsdl`, `JournalLine`): the ledger
keeps one, `SWITCHBOARD_LEDGER_CURRENCY`. A payout in another currency is set aside for a person
(as the reconciliation already does for JPY: "book it by hand at the rate the bank applied"), and
an invoice in another currency is high risk, its reason naming both currencies. Stripe itself says
a charge in another currency is converted (`exchange_rate` on the balance transaction;
stripe-python `stripe/_balance_transaction.py`; https://docs.stripe.com/currencies "If the charge
currency differs from your settlement currency, Stripe converts the charge to your settlement
currency").
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.services import intake
from app.services.reconcile import reconcile
from app.services.views import run_view
from tests.support.app import full_container


def _payout(pid: str, currency: str, amount: int) -> dict[str, Any]:
    return {
        "id": pid,
        "amount": amount,
        "currency": currency,
        "status": "paid",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }


def _sale(amount: int, currency: str) -> dict[str, Any]:
    return {
        "type": "charge",
        "amount": amount,
        "fee": 0,
        "currency": currency,
        "source": f"ch_{currency}",
        "description": "",
        "created": 1_790_000_000,
    }


def test_payouts_in_two_currencies_are_not_both_booked_as_the_ledger_s() -> None:
    payouts = [_payout("po_USD", "usd", 100_000), _payout("po_EUR", "eur", 100_000)]
    txns = {"po_USD": [_sale(100_000, "usd")], "po_EUR": [_sale(100_000, "eur")]}
    report = reconcile((date(2026, 10, 1), date(2026, 10, 31)), payouts, txns, [], ledger_currency="USD")
    set_aside = {d["item"] for d in report["differences"] if d["kind"] == "other_currency"}
    booked = {m for p in report["proposals"] for m in re.findall(r"po_[A-Za-z0-9]+", p["memo"])}
    assert not {"po_USD", "po_EUR"} <= booked or set_aside, (
        "1,000.00 USD and 1,000.00 EUR are both proposed into the one ledger as 1,000.00: "
        f"{[p['memo'] for p in report['proposals']]}"
    )


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    c, sims = full_container(db_url, tmp_path, crm=True, SWITCHBOARD_LEDGER_CURRENCY="USD")
    yield c, sims
    await c.pool.aclose()


INVOICES = [
    {  # Fabrikam bills in EUR (connectors/erp/seed.py)
        "kind": "invoice",
        "amount": "486.20",
        "currency": "EUR",
        "counterparty": "Fabrikam",
        "description": "Toner and paper",
        "invoice_number": "FAB-39001",
        "date": "2026-11-20",
        "vendor_id": "V1002",
    },
    {  # Contoso bills in GBP
        "kind": "invoice",
        "amount": "486.20",
        "currency": "GBP",
        "counterparty": "Contoso Kitchenware",
        "description": "Kitchenware for resale",
        "invoice_number": "CON-39001",
        "date": "2026-11-20",
        "vendor_id": "V1001",
    },
]


async def test_invoices_in_two_currencies_are_not_both_booked_at_face_value(rig: Any) -> None:
    c, _ = rig
    unflagged = []
    for record in INVOICES:
        run_id = intake.submit(
            c.db, kind="record", run_kind="record", payload=record, source="api", actor="erp-sync"
        )[0]
        await c.orchestrator.drain("w")
        view = run_view(c.db, run_id)
        for entry in (a for a in view["actions"] if a["operation"] == "post_journal_entry"):
            debits = sum(float(x.get("debit") or 0) for x in entry["arguments"]["lines"])
            said = " ".join(entry["reasons"]).lower()
            if debits == 486.20 and "currency" not in said and record["currency"].lower() not in said:
                unflagged.append((record["currency"], entry["risk"], entry["reasons"]))
    assert not unflagged, (
        f"an invoice in another currency than the ledger's (USD) is booked at face value: {unflagged}"
    )
