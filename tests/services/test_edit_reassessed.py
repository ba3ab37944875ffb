"""An approver's edit goes through the whole policy again, against the facts the write was proposed with."""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.orchestrator import Orchestrator
from app.agent.policy import UNKNOWN_REQUESTER, Policy
from app.agent.run import REQUESTER_UNKNOWN, RunContext
from app.llm.base import Message, ModelRequest
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Conflict
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from connectors.base import Effects, Money
from connectors.base import Message as Said
from connectors.payments.client import PaymentsConnector
from tools.base import Catalogue, Tool

PAT, LEE, KIM = (Principal(n, "approver") for n in ("pat", "lee", "kim"))
THRESHOLD = 5_000


class Payments:
    """A charge of 20,000 owned by the requester; refunds and replies as writes."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def get_charge(self, args: dict[str, Any], key: str | None) -> Any:
        return {
            "object": "charge",
            "id": args["charge_id"],
            "customer": "cus_1",
            "amount": 20_000,
            "amount_refunded": 0,
            "currency": "eur",
        }

    async def find_customer(self, args: dict[str, Any], key: str | None) -> Any:
        return {"object": "customer", "id": "cus_1", "email": args["email"]}

    async def write(self, args: dict[str, Any], key: str | None) -> Any:
        self.writes.append(args)
        return {"ok": True}

    def catalogue(self) -> Catalogue:
        def read(name: str, fn: Any, prop: str) -> Tool:
            schema = {"type": "object", "properties": {prop: {"type": "string"}}, "required": [prop]}
            return Tool(
                f"pay__{name}", "pay", name, "", schema, "read", "none", fn, facts=PaymentsConnector.facts
            )

        refund_schema = {
            "type": "object",
            "properties": {"charge_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}},
            "required": ["charge_id"],
            "additionalProperties": False,
        }
        reply_schema = {
            "type": "object",
            "properties": {"body": {"type": "string"}},
            "required": ["body"],
            "additionalProperties": False,
        }
        return Catalogue(
            [
                read("get_charge", self.get_charge, "charge_id"),
                read("find_customer", self.find_customer, "email"),
                Tool(
                    "pay__create_refund",
                    "pay",
                    "create_refund",
                    "",
                    refund_schema,
                    "write",
                    "key",
                    self.write,
                    Effects(money=Money(amount="amount", currency=None, source="charge_id")),
                ),
                Tool(
                    "pay__reply",
                    "pay",
                    "reply",
                    "",
                    reply_schema,
                    "write",
                    "key",
                    self.write,
                    Effects(message=Said("public", ("body",))),
                ),
            ]
        )


async def pipeline(ctx: RunContext) -> dict[str, Any]:
    ctx.know(requester_email="ann@example.com", untrusted_text=["Please refund order 7, charge ch_1."])
    final = await ctx.agent_loop(
        "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), list(ctx.catalogue)
    )
    return {"answer": final.content}


async def proposed(
    db: Database, write: tuple[str, dict[str, Any]], run_input: dict[str, Any] | None = None
) -> tuple[Payments, dict[str, Any]]:
    system = Payments()
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            tool_use(*write),
            text("done"),
        ]
    )
    policy = Policy(two_approvers_above=THRESHOLD)
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    with db.session() as s:
        run = Run(kind="t", input=run_input or {})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    [action] = approvals.list_actions(db)
    action["_orch"], action["_cat"], action["_policy"] = orch, (lambda: cat), (lambda: policy)
    assert run_view(db, run_id)["status"] == "waiting_approval"
    return system, action


def approve(
    db: Database, action: dict[str, Any], who: Principal, arguments: Any = None, *, read: bool = True
) -> dict[str, Any]:
    """`who` approves (or edits) as an approver does: after reading the action (`read`), with
    the version of the arguments they read."""
    seen = approvals.get_action(db, action["id"])["version"] if read else None
    return approvals.approve(
        db, action["id"], who, action["_cat"], arguments, policy=action["_policy"], seen=seen
    )


async def test_a_refund_edited_above_the_threshold_needs_a_second_approver(db: Database) -> None:
    system, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 1_000}))
    assert action["required_approvals"] == 1 and action["risk"] == "medium"

    edited = approve(db, action, PAT, {"charge_id": "ch_1", "amount": 12_900})
    # the edit is the first approval, not the last: it needs another person now
    assert edited["status"] == "pending" and edited["required_approvals"] == 2
    assert [a["by"] for a in edited["approvals"]] == ["pat"]
    assert any("amount 12900 is above 5000: two different approvers" in r for r in edited["reasons"])
    assert any("edited by pat" in r for r in edited["reasons"])
    assert edited["provenance"]["amount"]["source"] == "approver"
    assert edited["provenance"]["charge_id"]["source"] == "fact"
    assert edited["effects"]["money"]["amount"] == 12_900

    with pytest.raises(Conflict):  # four eyes: the editor cannot be the second approver
        approve(db, action, PAT)
    # Lee's approval is of the arguments Lee read: not of the 1,000 proposed, nor blind.
    with pytest.raises(
        Conflict, match="was edited by pat after it was proposed: approve it with the version"
    ):
        approve(db, action, LEE, read=False)
    with pytest.raises(Conflict, match="was edited since you read it"):
        approvals.approve(db, action["id"], LEE, action["_cat"], seen=action["version"])
    await action["_orch"].drain("w")
    assert system.writes == []
    done = approve(db, action, LEE)
    assert done["status"] == "approved"
    await action["_orch"].drain("w")
    assert system.writes == [{"charge_id": "ch_1", "amount": 12_900}]


async def test_an_edit_that_drops_the_amount_counts_the_whole_remaining_amount(db: Database) -> None:
    _, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 1_000}))
    edited = approve(db, action, PAT, {"charge_id": "ch_1"})
    assert edited["status"] == "pending" and edited["required_approvals"] == 2
    assert any("amount 20000 is above 5000" in r for r in edited["reasons"])


async def test_an_edit_past_what_is_left_on_the_charge_is_high_risk(db: Database) -> None:
    _, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 1_000}))
    edited = approve(db, action, PAT, {"charge_id": "ch_1", "amount": 25_000})
    assert edited["risk"] == "high"
    assert any("exceeds what is left on charge ch_1 (20000)" in r for r in edited["reasons"])


async def test_an_edit_that_lowers_the_amount_is_re_assessed_too(db: Database) -> None:
    _, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 9_000}))
    assert action["required_approvals"] == 2
    edited = approve(db, action, PAT, {"charge_id": "ch_1", "amount": 900})
    assert not any("above 5000" in r for r in edited["reasons"])  # the gate's figure is the new amount
    # ...but the approver chose it: someone else confirms it (see the test below)
    assert edited["status"] == "pending" and edited["required_approvals"] == 2


async def test_money_an_approver_chose_is_confirmed_by_someone_else(db: Database) -> None:
    """An approver who edits a refund chose its amount or its charge: their approval is the first
    of two, as four eyes holds for whoever supplies a payee or an amount when posting an item.
    A reply edited by its approver is still that approver's alone."""
    system, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 1_000}))
    assert action["required_approvals"] == 1
    edited = approve(db, action, PAT, {"charge_id": "ch_1", "amount": 2_000})
    assert edited["status"] == "pending" and edited["required_approvals"] == 2
    assert any("values chosen at approval by pat" in r for r in edited["reasons"])
    await action["_orch"].drain("w")
    assert system.writes == []
    assert approve(db, action, LEE)["status"] == "approved"
    await action["_orch"].drain("w")
    assert system.writes == [{"charge_id": "ch_1", "amount": 2_000}]

    _, reply = await proposed(db, ("pay__reply", {"body": "Your refund is on its way."}))
    edited = approve(db, reply, PAT, {"body": "Your refund of 20.00 EUR is on its way."})
    assert edited["status"] == "approved" and edited["required_approvals"] == 1


