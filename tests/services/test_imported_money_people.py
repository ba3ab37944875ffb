"""Money through an imported operation (OpenAPI/MCP: effects undeclared) keeps four eyes when a
person approves it, not only when a standing rule would.

An imported write names no source for its money, so the gate weighs its stated amount with every
other money write of the run (and theirs with it): two imported refunds of 4,000 from one charge
in one turn (8,000, over the 5,000 threshold), or one imported and one declared, are not both
approved by one person. An approver who edits an imported refund's amount chose money, which
someone else confirms (approvals.EDITED_FOR_GOOD), as for the declared refund.
"""

from __future__ import annotations

from typing import Any

from app.agent.policy import Policy
from app.services import approvals
from app.services.auth import Principal
from app.services.views import arguments_version
from app.store.db import Database
from tests.agent.test_imported_money_rules import ImportedPayments, refunds
from tests.services.test_edit_reassessed import THRESHOLD
from tests.services.test_split_refunds import pending, propose

PAT = Principal("pat", "approver")


def _approve(
    db: Database, system: ImportedPayments, action: dict[str, Any], arguments: Any = None
) -> dict[str, Any]:
    return approvals.approve(
        db,
        action["id"],
        PAT,
        system.catalogue,
        arguments,
        policy=lambda: Policy(two_approvers_above=THRESHOLD),
        seen=arguments_version(action["arguments"]),
    )


async def test_one_person_cannot_approve_both_halves_of_an_imported_refund(db: Database) -> None:
    system = ImportedPayments()
    run_id = await propose(db, system, refunds(4_000, 4_000), Policy(two_approvers_above=THRESHOLD))
    decided = [_approve(db, system, a)["status"] for a in pending(db, run_id)]
    assert decided.count("approved") < 2, (
        f"pat alone approved 8,000 from ch_1 (threshold {THRESHOLD}) through the imported refund: {decided}"
    )


async def test_an_imported_refund_whose_amount_an_approver_edited_needs_a_second_approver(
    db: Database,
) -> None:
    system = ImportedPayments()
    run_id = await propose(db, system, refunds(100), Policy(two_approvers_above=THRESHOLD))
    [action] = pending(db, run_id)
    edited = _approve(db, system, action, {"body": {"charge": "ch_1", "amount": 4_900}})
    assert edited["status"] == "pending" and edited["required_approvals"] == 2, (
        f"pat raised an imported refund from 100 to 4,900 and approved it alone: {edited['status']}, "
        f"{edited['required_approvals']} approver(s), {edited['reasons']}"
    )


class BothRefunds(ImportedPayments):
    """The declared refund (pay__create_refund) and the imported one (stripe__PostRefunds) side by side:
    one Stripe account connected twice, once by its connector and once by its OpenAPI document."""

    def catalogue(self):  # type: ignore[no-untyped-def]
        from tests.services.test_edit_reassessed import Payments
        from tools.base import Catalogue

        declared = [t for t in Payments.catalogue(self) if t.name == "pay__create_refund"]
        return Catalogue([*super().catalogue(), *declared])


async def test_a_refund_split_between_the_declared_and_the_imported_operation_needs_two_approvers(
    db: Database,
) -> None:
    from app.llm.base import ModelResponse, ToolCall

    system = BothRefunds()
    turn = ModelResponse(
        tool_calls=[
            ToolCall(id="a", name="pay__create_refund", arguments={"charge_id": "ch_1", "amount": 4_000}),
            ToolCall(
                id="b", name="stripe__PostRefunds", arguments={"body": {"charge": "ch_1", "amount": 4_000}}
            ),
        ],
        stop_reason="tool_use",
    )
    run_id = await propose(db, system, turn, Policy(two_approvers_above=THRESHOLD))
    decided = [_approve(db, system, a)["status"] for a in pending(db, run_id)]
    assert decided.count("approved") < 2, (
        f"pat alone approved 8,000 from ch_1 (threshold {THRESHOLD}), 4,000 through each refund operation: "
        f"{decided}"
    )
