"""Approval rules that involve people: two approvers, expiry as its own state, standing rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.run import RunContext
from app.llm.base import Message, ModelRequest
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, rules
from app.services.auth import Principal
from app.services.errors import Conflict, Invalid
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Action, Run, utcnow
from tests.agent.fakes import FakeSystem


async def pipeline(ctx: RunContext) -> dict[str, Any]:
    ctx.know(requester_email="ann@example.com")
    final = await ctx.agent_loop(
        "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), list(ctx.catalogue)
    )
    return {"answer": final.content}


def orchestrator(
    db: Database, model: ScriptedModel, system: FakeSystem, policy: Policy | None = None
) -> Orchestrator:
    cat = system.catalogue()
    return Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy or Policy(), {"t": pipeline})


def new_run(db: Database) -> str:
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        return run.id


async def test_two_different_approvers_are_needed_when_policy_says_so(db: Database) -> None:
    system = FakeSystem()

    class TwoPeople(Policy):
        def decide(self, *a: Any, **kw: Any) -> Any:
            d = super().decide(*a, **kw)
            d.required_approvals = 2
            return d

    orch = orchestrator(
        db,
        ScriptedModel([tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"}), text("ok")]),
        system,
        TwoPeople(),
    )
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    assert a["required_approvals"] == 2
    first = approvals.approve(db, a["id"], Principal("pat", "approver"), system.catalogue)
    assert first["status"] == "pending" and [x["by"] for x in first["approvals"]] == ["pat"]
    with pytest.raises(Conflict, match="different approver"):
        approvals.approve(db, a["id"], Principal("pat", "approver"), system.catalogue)
    await orch.drain("w")
    assert system.writes == [] and run_view(db, run_id)["status"] == "waiting_approval"
    second = approvals.approve(db, a["id"], Principal("lee", "approver"), system.catalogue)
    assert second["status"] == "approved" and second["decided_by"] == "pat, lee"
    await orch.drain("w")
    assert len(system.writes) == 1 and run_view(db, run_id)["status"] == "succeeded"


async def test_expiry_is_its_own_state_and_the_model_hears_of_it(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"}), text("ok")]
    )
    orch = orchestrator(db, model, system)
    run_id = new_run(db)
    await orch.drain("w")
    [a] = approvals.list_actions(db)
    assert a["expires_at"] is not None
    with db.session() as s:
        s.execute(update(Action).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(Conflict, match="expired"):
        approvals.approve(db, a["id"], Principal("pat", "approver"), system.catalogue)
    await orch.drain("w")
    view = run_view(db, run_id)
    assert view["actions"][0]["status"] == "expired"
    assert view["status"] == "succeeded" and system.writes == []
    assert "expired" in model.requests[-1].messages[-1].content


async def test_a_standing_rule_made_by_an_admin_applies_and_revoking_it_stops_it(db: Database) -> None:
    admin = Principal("root", "admin")
    with pytest.raises(Invalid):
        rules.create_rule(db, admin, tool="*", max_risk="low")
    with pytest.raises(Invalid):
        rules.create_rule(db, admin, tool="shop__send_message", max_risk="high")
    rule = rules.create_rule(
        db,
        admin,
        tool="shop__send_message",
        max_risk="medium",
        arguments_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {"to": {"enum": ["ann@example.com"]}, "body": {"enum": ["x", "y"]}},
        },
    )
    system = FakeSystem()
    orch = Orchestrator(
        SqlRunStore(db),
        ScriptedModel(
            [
                tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"}),
                text("ok"),
                tool_use("shop__send_message", {"to": "ann@example.com", "body": "y"}),
            ]
        ),
        lambda: system.catalogue(),
        lambda: rules.load_policy(db, two_approvers_above=50_000),
        {"t": pipeline},
    )
    new_run(db)
    await orch.drain("w")
    assert len(system.writes) == 1
    rules.revoke_rule(db, rule["id"], admin)
    new_run(db)
    await orch.drain("w")
    assert len(system.writes) == 1 and len(approvals.list_actions(db)) == 1


def test_a_version_is_long_enough_that_no_approver_can_make_two_argument_sets_share_it() -> None:
    """An approver who found two argument sets with one version could edit from the one a second
    approver read to the other under that approver's "seen". A birthday search costs 2**(bits/2):
    2**32 (an afternoon) at 64 bits, 2**64 at 128."""
    from app.services.views import arguments_version

    version = arguments_version({"ticket_id": 1, "body": "hello"})
    assert len(version) * 4 >= 128 and int(version, 16) >= 0
    assert version != arguments_version({"ticket_id": 1, "body": "hello!"})
