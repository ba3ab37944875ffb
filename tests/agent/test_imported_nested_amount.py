"""An imported write's amount is found wherever payment APIs put it, as they write it.

PayPal's refund takes `{"amount": {"value": "9999999.00", "currency_code": "USD"}}`, Adyen's
`{"amount": {"value": 999999900, "currency": "EUR"}}`, others a decimal string: each is weighed
as money (never low, two approvers above the threshold), so a low-risk standing rule never runs it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.agent.policy import UNBOUNDED, Policy, new_facts, stated_amount
from connectors.openapi.connector import OpenAPIConnector
from tools.from_connector import tools_for


def _document(amount_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "payments", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": {
            "/v2/payments/captures/{capture_id}/refund": {
                "post": {
                    "operationId": "refundCapture",
                    "parameters": [
                        {"name": "capture_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"amount": amount_schema}}
                            }
                        }
                    },
                    "responses": {"201": {"description": "the refund"}},
                }
            }
        },
    }


PAYPAL = {
    "type": "object",
    "properties": {"value": {"type": "string"}, "currency_code": {"type": "string"}},
}
ADYEN = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "currency": {"type": "string"}},
}


@pytest.mark.parametrize(
    ("schema", "amount"),
    [
        (PAYPAL, {"value": "9999999.00", "currency_code": "USD"}),  # PayPal: a decimal string
        (ADYEN, {"value": 999_999_900, "currency": "EUR"}),  # Adyen: minor units, nested
        ({"type": "string"}, "9999999.00"),  # any API taking the amount as a string
    ],
    ids=["paypal", "adyen", "string"],
)
def test_a_huge_imported_refund_with_a_nested_amount_needs_two_approvers(schema: Any, amount: Any) -> None:
    connector = OpenAPIConnector(
        httpx.AsyncClient(base_url="https://api.example.com"), {"spec": _document(schema)}
    )
    [refund] = [t for t in tools_for("psp", connector) if t.is_write]
    args = {"capture_id": "2GG279541U471931P", "body": {"amount": amount}}
    assert not refund.validate(args), refund.validate(args)
    d = Policy().decide(refund, args, new_facts())
    assert (d.risk, d.required_approvals) == ("medium", 2), d.reasons


@pytest.mark.parametrize(
    ("arguments", "minor"),
    [
        ({"amount": 500}, 500),  # an integer: minor units, as Stripe and Adyen take it
        ({"body": {"amount": {"value": "12.5", "currency_code": "USD"}}}, 1250),  # a decimal: major
        ({"body": {"lines": [{"price": 1.99}, {"price": 3}]}}, 199),
        ({"body": {"total_cents": "40"}}, 4000),  # a string of digits: read as major, the larger
        ({"amount": "all of it"}, UNBOUNDED),
        ({"amount": None}, UNBOUNDED),  # left out on purpose: the whole of what is there
        ({"name": "Rex", "tags": ["dog"]}, None),  # nothing names money
    ],
)
def test_the_amount_an_undeclared_write_states(arguments: dict[str, Any], minor: int | None) -> None:
    assert stated_amount(arguments) == minor
