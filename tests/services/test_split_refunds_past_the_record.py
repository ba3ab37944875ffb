"""Refunds that together go past the record's amount, or past what is left on the charge, are
rated as one refund that does.

A refund larger than the record, or than what is left on its charge, is high risk. Split in two
(two refunds of 60.00 for a record of 100.00, each under the record and under what is left), the
gate weighs each with the run's others from the same charge against the record, and with every
other write from that charge against what is left (Stripe refuses only the part past what is left:
https://docs.stripe.com/api/refunds/create, "You can optionally refund only part of a charge. You
can do so multiple times, until the entire charge has been refunded"), so the second is high too.
"""

from __future__ import annotations

from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, new_facts
from app.agent.run import RunContext
from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import Payments

RECORD = 10_000  # the record asks for 100.00
# Payments' charge ch_1 is 20,000 (200.00), owned by the requester ann@example.com


async def pipeline(ctx: RunContext) -> dict[str, Any]:
    ctx.know(
        requester_email="ann@example.com",
        record_amount=RECORD,
        untrusted_text=["Please refund 100.00 of charge ch_1."],
    )
    final = await ctx.agent_loop(
        "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), list(ctx.catalogue)
    )
    return {"answer": final.content}


async def _propose(db: Database, *amounts: int) -> list[dict[str, Any]]:
    system = Payments()
    cat = system.catalogue()
    turn = ModelResponse(
        tool_calls=[
            ToolCall(id=f"r{i}", name="pay__create_refund", arguments={"charge_id": "ch_1", "amount": a})
            for i, a in enumerate(amounts)
        ],
        stop_reason="tool_use",
    )
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            turn,
            text("done"),
        ]
    )
    policy = Policy()  # the default threshold, 50,000: neither refund nor both reach it
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    return [a for a in approvals.list_actions(db) if a["run_id"] == run_id]


async def test_two_refunds_that_together_exceed_the_record_are_not_routine(db: Database) -> None:
    one_refund = await _propose(db, 12_000)
    [alone] = one_refund
    assert alone["risk"] == "high"  # one refund of 120.00 for a 100.00 record: high, as documented

    halves = await _propose(db, 6_000, 6_000)
    assert len(halves) == 2
    second = max(halves, key=lambda a: sum("in all" in r for r in a["reasons"]))
    assert second["risk"] == "high", (
        "two refunds of 60.00 for a 100.00 record move 120.00, more than the record asks, yet "
        f"the second is rated {second['risk']!r}: {second['reasons']}"
    )
    assert any("record" in r for r in second["reasons"]), second["reasons"]


def test_the_gate_weighs_a_refund_beside_another_against_what_is_left_on_the_charge() -> None:
    """Policy level: 15,000 proposed beside 15,000 from a charge with 20,000 left."""
    system = Payments()
    refund = system.catalogue().get("pay__create_refund")
    facts = new_facts()
    facts.update(
        requester_email="ann@example.com",
        customers={"cus_1": "ann@example.com"},
        charges={"ch_1": {"customer": "cus_1", "amount": 20_000, "amount_refunded": 0, "currency": "eur"}},
    )
    d = Policy().decide(refund, {"charge_id": "ch_1", "amount": 15_000}, facts, alongside=15_000)
    assert d.risk == "high", f"30,000 in all from a charge with 20,000 left is rated {d.risk!r}: {d.reasons}"
