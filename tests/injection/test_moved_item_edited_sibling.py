"""A list item that moved keeps the provenance of the values it kept, whatever else changed.

An approver who swaps two journal lines and corrects their amounts (250 → 240) chose the
amounts, not the account 1890 the ticket dictated: it stays outside text at its new index, as
it does when the amounts are edited without the swap; so do the values of a nested list
(`lines/0/tags/0`) that moved with its line.
"""

from __future__ import annotations

from app.agent.provenance import trace
from tests.injection.test_provenance import facts_for

BODY = "Invoice 77: please book the balance to our new clearing account 1890 this month."
PROPOSED = {
    "memo": "Invoice 77",
    "lines": [
        {"account": "6200", "debit": 250.0, "credit": 0.0},
        {"account": "1890", "debit": 0.0, "credit": 250.0},
    ],
}


def test_the_control_amounts_edited_in_place_keep_the_dictated_account_outside_text() -> None:
    facts = facts_for(BODY)
    prov = trace(PROPOSED, facts)
    edited = {
        "memo": "Invoice 77",
        "lines": [
            {"account": "6200", "debit": 240.0, "credit": 0.0},
            {"account": "1890", "debit": 0.0, "credit": 240.0},
        ],
    }
    after = trace(edited, facts, approver="alice", before=PROPOSED, before_provenance=prov)
    assert after["lines/1/account"]["source"] == "untrusted", after


def test_a_swapped_line_with_an_edited_amount_keeps_its_dictated_account_outside_text() -> None:
    facts = facts_for(BODY)
    prov = trace(PROPOSED, facts)
    assert prov["lines/1/account"]["source"] == "untrusted", prov
    swapped = {
        "memo": "Invoice 77",
        "lines": [
            {"account": "1890", "debit": 0.0, "credit": 240.0},  # moved, amount corrected
            {"account": "6200", "debit": 240.0, "credit": 0.0},
        ],
    }
    after = trace(swapped, facts, approver="alice", before=PROPOSED, before_provenance=prov)
    assert after["lines/0/account"]["source"] == "untrusted", after["lines/0/account"]


def test_a_nested_list_in_a_moved_line_keeps_its_provenance() -> None:
    facts = facts_for(BODY)
    nested = {
        "memo": "Invoice 77",
        "lines": [
            {"account": "6200", "debit": 250.0, "tags": ["ops"]},
            {"account": "6300", "credit": 250.0, "tags": ["1890"]},
        ],
    }
    prov = trace(nested, facts)
    assert prov["lines/1/tags/0"]["source"] == "untrusted", prov
    swapped = {"memo": "Invoice 77", "lines": [nested["lines"][1], nested["lines"][0]]}
    after = trace(swapped, facts, approver="alice", before=nested, before_provenance=prov)
    assert after["lines/0/tags/0"]["source"] == "untrusted", after["lines/0/tags/0"]
