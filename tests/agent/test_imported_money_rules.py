"""A standing rule never runs money through an imported operation (OpenAPI/MCP: effects
undeclared). Such a write says how much but not where the money is taken from, so writes that
split one sum (two 4,000 refunds of one charge under a 5,000 rule, in one run or in two) cannot be
weighed together: each goes to a person. Compare tests/services/test_split_refunds.py, where the
same rule over the declared refund runs the first half only.
"""

from __future__ import annotations

from app.agent.policy import Policy, StandingRule
from app.llm.base import ModelResponse, ToolCall
from app.services.approvals import rule_admission
from app.store.db import Database
from app.store.runs import SqlRunStore
from connectors.base import Effects
from tests.services.test_edit_reassessed import THRESHOLD, Payments
from tests.services.test_split_refunds import propose
from tools.base import Catalogue, Tool

TOOL = "stripe__PostRefunds"


class ImportedPayments(Payments):
    """The same charge and reads; the refund is an imported `POST /v1/refunds` (body: charge, amount)."""

    def catalogue(self) -> Catalogue:
        schema = {
            "type": "object",
            "properties": {
                "body": {
                    "type": "object",
                    "properties": {"charge": {"type": "string"}, "amount": {"type": "integer"}},
                }
            },
            "required": ["body"],
        }
        reads = [t for t in super().catalogue() if t.effect == "read"]
        refund = Tool(
            TOOL, "stripe", "PostRefunds", "", schema, "write", "key", self.write, Effects(declared=False)
        )
        return Catalogue([*reads, refund])


def imported_rule() -> StandingRule:
    """As tests/services/test_split_refunds.refund_rule: refunds of 4,000 from ch_1, up to 5,000."""
    allowed = {
        "type": "object",
        "properties": {
            "body": {
                "type": "object",
                "properties": {"charge": {"const": "ch_1"}, "amount": {"enum": [4_000]}},
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    }
    return StandingRule(
        tool=TOOL,
        approved_by="lead",
        id="r1",
        max_risk="medium",
        max_amount=THRESHOLD,
        arguments_schema=allowed,
    )


def refunds(*amounts: int) -> ModelResponse:
    calls = [
        ToolCall(id=f"r{i}", name=TOOL, arguments={"body": {"charge": "ch_1", "amount": a}})
        for i, a in enumerate(amounts)
    ]
    return ModelResponse(tool_calls=calls, stop_reason="tool_use")


async def _propose(db: Database, system: Payments, turn: ModelResponse, policy: Policy) -> None:
    store = SqlRunStore(db, admission=rule_admission(THRESHOLD))  # as app.main.Container wires it
    await propose(db, system, turn, policy, store)


def _moved(system: Payments) -> int:
    return sum(int(w["body"]["amount"]) for w in system.writes)


async def test_a_rule_does_not_run_both_halves_of_an_imported_refund_in_one_run(db: Database) -> None:
    system = ImportedPayments()
    policy = Policy(two_approvers_above=THRESHOLD, standing_rules=[imported_rule()])
    await _propose(db, system, refunds(4_000, 4_000), policy)
    assert _moved(system) <= THRESHOLD, (
        f"{_moved(system)} refunded from ch_1 under rule r1 (max_amount {THRESHOLD}) with no approver: "
        f"{system.writes}"
    )


async def test_a_rule_weighs_what_another_run_took_through_the_imported_refund(db: Database) -> None:
    system = ImportedPayments()
    policy = Policy(two_approvers_above=THRESHOLD, standing_rules=[imported_rule()])
    await _propose(db, system, refunds(4_000), policy)
    await _propose(db, system, refunds(4_000), policy)
    assert _moved(system) <= THRESHOLD, (
        f"{_moved(system)} refunded from ch_1 by two runs under rule r1 with no approver: {system.writes}"
    )
