"""Month-end accounts for every balance transaction a payout paid out, not only charges and refunds.

A Stripe payout pays out the net of all its balance transactions. Besides `charge`/`payment` and
`refund`/`payment_refund`, a payout carries `adjustment` transactions: a dispute's withdrawal of
the disputed amount and its dispute fee (reporting_category `dispute`), a dispute won back
(`dispute_reversal`), a failed refund returned (`refund_failure`), and fee types. Sources:
stripe-python `stripe/_balance_transaction.py` (`type: Literal["adjustment", ..., "charge", ...,
"payment_refund", "payout", ..., "refund", "refund_failure", ..., "stripe_fee", ...]`);
https://docs.stripe.com/reports/reporting-categories ("The `reporting_category` attribute
separates balance transactions with `type=adjustment` into several different categories,
including disputes, dispute reversals, and failed refunds").

Each transaction of the payout is accounted for: booked (a proposal that keeps clearing at zero)
or named as a difference for a person.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from app.services.reconcile import Accounts, reconcile

PERIOD = (date(2026, 10, 1), date(2026, 10, 31))


def _txn(kind: str, amount: int, fee: int, source: str, category: str | None = None) -> dict[str, Any]:
    return {
        "id": f"txn_{source}",
        "object": "balance_transaction",
        "type": kind,
        "reporting_category": category or kind,
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "usd",
        "source": source,
        "description": "",
        "created": 1_790_000_000,
    }


def test_a_dispute_withdrawn_from_a_payout_is_booked_or_named_not_left_on_clearing() -> None:
    txns = [
        _txn("charge", 20_000, 610, "ch_A"),
        _txn("charge", 10_000, 320, "ch_B"),
        # the customer of ch_B disputed it: Stripe withdraws 100.00 and a 15.00 dispute fee
        _txn("adjustment", -10_000, 1_500, "dp_1B", "dispute"),
    ]
    net = sum(t["net"] for t in txns)  # what reached the bank: 175.70
    payout = {
        "id": "po_D1",
        "amount": net,
        "currency": "usd",
        "status": "paid",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }
    acc = Accounts()
    report = reconcile(PERIOD, [payout], {"po_D1": txns}, [], accounts=acc)

    clearing = Decimal(0)
    for entry in report["proposals"]:
        for line in entry["lines"]:
            if line["account"] == acc.clearing:
                clearing += Decimal(str(line["debit"])) - Decimal(str(line["credit"]))
    named = [d for d in report["differences"] if "dp_1B" in f"{d.get('item')} {d.get('explanation')}"]
    assert clearing == 0 or named, (
        f"booking every proposal leaves {clearing} on the clearing account ({acc.clearing}) and no "
        f"difference names the dispute dp_1B: {[d['kind'] for d in report['differences']]}"
    )


def test_a_transaction_of_another_kind_is_named_and_a_payout_that_does_not_add_up_says_so() -> None:
    txns = [
        _txn("charge", 20_000, 610, "ch_A"),
        _txn("adjustment", 5_000, 0, "re_F1", "refund_failure"),  # a refund the bank sent back
    ]
    payout = {
        "id": "po_D2",
        "amount": 30_000,  # more than its transactions come to (243.90)
        "currency": "usd",
        "status": "paid",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }
    report = reconcile(PERIOD, [payout], {"po_D2": txns}, [])
    kinds = {d["kind"]: d for d in report["differences"]}
    assert "refund_failure re_F1" in kinds["not_understood"]["item"], kinds
    assert kinds["does_not_add_up"]["amount"] == "56.10", kinds
