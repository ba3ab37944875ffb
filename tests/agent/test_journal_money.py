"""Money carried by lines: a journal entry's total debits, in major units, as the gate counts them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from app.agent.policy import UNBOUNDED, Policy, merge_facts, new_facts
from connectors.base import Effects, Money
from tests.support.tools import tool

JOURNAL = tool("erp__post_journal_entry")
REFUND = tool("payments__create_refund")


def entry(*amounts: Any) -> dict[str, Any]:
    """A journal entry debiting each amount to its own expense account, credited to payables at once."""
    lines: list[dict[str, Any]] = [{"account": f"62{n:02d}", "debit": a} for n, a in enumerate(amounts)]
    total = sum(a for a in amounts if isinstance(a, int | float) and not isinstance(a, bool))
    lines.append({"account": "2000", "credit": total})
    return {"date": "2026-11-20", "memo": "Invoice FAB-30001", "lines": lines}


def test_the_journal_entry_declares_its_total_debits_in_minor_units() -> None:
    money = JOURNAL.does.money
    assert money is not None and money.lines == "lines" and money.amount == "debit" and money.major_units
    assert money.minor_amount(entry(0.1, 0.2)) == 30  # Decimal, not 0.30000000000000004
    assert money.minor_amount(entry(1234.56, 0.01, 99.99, 7)) == 134_156
    assert money.minor_amount(entry(2_000_000.00)) == 200_000_000
    # a line without a debit (a credit line) adds nothing
    assert (
        money.minor_amount({"lines": [{"account": "1", "credit": 5.0}, {"account": "2", "debit": 5}]}) == 500
    )
    # the queue shows the same amount
    assert JOURNAL.does.summary(entry(0.1, 0.2))["money"] == {"amount": 30, "currency": None, "source": None}


def test_minor_units_stay_as_they_are_and_a_fraction_of_a_cent_never_counts_less() -> None:
    assert Money().minor_amount({"amount": 4000}) == 4000
    assert Money().minor_amount({}) is None
    assert Money(major_units=True).minor_amount({"amount": 10.005}) == 1001


def test_major_units_are_scaled_by_the_currency_the_arguments_name() -> None:
    """¥120,000 is 120,000 minor units and 5.125 KWD is 5,125: not every currency has cents."""
    money = Money(major_units=True)
    assert money.minor_amount({"amount": 120000, "currency": "JPY"}) == 120_000
    assert money.minor_amount({"amount": 120000, "currency": "jpy"}) == 120_000
    assert money.minor_amount({"amount": 5.125, "currency": "KWD"}) == 5125
    assert money.minor_amount({"amount": 12.5, "currency": "JPY"}) == 13  # a part of a yen rounds up
    assert money.minor_amount({"amount": 120000}) == 12_000_000  # no currency: two decimals
    wire = Money(amount="value", currency="ccy", major_units=True)
    assert wire.minor_amount({"value": 5000, "ccy": "XOF"}) == 5000
    assert Effects(money=wire).summary({"value": 5000, "ccy": "XOF"})["money"]["amount"] == 5000


def test_an_entry_at_the_threshold_needs_one_approver_and_a_cent_more_needs_two() -> None:
    gate = Policy(two_approvers_above=50_000)
    at = gate.decide(JOURNAL, entry(300.00, 200.00), new_facts())
    assert at.required_approvals == 1 and at.risk == "medium", at.reasons
    above = gate.decide(JOURNAL, entry(300.00, 200.01), new_facts())
    assert above.required_approvals == 2, above.reasons
    assert "amount 50001 is above 50000: two different approvers" in above.reasons


def test_a_large_entry_needs_two_approvers_and_no_standing_rule_can_skip_that() -> None:
    from app.agent.policy import StandingRule

    rule = StandingRule(tool="erp__post_journal_entry", approved_by="lead", max_risk="high")
    d = Policy([rule], two_approvers_above=50_000).decide(JOURNAL, entry(2_000_000.00), new_facts())
    assert d.needs_approval and d.rule is None and d.required_approvals == 2
    assert "amount 200000000 is above 50000: two different approvers" in d.reasons


def test_an_entry_larger_than_the_record_is_high_risk() -> None:
    facts = new_facts()
    merge_facts(facts, {"record_amount": 125_000})  # a 1,250.00 invoice
    big = Policy().decide(JOURNAL, entry(2_000_000.00), facts)
    assert big.risk == "high" and big.required_approvals == 2
    assert "amount 200000000 is larger than the record's amount 125000" in big.reasons
    same = Policy().decide(JOURNAL, entry(1000.00, 250.00), facts)
    assert same.risk == "medium" and not any("larger than the record" in r for r in same.reasons)


@pytest.mark.parametrize(
    "debit",
    ["2000000.00", True, math.nan, math.inf, -math.inf, -5.0, [1], {"value": 1}],
    ids=["text", "boolean", "nan", "infinity", "minus-infinity", "negative", "list", "object"],
)
def test_a_debit_that_is_not_a_finite_amount_counts_as_unknown(debit: Any) -> None:
    args = entry(100.00, debit)
    assert JOURNAL.does.money is not None and JOURNAL.does.money.minor_amount(args) is None
    assert JOURNAL.does.summary(args)["money"]["amount"] is None
    facts = new_facts()
    merge_facts(facts, {"record_amount": 125_000})
    risk, reasons, amount = Policy().assess(JOURNAL, args, facts)
    assert amount == UNBOUNDED and risk == "high"
    assert "moves money, but its lines do not give each debit as a finite number of at least 0" in reasons
    assert "an unknown amount is larger than the record's amount 125000" in reasons
    d = Policy(two_approvers_above=10**12).decide(JOURNAL, args, facts)
    assert d.required_approvals == 2 and any("amount is unknown" in r for r in d.reasons)


@pytest.mark.parametrize(
    "arguments",
    [{}, {"lines": None}, {"lines": "6200 debit 100"}, {"lines": [["6200", 100.0]]}],
    ids=["no-lines", "null", "text", "not-objects"],
)
def test_lines_that_are_not_a_list_of_objects_count_as_unknown(arguments: dict[str, Any]) -> None:
    d = Policy().decide(JOURNAL, {"date": "2026-11-20", "memo": "x", **arguments}, new_facts())
    assert d.risk == "high" and d.required_approvals == 2


@pytest.mark.parametrize("amount", [math.nan, math.inf, -100, "4000", True])
def test_a_refund_amount_that_is_not_a_finite_amount_counts_as_unknown_too(amount: Any) -> None:
    d = Policy(two_approvers_above=10**12).decide(
        REFUND, {"charge_id": "ch_1", "amount": amount}, new_facts()
    )
    assert d.risk == "high" and d.required_approvals == 2
    assert any(f"its amount {amount!r} is not a finite number" in r for r in d.reasons), d.reasons


def test_the_recorded_effects_say_which_arguments_carry_the_money() -> None:
    """The queue reads these: the declared fields, and the charge's currency and owner as facts."""
    refund = Effects(money=Money(amount="amount", currency=None, source="charge_id"))
    facts = {
        "charges": {
            "ch_1": {"customer": "cus_9", "amount": 5000, "amount_refunded": 1000, "currency": "eur"}
        },
        "customers": {"cus_9": "ann.lee@example.com"},
    }
    fx = refund.summary({"charge_id": "ch_1"}, facts)
    assert fx["money"] == {
        "amount": None,
        "currency": "eur",
        "source": "ch_1",
        "left": 4000,
        "owner": "ann.lee@example.com",
    }
    assert fx["declared"]["money"]["source"] == "charge_id"
    assert JOURNAL.does.summary(entry(1, 1))["declared"]["money"]["counter"] == "credit"
