"""The approval service and the run loop together on a real database: decisions, edits, four eyes,
the audit trail. The loop and the gate alone are tested on the in-memory store (tests/agent)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.agent.run import RunContext
from app.llm.base import Message, ModelRequest
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, Invalid
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import AuditEntry, Run
from connectors.warehouse import simulator as warehouse_sim
from connectors.warehouse.client import WarehouseConnector
from tests.agent.fakes import FakeSystem
from tools.base import Catalogue
from tools.from_connector import tools_for

APPROVER = Principal(name="pat", role="approver")


async def loop_pipeline(ctx: RunContext) -> dict[str, Any]:
    request = ModelRequest(
        system="help", messages=[Message(role="user", content=ctx.run.input["message"])], prompt="test@v1"
    )
    ctx.know(requester_email="ann@example.com")
    final = await ctx.agent_loop("loop", request, list(ctx.catalogue))
    return {"answer": final.content}


def make(
    db: Database, model: ScriptedModel, system: FakeSystem, rules: list[StandingRule] | None = None
) -> Orchestrator:
    cat = system.catalogue()
    return Orchestrator(
        SqlRunStore(db), model, lambda: cat, lambda: Policy(rules), {"test": loop_pipeline}, lease_seconds=30
    )


def new_run(
    db: Database, message: str = "where is order 7?", created_by: str = "api-client", **extra: Any
) -> str:
    with db.session() as s:
        run = Run(kind="test", input={"message": message, **extra}, created_by=created_by)
        s.add(run)
        s.flush()
        return run.id


def status(db: Database, run_id: str) -> str:
    return run_view(db, run_id)["status"]


async def test_write_waits_for_approval_then_runs_exactly_once(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "It shipped."}), text("Sent.")]
    )
    orch = make(db, model, system)
    run_id = new_run(db)
    await orch.drain("w1")
    assert status(db, run_id) == "waiting_approval"
    assert system.writes == []  # promise 1: nothing written before a person approves
    [pending] = approvals.list_actions(db, "pending")
    assert pending["tool"] == "shop__send_message" and pending["risk"] == "medium"

    approved = approvals.approve(db, pending["id"], APPROVER, lambda: system.catalogue())
    assert approved["status"] == "approved"
    assert status(db, run_id) == "queued"
    with pytest.raises(Conflict):
        approvals.approve(db, pending["id"], APPROVER, lambda: system.catalogue())

    await orch.drain("w2")
    view = run_view(db, run_id)
    assert view["status"] == "succeeded"
    assert len(system.writes) == 1 and system.writes[0]["key"] == pending["id"]
    assert view["actions"][0]["status"] == "succeeded"
    # the model was called twice in all: the loop resumed from its steps, not from scratch
    assert len(model.requests) == 2
    with db.session() as s:
        events = [e.event for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    for event in (
        "action.proposed",
        "action.approved",
        "action.executing",
        "action.succeeded",
        "step.model_call",
        "step.tool_call",
    ):
        assert event in events


async def test_reject_reason_goes_back_to_the_model(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "Refund done"}), text("ok")]
    )
    orch = make(db, model, system)
    run_id = new_run(db)
    await orch.drain("w1")
    [pending] = approvals.list_actions(db)
    with pytest.raises(Invalid):
        approvals.reject(db, pending["id"], APPROVER, "  ")
    approvals.reject(db, pending["id"], APPROVER, "we never promise refunds in writing")
    await orch.drain("w1")
    assert status(db, run_id) == "succeeded"
    assert system.writes == []
    last = model.requests[-1].messages[-1]
    assert last.is_error and "Rejected by pat: we never promise refunds in writing" in last.content


async def test_edited_arguments_are_validated_and_used(db: Database) -> None:
    system = FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "draft"}), text("done")]
    )
    orch = make(db, model, system)
    run_id = new_run(db)
    await orch.drain("w1")
    [pending] = approvals.list_actions(db)
    with pytest.raises(Invalid) as err:
        approvals.approve(
            db, pending["id"], APPROVER, lambda: system.catalogue(), {"to": "ann@example.com", "body": 5}
        )
    assert "body" in str(err.value)
    edited = approvals.approve(
        db, pending["id"], APPROVER, lambda: system.catalogue(), {"to": "ann@example.com", "body": "final"}
    )
    assert edited["edited"] is True
    await orch.drain("w1")
    assert system.writes[0]["body"] == "final"
    assert "edited_by_approver" in model.requests[-1].messages[-1].content
    assert status(db, run_id) == "succeeded"


async def test_requester_cannot_approve_own_action(db: Database) -> None:
    system = FakeSystem()
    orch = make(
        db, ScriptedModel([tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"})]), system
    )
    new_run(db, created_by="pat")
    await orch.drain("w1")
    [pending] = approvals.list_actions(db)
    with pytest.raises(Forbidden):
        approvals.approve(db, pending["id"], APPROVER, lambda: system.catalogue())


async def test_four_eyes_is_the_gates_default_not_a_pipelines_choice(db: Database) -> None:
    """The test pipeline says nothing about who asked; the gate still keeps the asker from approving."""
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "Hi"}), text("ok")]
    )
    orch = make(db, model, FakeSystem())
    asked = new_run(db, created_by="pat")
    await orch.drain("w1")
    [action] = approvals.list_actions(db, "pending")
    assert action["run_id"] == asked and action["requested_by"] == "pat"
    with pytest.raises(Forbidden, match="four eyes"):
        approvals.approve(db, action["id"], APPROVER, lambda: FakeSystem().catalogue())

    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "Hi"}), text("ok")]
    )
    orch = make(db, model, FakeSystem())
    delivered = new_run(db, created_by="pat", delivered=True)  # an item a system delivered asks for nothing
    await orch.drain("w1")
    [action] = [a for a in approvals.list_actions(db, "pending") if a["run_id"] == delivered]
    assert action["requested_by"] is None
    approved = approvals.approve(db, action["id"], APPROVER, lambda: FakeSystem().catalogue())
    assert approved["status"] == "approved"


async def test_postage_for_an_item_someone_posted_is_theirs_to_ask_for_not_to_approve(db: Database) -> None:
    """Buying a shipping label spends money (its operation declares it), so a person who posted
    the item by hand cannot approve the label the agent proposes from it, as for a refund. ShipStation
    prices the label only when it is bought: an amount the gate cannot bound, so it is never low
    risk and needs two other approvers; then the label is bought once."""
    sim = warehouse_sim.create_app()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim),
        base_url="http://warehouse.sim",
        headers={"API-Key": "TEST_key"},
    )
    warehouse = WarehouseConnector(client)
    made = await warehouse.create_shipment(
        "1099",
        {
            "name": "Raj Patel",
            "address_line1": "88 E Santa Clara St",
            "city_locality": "San Jose",
            "state_province": "CA",
            "postal_code": "95112",
            "country_code": "US",
        },
        [{"sku": "NW-BLND-129", "quantity": 1}],
    )
    shipment_id = made["shipment"]["shipment_id"]
    cat = Catalogue(tools_for("warehouse", warehouse))
    model = ScriptedModel([tool_use("warehouse__buy_label", {"shipment_id": shipment_id}), text("bought")])
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"test": loop_pipeline})
    run_id = new_run(db, "ship order 1099", created_by="pat", delivered=True, posted_by="pat")
    await orch.drain("w1")

    [label] = approvals.list_actions(db, "pending")
    assert label["run_id"] == run_id and label["requested_by"] == "pat"
    with pytest.raises(Forbidden, match="four eyes"):
        approvals.approve(db, label["id"], APPROVER, lambda: cat)
    assert label["risk"] == "high" and label["effects"]["money"]["amount"] is None
    assert any("how much is unknown" in r for r in label["reasons"])
    approvals.approve(db, label["id"], Principal("lee", "approver"), lambda: cat)
    approvals.approve(db, label["id"], Principal("kim", "approver"), lambda: cat)  # the second approver
    await orch.drain("w2")
    assert status(db, run_id) == "succeeded"
    bought = [lb for lb in sim.state.warehouse.labels.values() if lb["shipment_id"] == shipment_id]
    assert len(bought) == 1
    await client.aclose()


async def test_an_edit_whose_catalogue_reads_the_store_is_approved(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue may read the store itself (connections not loaded yet, as in an API-only
    process). It is read before the action's row is locked: inside, its own unit of work would
    wait for the one holding the lock (on SQLite, its own thread's write lock) until it failed."""
    from app.store import db as db_module

    monkeypatch.setattr(db_module, "BUSY_POLL_SECONDS", 0.05)  # a wait that would fail, fails fast
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 100)
    system = FakeSystem()
    orch = make(
        db, ScriptedModel([tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"})]), system
    )
    new_run(db)
    await orch.drain("w1")
    [pending] = approvals.list_actions(db)

    def catalogue() -> Any:
        with db.session() as s:  # as ConnectionPool does when it has no catalogue cached
            s.execute(select(AuditEntry.id).limit(1)).all()
        return system.catalogue()

    edited = approvals.approve(
        db, pending["id"], APPROVER, catalogue, {"to": "ann@example.com", "body": "final"}
    )
    assert edited["edited"] is True and edited["status"] == "approved"
