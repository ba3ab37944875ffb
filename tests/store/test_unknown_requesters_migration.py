"""Migration 0013 on rows as the code before it wrote them: a pending write whose requester was
never recorded (an item posted by hand before `posted_by`, an MCP request filed as "mcp-client")
needs two different approvers; writes of items that systems delivered, and writes whose requester
the old code named, are left as they were. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select

from app.agent.orchestrator import Orchestrator
from app.agent.policy import UNKNOWN_REQUESTER, Policy
from app.agent.run import REQUESTER_UNKNOWN, RunContext
from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text
from app.services import approvals, intake
from app.services import audit as audit_service
from app.services.auth import Principal
from app.services.errors import Conflict
from app.store.db import Database, alembic_config, upgrade
from app.store.runs import SqlRunStore, audit
from app.store.tables import Action, AuditEntry, Item, Run, new_id
from connectors.base import Effects, Money
from connectors.base import Message as Said
from tests.support.tools import tool
from tools.base import Catalogue, Tool

ALICE, BOB = Principal("alice", "approver"), Principal("bob", "approver")
REFUND = {"reversible": False, "final": False, "money": {"amount": 1000, "currency": None, "source": "ch_1"}}
JOURNAL = {"reversible": False, "final": True, "money": {"amount": 48620, "currency": None, "source": None}}
REPLY = {"reversible": False, "final": False, "message": {"audience": "public"}}
TAGS = {"reversible": True, "final": False}
OLD_REASONS = ["moves money, which cannot be undone"]


def no_catalogue() -> Catalogue:
    raise AssertionError("a decision without an edit reads no tools")


@pytest.fixture
def old(db_url: str) -> Iterator[Old]:
    """A database at 0012, the revision before, to write rows into as its code did."""
    upgrade(db_url, "0012")
    database = Database(db_url)
    yield Old(database)
    database.dispose()


class Old:
    """Rows as the code before 0013 wrote them."""

    def __init__(self, db: Database):
        self.db = db

    def item(
        self,
        *,
        via: str,
        actor: str,
        kind: str = "ticket",
        run_input: dict[str, Any] | None = None,
        receipt: dict[str, Any] | None = None,
        run_kind: str = "triage",
        status: str = "waiting_approval",
    ) -> str:
        """An item and its first run, with intake's receipt in the audit log; the run's id."""
        payload = {"subject": "Charged twice", "body": "Refund one, please.", "external_id": new_id()[:8]}
        source = "helpdesk" if kind == "ticket" and via in ("api", "cli") else via
        with self.db.session() as s:
            item = Item(kind=kind, source=source, external_id=payload["external_id"], payload=payload)
            s.add(item)
            s.flush()
            data = {kind: payload, "delivered": True} if run_input is None else run_input
            run = Run(kind=run_kind, item_id=item.id, input=data, created_by=actor, status=status)
            s.add(run)
            s.flush()
            said = {"item_id": item.id, "external_id": item.external_id, "source": source, "via": via}
            audit(s, actor, f"{kind}.received", "run", run.id, said if receipt is None else receipt)
            return run.id

    def mcp(self, *, created_by: str = "mcp-client", role: str | None = None) -> str:
        """An MCP client's write request: before requests were filed as the token's owner, as
        "mcp-client" with no role in the audit row."""
        with self.db.session() as s:
            call = {"tool": "helpdesk__update_ticket", "arguments": {"ticket_id": 7, "priority": "low"}}
            run = Run(
                kind="mcp_call", input={"mcp_call": call}, created_by=created_by, status="waiting_approval"
            )
            s.add(run)
            s.flush()
            data = {"tool": call["tool"]} if role is None else {"tool": call["tool"], "role": role}
            audit(s, created_by, "mcp.write_requested", "run", run.id, data)
            return run.id

    def action(
        self,
        run_id: str,
        tool: str,
        effects: dict[str, Any] | None,
        *,
        requested_by: str | None = None,
        required: int = 1,
    ) -> str:
        connection, operation = tool.split("__")
        with self.db.session() as s:
            # Only the columns its code wrote: the table at that revision lacks any added since.
            action_id = new_id()
            s.execute(
                insert(Action).values(
                    id=action_id,
                    run_id=run_id,
                    tool_call_id=new_id(),
                    tool=tool,
                    connection=connection,
                    operation=operation,
                    arguments={"charge_id": "ch_1", "amount": 1000},
                    proposed_arguments={"charge_id": "ch_1", "amount": 1000},
                    status="pending",
                    risk="medium",
                    reasons=list(OLD_REASONS),
                    effects=effects,
                    requested_by=requested_by,
                    required_approvals=required,
                )
            )
            return action_id


def action(db: Database, action_id: str) -> dict[str, Any]:
    return approvals.get_action(db, action_id)


def run_input(db: Database, run_id: str) -> dict[str, Any]:
    with db.read() as s:
        return dict(s.scalars(select(Run.input).where(Run.id == run_id)).one())


def raised(db: Database, action_id: str) -> bool:
    """Whether the migration raised the action to two approvers (and said why); else untouched."""
    a = action(db, action_id)
    if a["reasons"] == OLD_REASONS:
        return False
    assert a["reasons"] == [*OLD_REASONS, UNKNOWN_REQUESTER] and a["required_approvals"] == 2
    return True


def test_one_approver_cannot_execute_what_an_unrecorded_requester_asked_for(old: Old) -> None:
    db = old.db
    posted = old.item(via="api", actor="alice")  # alice posted it through the API, before posted_by
    refund = old.action(posted, "payments__create_refund", REFUND)
    reply = old.action(posted, "helpdesk__add_comment", REPLY)
    to_edit = old.action(posted, "payments__create_refund", REFUND)
    mcp = old.mcp()
    mcp_write = old.action(mcp, "helpdesk__update_ticket", TAGS, requested_by="mcp-client")
    delivered = old.item(via="helpdesk", actor="webhook:helpdesk")  # a help-desk webhook
    delivered_refund = old.action(delivered, "payments__create_refund", REFUND)

    db.upgrade()

    assert raised(db, refund) and raised(db, mcp_write)
    assert not raised(db, reply) and not raised(db, delivered_refund)
    assert action(db, reply)["required_approvals"] == action(db, delivered_refund)["required_approvals"] == 1
    assert run_input(db, posted)[REQUESTER_UNKNOWN] == "poster"
    assert run_input(db, mcp)[REQUESTER_UNKNOWN] == "creator"
    assert REQUESTER_UNKNOWN not in run_input(db, delivered)

    for action_id in (refund, mcp_write):
        first = approvals.approve(db, action_id, ALICE, no_catalogue)
        assert first["status"] == "pending" and [a["by"] for a in first["approvals"]] == ["alice"]
        with pytest.raises(Conflict, match="needs a different approver"):
            approvals.approve(db, action_id, ALICE, no_catalogue)
        second = approvals.approve(db, action_id, BOB, no_catalogue)
        assert second["status"] == "approved" and second["decided_by"] == "alice, bob"
    # An edit is re-assessed and still wants a second person: the editor may be whoever asked.
    payments = Catalogue([tool("payments__create_refund")])
    edited = approvals.approve(db, to_edit, ALICE, lambda: payments, {"charge_id": "ch_1", "amount": 900})
    assert edited["status"] == "pending" and edited["required_approvals"] == 2
    assert UNKNOWN_REQUESTER in edited["reasons"]
    # What a system delivered, and a reply that moves nothing, stay one approver's, the poster's too.
    assert approvals.approve(db, delivered_refund, ALICE, no_catalogue)["status"] == "approved"
    assert approvals.approve(db, reply, ALICE, no_catalogue)["status"] == "approved"

    report = audit_service.verify(db)
    assert report.ok, report.problems
    with db.read() as s:
        rows = s.execute(
            select(AuditEntry.event, AuditEntry.subject_id, AuditEntry.data)
            .where(AuditEntry.actor == "migration:0013")
            .order_by(AuditEntry.chain_seq)
        ).all()
    assert sorted((event, subject) for event, subject, _ in rows) == sorted(
        [
            ("run.requester_unknown", posted),
            ("run.requester_unknown", mcp),
            ("action.approvals_raised", refund),
            ("action.approvals_raised", to_edit),
            ("action.approvals_raised", mcp_write),
        ]
    )
    assert {"scope": "poster", "via": "api"} in [data for *_, data in rows]
    assert all(
        data["required"] == {"from": 1, "to": 2} for event, _, data in rows if event.startswith("action.")
    )


def test_which_runs_and_actions_the_old_code_left_without_a_requester(old: Old) -> None:
    """Precisely those: by the channel the item came through, what the run's input says, the
    action's recorded effects and who it already names."""
    db = old.db
    cases: dict[str, tuple[str, bool]] = {}  # name -> (action id, needs two approvers now)

    def case(name: str, run_id: str, effects: dict[str, Any] | None, want: bool, **kw: Any) -> None:
        tool = "erp__post_journal_entry" if effects is JOURNAL else "payments__create_refund"
        cases[name] = (old.action(run_id, tool, effects, **kw), want)

    via_file = old.item(via="cli", actor="cli")  # `switchboard triage FILE`: the person unknown
    case("cli file refund", via_file, REFUND, True)
    pulled = old.item(via="helpdesk", actor="cli")  # `switchboard triage --source helpdesk`
    case("pulled refund", pulled, REFUND, False)
    form = old.item(via="ui", actor="alice", kind="record", run_kind="record")  # the web UI's form
    case("ui journal entry", form, JOURNAL, True)
    case("ui unrecorded effects", form, None, True)
    case("ui already two", form, REFUND, False, required=2)
    workflow = old.item(via="workflow:w1", actor="workflow:w1", kind="event", run_kind="workflow")
    case("workflow refund", workflow, REFUND, False)
    # Before items were marked delivered (the gate now holds such a run's creator for every write)
    before_marks = old.item(via="api", actor="alice", run_input={"ticket": {"subject": "s"}})
    case("unmarked run, proposed then", before_marks, REFUND, True)
    case("unmarked run, held against alice", before_marks, REFUND, False, requested_by="alice")
    # Before receipts named the channel: `source` was the channel
    keyed_by_channel = old.item(
        via="api", actor="alice", receipt={"item_id": "x", "external_id": "1", "source": "api"}
    )
    case("receipt without via", keyed_by_channel, REFUND, True)
    # A refund request is its creator's for every write: alice asked, and alice is held.
    request = old.item(
        via="api",
        actor="alice",
        kind="record",
        run_kind="record",
        run_input={"record": {"kind": "refund", "amount": "10.00"}, "delivered": False},
    )
    case("refund request", request, REFUND, False, requested_by="alice")
    # Written by the new code: the poster is named and held.
    new = old.item(
        via="api", actor="alice", run_input={"ticket": {}, "delivered": True, "posted_by": "alice"}
    )
    case("posted_by", new, REFUND, False, requested_by="alice")
    named_mcp = old.mcp(created_by="mcp-client", role="operator")  # a person whose token is named so
    case("mcp by its token's owner", named_mcp, TAGS, False, requested_by="mcp-client")

    db.upgrade()

    assert {name: raised(db, action_id) for name, (action_id, _) in cases.items()} == {
        name: want for name, (_, want) in cases.items()
    }
    marked = {
        run_id: run_input(db, run_id).get(REQUESTER_UNKNOWN) for run_id in (via_file, form, before_marks)
    }
    assert set(marked.values()) == {"poster"}
    for run_id in (pulled, workflow, request, new, named_mcp):
        assert REQUESTER_UNKNOWN not in run_input(db, run_id)
    assert audit_service.verify(db).ok

    # Again, from before 0013 (its downgrade keeps what it did): nothing more, and nothing twice.
    command.downgrade(alembic_config(db.url), "0012")
    db.upgrade()
    assert {name: raised(db, action_id) for name, (action_id, _) in cases.items()} == {
        name: want for name, (_, want) in cases.items()
    }


