"""Imported refunds across runs are weighed by the record they refund: a short id counts, a
value every refund of the account carries does not.

1. Two runs each refunding 4,000 of order 512 (a small sequential number, as most shops and
   ERPs number their orders; threshold 5,000) through an imported operation: the second needs
   two approvers, as it does for "ch_1".
2. Adyen's `merchantAccount` is in the body of every refund request of the account: a refund
   of another payment is approved by one person, whatever was refunded before in the account.
"""

from __future__ import annotations

from typing import Any

from app.agent.policy import Policy
from app.llm.base import ModelResponse, ToolCall
from app.services import approvals
from app.services.auth import Principal
from app.store.db import Database
from connectors.base import Effects
from tests.services.test_edit_reassessed import THRESHOLD, Payments
from tests.services.test_split_refunds import pending, propose
from tools.base import Catalogue, Tool

PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")
POLICY = Policy(two_approvers_above=THRESHOLD)
TOOL = "shop__refund_order"


class ImportedRefunds(Payments):
    """The charge reads of Payments; the refund is an imported (OpenAPI/MCP) operation taking
    whatever the imported document says (no effects declared)."""

    def catalogue(self) -> Catalogue:
        reads = [t for t in super().catalogue() if t.effect == "read"]
        refund = Tool(
            TOOL,
            "shop",
            "refund_order",
            "",
            {"type": "object"},
            "write",
            "key",
            self.write,
            Effects(declared=False),
        )
        return Catalogue([*reads, refund])


def _turn(arguments: dict[str, Any]) -> ModelResponse:
    return ModelResponse(
        tool_calls=[ToolCall(id="r", name=TOOL, arguments=arguments)], stop_reason="tool_use"
    )


def _approve(db: Database, system: Any, action: dict[str, Any], who: Principal) -> dict[str, Any]:
    return approvals.approve(db, action["id"], who, system.catalogue, policy=lambda: POLICY)


async def _second_decision(db: Database, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    system = ImportedRefunds()
    run1 = await propose(db, system, _turn(first), POLICY)
    run2 = await propose(db, system, _turn(second), POLICY)
    [a] = pending(db, run1)
    assert _approve(db, system, a, PAT)["status"] == "approved"
    [b] = pending(db, run2)
    return _approve(db, system, b, LEE)


async def test_two_refunds_of_one_small_numbered_order_need_two_approvers(db: Database) -> None:
    refund = {"order_id": 512, "amount": 4_000}
    decided = await _second_decision(db, refund, dict(refund))
    assert decided["status"] == "pending" and decided["required_approvals"] == 2, (
        "8,000 refunded from order 512 by two runs through the imported refund, one approver each "
        f"(threshold {THRESHOLD}): {decided['status']}, required {decided['required_approvals']}, "
        f"reasons {decided['reasons']}"
    )


def _adyen(psp: str) -> dict[str, Any]:
    return {
        "paymentPspReference": psp,
        "body": {
            "merchantAccount": "AcmeShop2024ECOM",
            "amount": {"value": 4_000, "currency": "EUR"},
            "reference": f"refund-{psp}",
        },
    }


async def test_a_refund_of_another_payment_is_not_held_by_the_merchant_account(db: Database) -> None:
    decided = await _second_decision(db, _adyen("PSP0001"), _adyen("PSP0002"))
    assert decided["status"] == "approved", (
        "a 4,000 refund of payment PSP0002 was weighed with a refund of PSP0001 because both name "
        f"the shop's merchant account: {decided['status']}, reasons {decided['reasons']}"
    )
