"""A list cut to fit the model's budget is never answered as if it were whole.

A trimmed JSON list stays parseable (its first whole items, then a note), so every local chat
plan sees a shorter list as a valid one. With 12 charges of which only the last is refunded and 3
readable, a question about refunds is answered about the charges read, never "Nothing has been
refunded"; open disputes are counted "among those read". The answer says the list was cut (as
"the first 3 of 12 items").
"""

from __future__ import annotations

import json

from app.agent.run import trim_to_tokens
from app.llm.base import Message, ToolCall, ToolSpec
from app.llm.local.chat_plans import Turn, charges_of, disputes

CHARGES = [
    {
        "id": f"ch_{i}",
        "amount": 999,
        "currency": "usd",
        "amount_refunded": 999 if i == 11 else 0,
        "description": "Northwind Plus " + "x" * 400,
    }
    for i in range(12)
]
DISPUTES = [
    {"id": f"dp_{i}", "charge": f"ch_{i}", "amount": 999, "currency": "usd", "reason": "fraudulent",
     "status": "needs_response", "evidence": "y" * 400}
    for i in range(12)
]  # fmt: skip


def _tools(*ops: str) -> list[ToolSpec]:
    return [ToolSpec(name=f"payments__{op}", description="", input_schema={}) for op in ops]


def test_a_refund_question_on_a_cut_list_of_charges_never_says_nothing_was_refunded() -> None:
    found = ToolCall(id="c0", name="payments__find_customer", arguments={"email": "raj@example.org"})
    listed = ToolCall(id="c1", name="payments__list_charges", arguments={"customer_id": "cus_1"})
    customer = json.dumps({"id": "cus_1", "name": "Raj Patel", "email": "raj@example.org"})
    turn = Turn(
        message="Has anything been refunded to raj@example.org?",
        tools=_tools("find_customer", "list_charges"),
        calls=[found, listed],
        results={
            "c0": Message(role="tool", tool_call_id="c0", content=customer),
            "c1": Message(role="tool", tool_call_id="c1", content=trim_to_tokens(json.dumps(CHARGES), 500)),
        },
        ids=2,
    )
    answer = charges_of(turn, "raj@example.org").content or ""
    assert "Nothing has been refunded" not in answer and "of 12 items" in answer, answer


def test_open_disputes_on_a_cut_list_are_not_counted_as_all_of_them() -> None:
    listed = ToolCall(id="d0", name="payments__list_disputes", arguments={})
    cut = trim_to_tokens(json.dumps(DISPUTES), 500)
    assert "of 12 items" in cut
    charges = [
        ToolCall(id=f"g{i}", name="payments__get_charge", arguments={"charge_id": f"ch_{i}"})
        for i in range(12)
    ]
    results = {"d0": Message(role="tool", tool_call_id="d0", content=cut)}
    for i, call in enumerate(charges):
        results[call.id] = Message(
            role="tool",
            tool_call_id=call.id,
            content=json.dumps({"id": f"ch_{i}", "description": f"order {i}"}),
        )
    turn = Turn(
        message="Which disputes are open?",
        tools=_tools("list_disputes", "get_charge"),
        calls=[listed, *charges],
        results=results,
        ids=13,
    )
    answer = disputes(turn).content or ""
    assert "of 12" in answer, f"12 disputes are open, the answer counts what it could read: {answer[:120]!r}"
