"""How the UI words things: money, times, tool arguments, edit forms, chart axes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.web import present
from connectors.base import Effects, Message, Money

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_money_from_minor_units() -> None:
    assert present.money(1999, "usd") == "$19.99"
    assert present.money(-500, "EUR") == "-€5.00"
    assert present.money(120000, "JPY") == "¥120,000"  # zero-decimal currency
    assert present.money(12345, "SEK") == "123.45 SEK"
    assert present.money("n/a", "USD") == "n/a"


def test_money_has_as_many_decimals_as_the_currency_s_minor_unit() -> None:
    assert present.money(5000, "XOF") == "5,000 XOF"  # zero-decimal, like JPY
    assert present.money(5000, "xpf") == "5,000 XPF"
    assert present.money(5120, "KWD") == "5.120 KWD"  # three decimals
    assert present.money(500, "UGX") == "5.00 UGX"  # Stripe's two-decimal special case


def test_relative_times() -> None:
    assert present.reltime(NOW - timedelta(seconds=10), NOW) == "just now"
    assert present.reltime(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert present.reltime((NOW - timedelta(hours=3)).isoformat(), NOW) == "3 h ago"
    assert present.reltime(NOW - timedelta(hours=30), NOW) == "yesterday"
    assert present.reltime(NOW + timedelta(days=3), NOW) == "in 3 days"
    assert present.reltime(NOW - timedelta(days=40), NOW) == "29 Jan 2026"
    assert present.reltime(None, NOW) == "—"
    tag = present.timetag(NOW)
    assert 'datetime="2026-03-10T12:00:00+00:00"' in tag and 'title="2026-03-10 12:00:00 UTC"' in tag


def _fx(does: Effects, arguments: dict[str, Any], facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effects an action records for these arguments, as the run loop stores them."""
    return does.summary(arguments, facts)


REPLY = Effects(message=Message("public", ("body",), public_flag="public"))
REFUND = Effects(money=Money(amount="amount", currency=None, source="charge_id"))
JOURNAL = Effects(
    money=Money(amount="debit", currency=None, lines="lines", counter="credit", major_units=True), final=True
)
CHARGES = {
    "charges": {"ch_1": {"customer": "cus_9", "amount": 4999, "amount_refunded": 999, "currency": "eur"}},
    "customers": {"cus_9": "ann.lee@example.com"},
}


def test_a_reply_reads_as_text_with_its_audience() -> None:
    args = {"ticket_id": 7, "body": "Hi <b>there</b>", "public": False}
    v = present.argument_view(args, _fx(REPLY, args))
    assert v["kind"] == "text" and v["text"] == "Hi <b>there</b>" and v["audience"] == "internal"
    assert v["target"] == "ticket #7" and v["extra"] == {}


def test_a_message_named_oddly_reads_as_text_with_its_declared_audience() -> None:
    args = {"to": "ops", "content": "Heads up: the invoice run failed", "priority": 2}
    does = Effects(message=Message("team", ("content",)))
    v = present.argument_view(args, _fx(does, args))
    assert (v["kind"], v["text"], v["audience"]) == ("text", "Heads up: the invoice run failed", "team")
    assert v["extra"] == {"to": "ops", "priority": 2}
    # a write named like a reply that declares no message is not shown as one
    v = present.argument_view(
        {"ticket_id": 3, "body": "x", "public": True}, _fx(Effects(reversible=True), {})
    )
    assert v["kind"] == "changes"


def test_a_message_with_several_text_fields_has_a_subject() -> None:
    args = {"subject": "Order 1042", "body": "Hello", "requester_email": "bo@example.com", "tags": ["vip"]}
    v = present.argument_view(args, _fx(Effects(message=Message("public", ("subject", "body"))), args))
    assert (v["subject"], v["text"], v["audience"]) == ("Order 1042", "Hello", "public")
    assert v["extra"] == {"requester_email": "bo@example.com", "tags": ["vip"]}


