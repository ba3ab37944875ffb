"""A chat refund names the charge whose description the person wrote, not one whose description
is only a part of it.

"refund the Northwind Plus monthly membership upgrade" names "Northwind Plus monthly membership
upgrade", not "Northwind Plus monthly membership" (a description contained in a longer matching
one does not count as named); and when the charge asked for was refunded already, the answer
says so and proposes no refund of another charge.
"""

from __future__ import annotations

import json
from typing import Any

from app.llm.base import Message, ToolCall, ToolSpec
from app.llm.local.chat_plans import Turn, named_charge, refund_request

EMAIL = "raj.patel@example.org"
MEMBERSHIP = {
    "id": "ch_3PlusMonthly01",
    "amount": 999,
    "currency": "usd",
    "amount_refunded": 0,
    "description": "Northwind Plus monthly membership",
}
UPGRADE = {
    "id": "ch_3PlusUpgrade01",
    "amount": 4900,
    "currency": "usd",
    "amount_refunded": 0,
    "description": "Northwind Plus monthly membership upgrade",
}
ASK = f"refund the Northwind Plus monthly membership upgrade for {EMAIL}"


def _tool(op: str) -> ToolSpec:
    return ToolSpec(name=f"payments__{op}", description=op, input_schema={"type": "object"})


def _turn(charges: list[dict[str, Any]]) -> Turn:
    calls = [
        ToolCall(id="c1", name="payments__find_customer", arguments={"email": EMAIL}),
        ToolCall(id="c2", name="payments__list_charges", arguments={"customer_id": "cus_raj"}),
    ]
    results = {
        "c1": Message(
            role="tool",
            tool_call_id="c1",
            content=json.dumps({"id": "cus_raj", "email": EMAIL, "name": "Raj Patel"}),
        ),
        "c2": Message(role="tool", tool_call_id="c2", content=json.dumps(charges)),
    }
    tools = [_tool(op) for op in ("find_customer", "list_charges", "create_refund")]
    return Turn(ASK, tools, calls, results, 2)


def test_the_longer_description_named_is_the_charge() -> None:
    found = named_charge(ASK, [MEMBERSHIP, UPGRADE])
    assert found is not None and found["id"] == UPGRADE["id"], (
        f"the message names the upgrade charge by its whole description; chosen: {found}"
    )


def test_a_refunded_charge_asked_for_does_not_refund_the_one_whose_description_it_contains() -> None:
    refunded_upgrade = {**UPGRADE, "amount_refunded": 4900}
    step = refund_request(_turn([MEMBERSHIP, refunded_upgrade]), EMAIL)
    proposed = [c.arguments.get("charge_id") for c in step.tool_calls if c.name.endswith("create_refund")]
    assert MEMBERSHIP["id"] not in proposed, (
        f"asked to refund the (already refunded) upgrade, the local model proposed refunding the "
        f"monthly membership {MEMBERSHIP['id']} instead: {step.content!r}"
    )
