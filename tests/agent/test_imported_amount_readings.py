"""An imported write's amount is never read as less than it may mean.

An undeclared (OpenAPI, MCP) write's stated amount is weighed by its larger reading, and an
amount that is not a finite number of at least 0 counts as unknown (README):

- "50,000" is fifty thousand as people in the US and UK write money, not 50.00; the gate cannot
  know which the vendor reads, so it weighs the larger. (PayPal's Money `value` is "an integer for
  currencies like JPY ... a decimal fraction for currencies like TND":
  paypal-server-sdk `lib/paypal_server_sdk/models/money.rb`; a comma is no decimal separator.)
- a negative amount, -6000000 or "-60000.00", is not "no money": many payment APIs read it as
  money moving the other way, so it counts as unknown.

At the default threshold (50,000) each needs two approvers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.agent.policy import Policy, new_facts
from connectors.openapi.connector import OpenAPIConnector
from tools.from_connector import tools_for


def _refund_tool(amount_schema: dict[str, Any]) -> Any:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "psp", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": {
            "/v1/refunds": {
                "post": {
                    "operationId": "createRefund",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"charge": {"type": "string"}, "amount": amount_schema},
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "the refund"}},
                }
            }
        },
    }
    connector = OpenAPIConnector(httpx.AsyncClient(base_url="https://api.example.com"), {"spec": document})
    [refund] = [t for t in tools_for("psp", connector) if t.is_write]
    return refund


@pytest.mark.parametrize(
    ("schema", "amount"),
    [
        ({"type": "string"}, "50,000"),  # fifty thousand, as written in en-US / en-GB
        ({"type": "integer"}, -6_000_000),  # negative minor units
        ({"type": "string"}, "-60000.00"),  # negative major units
    ],
    ids=["thousands-separator", "negative-integer", "negative-decimal-string"],
)
def test_an_imported_amount_is_weighed_by_its_larger_reading_or_as_unknown(
    schema: dict[str, Any], amount: Any
) -> None:
    refund = _refund_tool(schema)
    args = {"body": {"charge": "ch_1", "amount": amount}}
    assert not refund.validate(args), refund.validate(args)
    d = Policy().decide(refund, args, new_facts())
    assert d.required_approvals == 2, f"amount {amount!r} was weighed below the 50,000 threshold: {d.reasons}"