def test_an_update_reads_as_field_changes() -> None:
    args = {"ticket_id": 7, "priority": "high", "add_tags": ["vip"]}
    v = present.argument_view(args, _fx(Effects(reversible=True), args))
    assert v["kind"] == "changes"
    assert v["changes"] == [
        {"field": "Priority", "op": "set", "value": "high"},
        {"field": "Tags", "op": "add", "value": ["vip"]},
    ]


def test_a_payee_write_names_the_declared_account() -> None:
    args = {"name": "Acme", "iban": "DE89370400440532013000"}
    v = present.argument_view(args, _fx(Effects(payee="iban"), args))
    assert v["payee"] == {"field": "Iban", "account": "DE89370400440532013000"}
    assert [c["field"] for c in v["changes"]] == ["Name"]


def test_a_refund_reads_as_the_assessed_amount_its_owner_and_charge() -> None:
    args = {"charge_id": "ch_1", "amount": 2500, "reason": "requested_by_customer"}
    v = present.argument_view(args, _fx(REFUND, args, CHARGES))
    assert (v["kind"], v["amount"], v["owner"], v["source"]) == (
        "money",
        "€25.00",
        "ann.lee@example.com",
        "ch_1",
    )
    assert v["source_label"] == "Charge" and v["extra"] == {"reason": "requested_by_customer"}
    whole = {"charge_id": "ch_1"}
    assert present.argument_view(whole, _fx(REFUND, whole, CHARGES))["amount"] == "full amount (€40.00 left)"
    assert present.argument_view(whole, _fx(REFUND, whole))["amount"] == "full amount"


def test_a_money_write_whose_name_says_nothing_of_refunds_shows_its_declared_amount() -> None:
    args = {"claim": "cl_4", "value": 1234, "currency": "GBP"}
    does = Effects(money=Money(amount="value", currency="currency"))
    v = present.argument_view(args, _fx(does, args))
    assert (v["kind"], v["amount"]) == ("money", "£12.34")
    assert v["extra"] == {"claim": "cl_4"}


def test_a_second_amount_like_key_does_not_stand_in_for_the_declared_one() -> None:
    args = {"amount": 100, "amount_cents": 990000, "total": 5, "currency": "usd"}
    does = Effects(money=Money(amount="amount_cents"))
    v = present.argument_view(args, _fx(does, args))
    assert v["amount"] == "$9,900.00"
    assert v["extra"] == {"amount": 100, "total": 5}


def test_amounts_read_in_the_units_the_tool_declares() -> None:
    args = {"amount": 12.345, "currency": "USD"}
    v = present.argument_view(args, _fx(Effects(money=Money(major_units=True)), args))
    assert v["amount"] == "$12.35"  # what the gate counts: a fraction of a cent rounds up
    bad = {"amount": "lots", "currency": "USD"}
    assert (
        present.argument_view(bad, _fx(Effects(money=Money()), bad))["amount"] == 'not a valid amount: "lots"'
    )


def test_money_the_system_prices_itself_reads_as_priced_when_bought() -> None:
    args = {"shipment_id": "se-1"}
    v = present.argument_view(args, _fx(Effects(money=Money(amount=None, currency=None)), args))
    assert (v["kind"], v["amount"], v["extra"]) == ("money", "priced when bought", {"shipment_id": "se-1"})


def test_a_journal_entry_reads_as_its_declared_lines_and_balance() -> None:
    lines = [
        {"account": "6100", "debit": 120.5, "description": "Office chairs"},
        {"account": "2100", "credit": 120.5},
    ]
    args = {"date": "2026-03-01", "lines": lines}
    v = present.argument_view(args, _fx(JOURNAL, args))
    assert v["kind"] == "journal" and v["balanced"] is True
    assert (v["columns"], v["sides"]) == (["Account", "Description"], ["Debit", "Credit"])
    assert v["rows"][0] == {"cells": ["6100", "Office chairs"], "sides": ["120.50", ""]}
    assert v["totals"] == ["120.50", "120.50"]
    assert v["extra"] == {"date": "2026-03-01"}
    short = {"lines": [{"account": "1", "debit": 10}, {"account": "2", "credit": 9}]}
    v = present.argument_view(short, _fx(JOURNAL, short))
    assert v["balanced"] is False and v["totals"] == ["10.00", "9.00"]


