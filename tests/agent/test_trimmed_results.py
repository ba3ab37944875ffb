"""A tool result cut to fit the model's budget stays readable: a JSON list keeps whole items and
says how many of how many, and the local model never turns a cut list into "none"."""

from __future__ import annotations

import json

from app.agent.run import trim_to_tokens
from app.llm.local.planner import parse_json
from app.llm.tokens import count_tokens

CHARGES = [
    {"id": f"ch_{i}", "amount": 999, "currency": "usd", "description": "Northwind Plus " + "x" * 400}
    for i in range(12)
]


def test_a_long_json_list_keeps_its_first_whole_items_and_says_how_many() -> None:
    text = json.dumps(CHARGES)
    cut = trim_to_tokens(text, 500)
    kept = parse_json(cut)
    assert isinstance(kept, list) and 0 < len(kept) < 12
    assert kept == CHARGES[: len(kept)]
    assert f"the first {len(kept)} of 12 items" in cut
    assert count_tokens(cut) <= 500


def test_an_object_around_one_list_keeps_the_object() -> None:
    text = json.dumps({"has_more": True, "data": CHARGES})
    kept = parse_json(trim_to_tokens(text, 500))
    assert kept["has_more"] is True and 0 < len(kept["data"]) < 12


def test_text_that_is_not_json_is_cut_as_text() -> None:
    cut = trim_to_tokens("word " * 2000, 100)
    assert cut.startswith("word word") and "…[trimmed to 100 tokens of 20" in cut and "items" not in cut


def test_the_local_chat_says_a_list_was_cut_instead_of_counting_what_it_saw() -> None:
    from app.llm.base import Message, ToolCall, ToolSpec
    from app.llm.local.chat_plans import Turn, charges_of

    found = ToolCall(id="c0", name="payments__find_customer", arguments={"email": "raj@example.org"})
    listed = ToolCall(id="c1", name="payments__list_charges", arguments={"customer_id": "cus_1"})
    customer = json.dumps({"id": "cus_1", "name": "Raj Patel", "email": "raj@example.org"})
    results = {
        "c0": Message(role="tool", tool_call_id="c0", content=customer),
        "c1": Message(role="tool", tool_call_id="c1", content=trim_to_tokens(json.dumps(CHARGES), 500)),
    }
    turn = Turn(
        message="What charges does raj@example.org have?",
        tools=[
            ToolSpec(name=f"payments__{op}", description="", input_schema={})
            for op in ("find_customer", "list_charges")
        ],
        calls=[found, listed],
        results=results,
        ids=2,
    )
    answer = charges_of(turn, "raj@example.org").content
    assert "of 12 items" in answer and "has 12" not in answer and "no charges" not in answer, answer
