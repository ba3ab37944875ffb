"""A money movement through an imported API (OpenAPI, MCP) is weighed as money.

Imported operations declare nothing they do. The README shows Stripe's own OpenAPI document being connected (`"include_operations":
["GET /v1/charges*"]`), and an OpenAPI connection's writes are whatever the operator selects. An
imported `POST /v1/refunds` declares no `Money` (imported operations cannot), so an amount such a
write states (top level, or in the request `body` an imported tool carries) is weighed as money:
never low risk, and two approvers above the threshold. A built-in write that declares it moves no
money is still believed (tests/agent/test_policy.py)."""

from __future__ import annotations

import httpx

from app.agent.policy import Policy, StandingRule, new_facts
from connectors.openapi.connector import OpenAPIConnector
from tools.from_connector import tools_for

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "Stripe (subset)", "version": "2024-06-20"},
    "servers": [{"url": "https://api.stripe.com"}],
    "paths": {
        "/v1/refunds": {
            "post": {
                "operationId": "PostRefunds",
                "summary": "Create a refund",
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {"charge": {"type": "string"}, "amount": {"type": "integer"}},
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "the refund"}},
            }
        }
    },
}


def _refund_tool():  # type: ignore[no-untyped-def]
    connector = OpenAPIConnector(httpx.AsyncClient(base_url="https://api.stripe.com"), {"spec": DOCUMENT})
    [refund] = [t for t in tools_for("stripe", connector) if t.is_write]
    return refund


def test_a_huge_refund_through_an_imported_api_is_neither_low_risk_nor_one_approver() -> None:
    refund = _refund_tool()
    args = {"body": {"charge": "ch_1", "amount": 999_999_900}}  # 9,999,999.00, as the imported tool takes it
    assert not refund.validate(args), refund.validate(args)
    d = Policy().decide(refund, args, new_facts())
    assert (d.risk, d.required_approvals) == ("medium", 2), d.reasons
    assert any("weighed as money" in r for r in d.reasons)
    small = Policy().decide(refund, {"body": {"charge": "ch_1", "amount": 500}}, new_facts())
    assert (small.risk, small.required_approvals) == ("medium", 1)
    rule = StandingRule(tool="stripe__*", approved_by="lead", id="r1")  # low-risk writes only
    ruled = Policy(standing_rules=[rule]).decide(
        refund, {"body": {"charge": "ch_1", "amount": 500}}, new_facts()
    )
    assert ruled.needs_approval