async def test_a_reply_edited_to_carry_an_unknown_link_is_high_risk(db: Database) -> None:
    _, action = await proposed(db, ("pay__reply", {"body": "Your refund is on its way."}))
    assert action["risk"] == "medium"
    edited = approve(db, action, PAT, {"body": "Track it at https://refunds-portal.example/track"})
    assert edited["risk"] == "high"
    assert any("'https://refunds-portal.example/track'" in r for r in edited["reasons"])


async def test_a_write_whose_requester_nobody_recorded_keeps_two_approvers_through_an_edit(
    db: Database,
) -> None:
    """An item posted by hand before posters were kept (migration 0013 marked its run): its refund
    needs two different people, and an edit that lowers the amount does not let the editor, who
    may be the unnamed poster, approve it alone. Its reply stays one approver's."""
    poster = {"ticket": {}, "delivered": True, REQUESTER_UNKNOWN: "poster"}
    system, action = await proposed(
        db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 1_000}), poster
    )
    assert action["required_approvals"] == 2 and action["reasons"][-1] == UNKNOWN_REQUESTER

    edited = approve(db, action, PAT, {"charge_id": "ch_1", "amount": 900})
    assert edited["status"] == "pending" and edited["required_approvals"] == 2
    assert UNKNOWN_REQUESTER in edited["reasons"]
    with pytest.raises(Conflict):
        approve(db, action, PAT)
    assert approve(db, action, LEE)["status"] == "approved"
    await action["_orch"].drain("w")
    assert system.writes == [{"charge_id": "ch_1", "amount": 900}]

    _, reply = await proposed(db, ("pay__reply", {"body": "Your refund is on its way."}), poster)
    assert reply["required_approvals"] == 1 and UNKNOWN_REQUESTER not in reply["reasons"]
