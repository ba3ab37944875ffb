"""Money from one charge is weighed as a whole: splitting a refund never dodges four eyes.

The threshold (5,000 here) asks two different approvers of a refund above it. Two refunds of
4,000 from one 20,000 charge, proposed in one turn or by two runs, add up to 8,000: the second
one needs a second approver, and a standing rule with `max_amount` 5,000 approves neither half
ahead once the two together pass it. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.llm.base import ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Conflict
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Action, Run
from connectors.base import ConnectorError
from tests.services.test_edit_reassessed import THRESHOLD, Payments, pipeline

PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")


def refunds(*amounts: int, charge: str = "ch_1") -> ModelResponse:
    calls = [
        ToolCall(id=f"r{i}", name="pay__create_refund", arguments={"charge_id": charge, "amount": amount})
        for i, amount in enumerate(amounts)
    ]
    return ModelResponse(tool_calls=calls, stop_reason="tool_use")


async def propose(
    db: Database, system: Payments, turn: ModelResponse, policy: Policy, store: SqlRunStore | None = None
) -> str:
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            turn,
            text("done"),
        ]
    )
    orch = Orchestrator(store or SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    return run_id


def pending(db: Database, run_id: str) -> list[dict[str, Any]]:
    return [a for a in approvals.list_actions(db) if a["run_id"] == run_id and a["status"] == "pending"]


def approve(db: Database, system: Payments, action_id: str, who: Principal) -> dict[str, Any]:
    return approvals.approve(
        db, action_id, who, system.catalogue, policy=lambda: Policy(two_approvers_above=THRESHOLD)
    )


def refund_rule() -> StandingRule:
    """A rule that lets refunds of 4,000 from ch_1 run, up to the threshold each."""
    allowed = {
        "type": "object",
        "properties": {"charge_id": {"const": "ch_1"}, "amount": {"enum": [4_000]}},
        "additionalProperties": False,
    }
    return StandingRule(
        tool="pay__create_refund",
        approved_by="lead",
        id="r1",
        max_risk="medium",
        max_amount=THRESHOLD,
        arguments_schema=allowed,
    )


async def test_two_halves_of_one_refund_need_two_approvers_together(db: Database) -> None:
    system = Payments()
    run_id = await propose(db, system, refunds(4_000, 4_000), Policy(two_approvers_above=THRESHOLD))
    waiting = pending(db, run_id)
    [second] = [a for a in waiting if any("in all" in r for r in a["reasons"])]
    [first] = [a for a in waiting if a is not second]
    assert first["required_approvals"] == 1  # 4,000 alone is under the threshold
    assert second["required_approvals"] == 2  # proposed beside it: 8,000 in all
    assert any("8000 in all" in r for r in second["reasons"])
    assert approve(db, system, first["id"], PAT)["status"] == "approved"
    assert approve(db, system, second["id"], PAT)["status"] == "pending"  # pat's alone is not enough
    assert approve(db, system, second["id"], LEE)["status"] == "approved"


async def test_a_refund_that_adds_up_past_the_threshold_with_another_runs_needs_a_second_approver(
    db: Database,
) -> None:
    """Each run proposed 4,000 alone (one approver each); the second approval weighs both."""
    system = Payments()
    policy = Policy(two_approvers_above=THRESHOLD)
    [one] = pending(db, await propose(db, system, refunds(4_000), policy))
    [two] = pending(db, await propose(db, system, refunds(4_000), policy))
    [other_charge] = pending(db, await propose(db, system, refunds(4_000, charge="ch_2"), policy))
    assert one["required_approvals"] == two["required_approvals"] == 1
    assert approve(db, system, one["id"], PAT)["status"] == "approved"
    assert approve(db, system, other_charge["id"], PAT)["status"] == "approved"  # another charge
    held = approve(db, system, two["id"], PAT)
    assert held["status"] == "pending" and held["required_approvals"] == 2
    assert any("already, 8000 in all is above 5000" in r for r in held["reasons"])
    with pytest.raises(Conflict, match="needs a different approver"):
        approve(db, system, two["id"], PAT)
    assert approve(db, system, two["id"], LEE)["status"] == "approved"


async def test_a_standing_rule_does_not_approve_the_halves_of_a_refund_above_its_limit(db: Database) -> None:
    system = Payments()
    rule = refund_rule()
    policy = Policy(two_approvers_above=20_000, standing_rules=[rule])
    run_id = await propose(db, system, refunds(4_000, 4_000), policy)
    waiting = pending(db, run_id)
    assert len(waiting) == 1  # the first half under the rule's limit ran; the second waits
    assert system.writes == [{"charge_id": "ch_1", "amount": 4_000}]


class FailsFirst(Payments):
    """The first refund sent fails (the system refused it, or it timed out); later ones go through."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def write(self, args: dict[str, Any], key: str | None) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectorError("payments answered 400: try again later", retryable=False)
        return await super().write(args, key)


async def test_a_failed_refund_counts_and_is_weighed_again_when_retried(db: Database) -> None:
    system = FailsFirst()
    policy = Policy(two_approvers_above=THRESHOLD)
    run_one = await propose(db, system, refunds(4_000), policy)
    run_two = await propose(db, system, refunds(4_000), policy)
    [one], [two] = pending(db, run_one), pending(db, run_two)
    approve(db, system, one["id"], PAT)
    cat = system.catalogue()
    orch = Orchestrator(
        SqlRunStore(db), ScriptedModel([text("done")] * 4), lambda: cat, lambda: policy, {"t": pipeline}
    )
    await orch.drain("w")
    with db.read() as s:
        assert s.scalar(select(Action.status).where(Action.id == one["id"])) == "failed"
    held = approve(db, system, two["id"], PAT)  # the failed one may have landed: it counts
    assert held["status"] == "pending" and held["required_approvals"] == 2
    approve(db, system, two["id"], LEE)
    await orch.drain("w")
    assert system.writes == [{"charge_id": "ch_1", "amount": 4_000}]
    again = approvals.retry(db, one["id"], PAT, policy=lambda: policy)
    assert again["status"] == "pending" and again["required_approvals"] == 2  # 8,000 with the other
    await orch.drain("w")
    assert len(system.writes) == 1  # nothing more went out on pat's say-so
    assert approve(db, system, one["id"], LEE)["status"] == "approved"


async def test_a_standing_rule_weighs_what_other_runs_took_from_the_charge(db: Database) -> None:
    system = Payments()
    rule = refund_rule()
    policy = Policy(two_approvers_above=20_000, standing_rules=[rule])
    assert pending(db, await propose(db, system, refunds(4_000), policy)) == []  # the rule ran it
    [waiting] = pending(db, await propose(db, system, refunds(4_000), policy))
    assert any("8000 in all" in r for r in waiting["reasons"])
    assert system.writes == [{"charge_id": "ch_1", "amount": 4_000}]
