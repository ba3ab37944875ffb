"""Money through an imported operation is weighed with what other runs took from the same record.

An imported refund (OpenAPI/MCP: effects undeclared) names no source, so the writes of other runs
that took from the same charge are found by the records both name (`policy.naming_values`: here
"ch_1"). Two runs each refunding 4,000 of ch_1 (threshold 5,000) through the imported operation,
or one through the declared operation and one through the imported one, are not both approved
by one person each; a refund of another charge is not held back by them.
"""

from __future__ import annotations

from typing import Any

from app.agent.policy import Policy, naming_values
from app.llm.base import ModelResponse, ToolCall
from app.services import approvals
from app.services.auth import Principal
from app.store.db import Database
from tests.agent.test_imported_money_rules import TOOL, ImportedPayments, refunds
from tests.services.test_edit_reassessed import THRESHOLD
from tests.services.test_imported_money_people import BothRefunds
from tests.services.test_split_refunds import pending, propose

PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")
POLICY = Policy(two_approvers_above=THRESHOLD)


def _approve(db: Database, system: Any, action: dict[str, Any], who: Principal) -> dict[str, Any]:
    return approvals.approve(db, action["id"], who, system.catalogue, policy=lambda: POLICY)


def _turn(name: str, arguments: dict[str, Any]) -> ModelResponse:
    return ModelResponse(
        tool_calls=[ToolCall(id="r", name=name, arguments=arguments)], stop_reason="tool_use"
    )


async def test_two_runs_refunding_one_charge_through_the_imported_operation_need_two_approvers(
    db: Database,
) -> None:
    system = ImportedPayments()
    first = await propose(db, system, refunds(4_000), POLICY)
    second = await propose(db, system, refunds(4_000), POLICY)
    [a] = pending(db, first)
    assert _approve(db, system, a, PAT)["status"] == "approved"
    [b] = pending(db, second)
    decided = _approve(db, system, b, LEE)
    assert decided["status"] == "pending" and decided["required_approvals"] == 2, (
        f"8,000 refunded from ch_1 by two runs through the imported refund, one approver each: "
        f"{decided['status']}, {decided['reasons']}"
    )
    assert _approve(db, system, b, PAT)["status"] == "approved"  # a second person completes it


async def test_a_declared_then_an_imported_refund_of_one_charge_in_two_runs_need_two_approvers(
    db: Database,
) -> None:
    system = BothRefunds()
    first = await propose(
        db, system, _turn("pay__create_refund", {"charge_id": "ch_1", "amount": 4_000}), POLICY
    )
    second = await propose(db, system, _turn(TOOL, {"body": {"charge": "ch_1", "amount": 4_000}}), POLICY)
    [a] = pending(db, first)
    assert _approve(db, system, a, PAT)["status"] == "approved"
    [b] = pending(db, second)
    assert _approve(db, system, b, LEE)["status"] == "pending"


async def test_an_imported_then_a_declared_refund_of_one_charge_in_two_runs_need_two_approvers(
    db: Database,
) -> None:
    system = BothRefunds()
    first = await propose(db, system, _turn(TOOL, {"body": {"charge": "ch_1", "amount": 4_000}}), POLICY)
    second = await propose(
        db, system, _turn("pay__create_refund", {"charge_id": "ch_1", "amount": 4_000}), POLICY
    )
    [a] = pending(db, first)
    assert _approve(db, system, a, PAT)["status"] == "approved"
    [b] = pending(db, second)
    assert _approve(db, system, b, LEE)["status"] == "pending"


async def test_a_refund_of_another_charge_is_not_weighed_with_them(db: Database) -> None:
    system = ImportedPayments()
    first = await propose(db, system, refunds(4_000), POLICY)
    other = _turn(TOOL, {"body": {"charge": "ch_2", "amount": 4_000}, "reason": "requested_by_customer"})
    second = await propose(db, system, other, POLICY)
    [a] = pending(db, first)
    assert _approve(db, system, a, PAT)["status"] == "approved"
    [b] = pending(db, second)
    assert _approve(db, system, b, LEE)["status"] == "approved"


def test_the_records_an_imported_write_names() -> None:
    named = naming_values(
        {
            "body": {"charge": "ch_3Nx9", "amount": 4_000, "reason": "requested_by_customer"},
            "order": 100_234,
            "q": 3,
        }
    )
    assert named == {"ch_3Nx9", "100234"}
