"""GL coding reads its accounts from the ERP's chart: no account number is built in."""

from __future__ import annotations

from app.llm.local import finance

CHART = [
    {"AccountNumber": "210", "Name": "Trade payables", "Type": "LIABILITY", "Active": True},
    {"AccountNumber": "220", "Name": "Sales tax payable", "Type": "LIABILITY", "Active": True},
    {"AccountNumber": "710", "Name": "Software subscriptions", "Type": "EXPENSE", "Active": True},
    {"AccountNumber": "790", "Name": "Other operating expenses", "Type": "EXPENSE", "Active": True},
    {"AccountNumber": "795", "Name": "Sundry (closed)", "Type": "EXPENSE", "Active": False},
]


def test_a_description_that_matches_nothing_goes_to_the_charts_general_account() -> None:
    account, confidence, _ = finance.gl_account({"description": "Quarterly llama grooming"}, CHART, None)
    assert (account, confidence) == ("790", 0.35)
    assert finance.gl_account({"description": "cloud hosting licence"}, CHART, None)[0] == "710"


def test_no_chart_means_no_account_rather_than_a_made_up_one() -> None:
    assert finance.gl_account({"description": "anything"}, [], None)[0] == ""


def test_the_payable_account_is_the_charts_and_not_a_tax_payable() -> None:
    assert finance.payable_account(CHART) == "210"
    entry = finance.draft(
        {
            "record": {"kind": "invoice", "amount": "10", "description": "x"},
            "classification": {"gl_account": "710"},
            "accounts": CHART,
        }
    )
    assert [line["account"] for line in entry["lines"]] == ["710", "210"]
