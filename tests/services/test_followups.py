"""One approval for a new ticket and its reply: the reply a person saw is approved in their
name once the ticket exists; a different text, or no such approval, waits in the queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.llm.base import ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, output, text
from app.services import approvals, followups, intake
from app.services.auth import Principal
from app.services.views import run_view
from tests.support.app import container

APPROVER = Principal("pat", "approver")
REPLY = "Hello,\n\nYour parcel is on its way.\n"
TICKET = {
    "subject": "Where is my parcel?",
    "body": "Order 4417 has not arrived.",
    "requester_email": "bo@example.com",
}


def script(reply_sent: str) -> list[Any]:
    """Classify, draft REPLY, create the ticket, then reply on it with `reply_sent`."""

    def reply_on_created(request: ModelRequest) -> ModelResponse:
        created = json.loads(request.messages[-1].content.split(">", 1)[1].rsplit("<", 1)[0])
        ticket_id = created["ticket"]["id"]
        return ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c2",
                    name="helpdesk__add_comment",
                    arguments={"ticket_id": ticket_id, "body": reply_sent, "public": True},
                )
            ],
            stop_reason="tool_use",
        )

    return [
        output(
            {
                "category": "shipping",
                "priority": "normal",
                "sentiment": "neutral",
                "language": "en",
                "confidence": 0.93,
                "rationale": "asks where an order is",
            }
        ),
        output({"body": REPLY, "sources": [], "grounded": False}),
        ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c1",
                    name="helpdesk__create_ticket",
                    arguments={**TICKET, "priority": "normal", "tags": ["shipping"]},
                )
            ],
            stop_reason="tool_use",
        ),
        reply_on_created,
        text("Created the ticket and replied."),
    ]


async def _create_approved(db_url: str, tmp_path: Path, reply_sent: str, *, ahead: bool) -> tuple[Any, str]:
    c = container(db_url, tmp_path, ScriptedModel(script(reply_sent)))
    run_id = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=TICKET, source="api", actor="api-client"
    )[0]
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    [create] = view["actions"]
    assert create["operation"] == "create_ticket" and create["status"] == "pending"
    from app.services.dashboard import origins

    assert origins(c.db, {run_id})[run_id]["reply"] == REPLY  # what the card shows under the ticket
    approvals.approve(c.db, create["id"], APPROVER, c.pool.catalogue)
    if ahead:
        followups.approve_ahead(c.db, create["id"], APPROVER, REPLY)
    await c.orchestrator.drain("w")
    return c, run_id


async def test_the_reply_seen_with_the_ticket_is_posted_without_a_second_approval(
    db_url: str, tmp_path: Path
) -> None:
    c, run_id = await _create_approved(db_url, tmp_path, REPLY, ahead=True)
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    by_op = {a["operation"]: a for a in view["actions"]}
    assert by_op["add_comment"]["status"] == "succeeded" and by_op["add_comment"]["decided_by"] == "pat"
    await c.pool.aclose()


@pytest.mark.parametrize("ahead", [True, False])
async def test_anything_else_waits_for_a_person(db_url: str, tmp_path: Path, ahead: bool) -> None:
    sent = "A different text than the one approved." if ahead else REPLY
    c, run_id = await _create_approved(db_url, tmp_path, sent, ahead=ahead)
    view = run_view(c.db, run_id)
    assert view["status"] == "waiting_approval"
    reply = next(a for a in view["actions"] if a["operation"] == "add_comment")
    assert reply["status"] == "pending"
    await c.pool.aclose()


@pytest.fixture
def looked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runs the follow-up read the store for."""
    runs: list[str] = []
    call = followups.ReplyFollowUp.__call__

    def counted(self: followups.ReplyFollowUp, run_id: str) -> int:
        runs.append(run_id)
        return call(self, run_id)

    monkeypatch.setattr(followups.ReplyFollowUp, "__call__", counted)
    return runs


async def test_a_run_that_created_no_ticket_parks_without_a_follow_up_read(
    db_url: str, tmp_path: Path, looked: list[str]
) -> None:
    """The hook is told the run's actions: with no ticket creation among them it reads nothing."""
    plain = [
        *script(REPLY)[:2],
        ModelResponse(
            tool_calls=[
                ToolCall(id="c1", name="helpdesk__add_comment", arguments={"ticket_id": 1, "body": REPLY})
            ],
            stop_reason="tool_use",
        ),
    ]
    c = container(db_url, tmp_path, ScriptedModel(plain))
    run_id = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload={**TICKET, "external_id": 1}, source="api", actor="a"
    )[0]
    await c.orchestrator.drain("w")
    assert run_view(c.db, run_id)["status"] == "waiting_approval" and looked == []
    await c.pool.aclose()


async def test_a_run_that_created_a_ticket_is_followed_up(
    db_url: str, tmp_path: Path, looked: list[str]
) -> None:
    c, run_id = await _create_approved(db_url, tmp_path, REPLY, ahead=True)
    assert run_id in looked and run_view(c.db, run_id)["status"] == "succeeded"
    await c.pool.aclose()


def _created(c: Any, run_id: str) -> str:
    [create] = [a for a in run_view(c.db, run_id)["actions"] if a["operation"] == "create_ticket"]
    ticket_id = followups._created_id(create["result"])
    assert ticket_id is not None
    return str(ticket_id)


@pytest.mark.parametrize("ahead", [True, False])
async def test_the_created_ticket_is_the_same_item(db_url: str, tmp_path: Path, ahead: bool) -> None:
    """Once the help desk made the ticket, its id keys the item: a later pull of it
    (`switchboard triage --source helpdesk`), a webhook or a post of that id gets this run."""
    c, run_id = await _create_approved(db_url, tmp_path, REPLY, ahead=ahead)
    ticket_id = _created(c, run_id)
    assert intake.existing_run(c.db, "ticket", "helpdesk", ticket_id) == run_id
    pulled = {**TICKET, "external_id": int(ticket_id)}
    for via in ("helpdesk", "api"):
        assert intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=pulled, source=via, actor="cli"
        ) == (run_id, False)
    await c.pool.aclose()


async def test_a_run_that_ends_after_creating_the_ticket_keys_its_item(db_url: str, tmp_path: Path) -> None:
    """No reply to park on after the creation: the item learns the id when the run ends."""
    ends = [*script(REPLY)[:3], text("Created the ticket.")]
    c = container(db_url, tmp_path, ScriptedModel(ends))
    run_id = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=TICKET, source="api", actor="api-client"
    )[0]
    await c.orchestrator.drain("w")
    [create] = run_view(c.db, run_id)["actions"]
    approvals.approve(c.db, create["id"], APPROVER, c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, run_id)["status"] == "succeeded"
    assert intake.existing_run(c.db, "ticket", "helpdesk", _created(c, run_id)) == run_id
    await c.pool.aclose()