def test_without_declared_effects_nested_arguments_are_pretty_json() -> None:
    args = {"channel": "#billing", "blocks": [{"type": "section"}]}
    v = present.argument_view(args, _fx(Effects(), args))
    assert v["kind"] == "json" and '"channel": "#billing"' in v["json"]
    assert present.argument_view(args, None)["kind"] == "json"


def test_edit_form_fields_follow_the_tool_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ticket_id": {"type": "integer"},
            "body": {"type": "string"},
            "public": {"type": "boolean", "default": True},
            "priority": {"anyOf": [{"enum": ["low", "high"], "type": "string"}, {"type": "null"}]},
            "add_tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
            "meta": {"type": "object"},
        },
        "required": ["ticket_id", "body"],
    }
    fields = present.form_fields(schema, {"ticket_id": 3, "body": "Hi", "add_tags": ["a", "b"]})
    assert fields is not None
    by = {f["name"]: f for f in fields}
    assert by["ticket_id"]["widget"] == "number" and by["ticket_id"]["required"]
    assert by["body"]["widget"] == "textarea"
    assert by["public"]["widget"] == "checkbox" and by["public"]["value"] is True  # the schema's default
    assert by["priority"]["widget"] == "select" and by["priority"]["options"] == ["low", "high"]
    assert by["add_tags"]["widget"] == "tags" and by["add_tags"]["value"] == "a, b"
    assert by["meta"]["widget"] == "json"

    form = {
        "f_ticket_id": ["3"],
        "f_body": ["Hello\r\nthere"],
        "f_public": ["false"],
        "f_priority": [""],
        "f_add_tags": ["x, y ,"],
        "f_meta": ['{"k": 1}'],
    }
    args, errors = present.parse_form(fields, form, {"ticket_id": 3, "body": "Hi", "extra": 1})
    assert errors == {}
    assert args == {
        "ticket_id": 3,
        "body": "Hello\nthere",
        "public": False,
        "add_tags": ["x", "y"],
        "meta": {"k": 1},
        "extra": 1,  # not in the schema: kept, and the service's validation decides
    }
    args, errors = present.parse_form(fields, {"f_ticket_id": ["x"], "f_body": [""], "f_meta": ["{"]}, {})
    assert args is None
    assert set(errors) == {"ticket_id", "body", "meta"} and "whole number" in errors["ticket_id"]


def test_without_a_schema_the_arguments_are_edited_as_json() -> None:
    assert present.form_fields(None, {"a": 1}) is None
    assert present.parse_form(None, {"arguments_json": ['{"a": 2}']}, {"a": 1}) == ({"a": 2}, {})
    args, errors = present.parse_form(None, {"arguments_json": ["[1]"]}, {})
    assert args is None and errors["arguments_json"] == "must be a JSON object"


def test_chart_axes_are_round() -> None:
    assert present.nice_max(0) == 1
    assert present.nice_max(3) == 5 and present.nice_max(3, integer=True) == 4
    assert present.nice_max(5, integer=True) == 6 and present.nice_max(12, integer=True) == 20
    assert present.nice_max(0.00031) == 0.0005


def test_write_results_yield_the_systems_ids() -> None:
    result = {"data": {"ticket_id": 5, "comment_id": 77, "audit_id": 78, "deduplicated": False, "id": "re_1"}}
    assert present.result_ids(result) == [
        ("ticket_id", 5),
        ("comment_id", 77),
        ("audit_id", 78),
        ("id", "re_1"),
    ]
    assert present.result_ids(None) == []
