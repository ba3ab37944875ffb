"""How the UI words things: money, times, tool arguments, edit forms, chart axes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.web import present

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_money_from_minor_units() -> None:
    assert present.money(1999, "usd") == "$19.99"
    assert present.money(-500, "EUR") == "-€5.00"
    assert present.money(120000, "JPY") == "¥120,000"  # zero-decimal currency
    assert present.money(12345, "SEK") == "123.45 SEK"
    assert present.money("n/a", "USD") == "n/a"


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


def test_a_reply_reads_as_text_with_its_visibility() -> None:
    v = present.argument_view("add_comment", {"ticket_id": 7, "body": "Hi <b>there</b>", "public": False})
    assert v["kind"] == "text" and v["text"] == "Hi <b>there</b>" and v["public"] is False
    assert v["target"] == "ticket #7" and v["extra"] == {}


def test_an_update_reads_as_field_changes() -> None:
    v = present.argument_view("update_ticket", {"ticket_id": 7, "priority": "high", "add_tags": ["vip"]})
    assert v["kind"] == "changes"
    assert v["changes"] == [
        {"field": "Priority", "op": "set", "value": "high"},
        {"field": "Tags", "op": "add", "value": ["vip"]},
    ]


def test_a_refund_reads_as_money_customer_and_charge() -> None:
    v = present.argument_view(
        "create_refund", {"charge": "ch_123", "amount": 2500, "currency": "eur", "customer": "cus_9"}
    )
    assert (v["kind"], v["amount"], v["customer"], v["charge"]) == ("refund", "€25.00", "cus_9", "ch_123")
    assert present.argument_view("refund_charge", {"charge_id": "ch_1"})["amount"] == "full amount"


def test_a_journal_entry_reads_as_balanced_lines() -> None:
    lines = [
        {"account": "6100", "debit": 120.5, "description": "Office chairs"},
        {"account": "2100", "credit": 120.5},
    ]
    v = present.argument_view("post_journal_entry", {"date": "2026-03-01", "lines": lines, "currency": "USD"})
    assert v["kind"] == "journal" and v["balanced"] and v["debit"] == v["credit"] == 120.5
    assert v["lines"][0] == {
        "account": "6100",
        "description": "Office chairs",
        "debit": 120.5,
        "credit": None,
    }
    assert v["extra"] == {"date": "2026-03-01", "currency": "USD"}
    sided = [
        {"account_code": "1", "amount": 10, "side": "debit"},
        {"account_code": "2", "amount": 9, "side": "credit"},
    ]
    v = present.argument_view("create_journal", {"lines": sided})
    assert not v["balanced"] and (v["debit"], v["credit"]) == (10, 9)


def test_anything_else_is_pretty_json() -> None:
    v = present.argument_view("send_message", {"channel": "#billing", "blocks": [{"type": "section"}]})
    assert v["kind"] == "json" and '"channel": "#billing"' in v["json"]


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