async def pipeline(ctx: RunContext) -> dict[str, Any]:
    final = await ctx.agent_loop(
        "loop", ModelRequest(system="", messages=[Message(role="user", content="go")]), list(ctx.catalogue)
    )
    return {"answer": final.content}


async def _write(args: dict[str, Any], key: str | None) -> Any:
    return {"ok": True}


CATALOGUE = Catalogue(
    [
        Tool(
            "pay__create_refund",
            "pay",
            "create_refund",
            "",
            {
                "type": "object",
                "properties": {"charge_id": {"type": "string"}, "amount": {"type": "integer"}},
            },
            "write",
            "key",
            _write,
            Effects(money=Money(amount="amount", currency=None, source="charge_id")),
        ),
        Tool(
            "pay__reply",
            "pay",
            "reply",
            "",
            {"type": "object", "properties": {"body": {"type": "string"}}},
            "write",
            "key",
            _write,
            Effects(message=Said("public", ("body",))),
        ),
    ]
)


async def test_an_old_run_not_yet_at_the_gate_proposes_under_the_same_rule(old: Old) -> None:
    """A ticket posted by hand and queued before the upgrade: its refund, proposed afterwards,
    needs two approvers, and so does one from a second triage of the same item."""
    queued = old.item(via="api", actor="alice", run_kind="t", status="queued")
    old.db.upgrade()
    db = old.db
    turn = ModelResponse(
        tool_calls=[
            ToolCall(id="c1", name="pay__create_refund", arguments={"charge_id": "ch_1", "amount": 500}),
            ToolCall(id="c2", name="pay__reply", arguments={"body": "Refunded."}),
        ],
        stop_reason="tool_use",
    )
    model = ScriptedModel([turn], fallback=text("done"))
    orch = Orchestrator(SqlRunStore(db), model, lambda: CATALOGUE, lambda: Policy(), {"t": pipeline})
    await orch.drain("w")
    proposed = {a["tool"]: a for a in approvals.list_actions(db) if a["run_id"] == queued}
    assert proposed["pay__create_refund"]["required_approvals"] == 2
    assert proposed["pay__create_refund"]["reasons"][-1] == UNKNOWN_REQUESTER
    assert proposed["pay__reply"]["required_approvals"] == 1

    with db.read() as s:
        item = s.get(Item, s.get(Run, queued).item_id)  # type: ignore[union-attr]
        assert item is not None
    again, created = intake.submit(
        db,
        kind="ticket",
        run_kind="t",
        payload=dict(item.payload),
        source="api",
        actor="carol",
        again=True,
    )
    assert created and run_input(db, again)[REQUESTER_UNKNOWN] == "poster"
