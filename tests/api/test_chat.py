"""Chat turns as server-sent events: tools, approvals, history within a token budget."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.llm.scripted import ScriptedModel, text, tool_use
from app.main import Container
from app.services.auth import create_token
from app.services.chat import fit_history
from tests.support.app import container


def parse_sse(body: str) -> list[tuple[str, Any]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


class Chat:
    def __init__(self, c: Container, client: httpx.AsyncClient, model: ScriptedModel):
        self.c, self.client, self.model = c, client, model

    async def say(
        self, message: str, role: str = "operator", conversation_id: str | None = None
    ) -> list[tuple[str, Any]]:
        token = create_token(self.c.db, f"{role}-person", role)[1]
        body: dict[str, Any] = {"message": message}
        if conversation_id:
            body["conversation_id"] = conversation_id
        r = await self.client.post("/api/v1/chat", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        return parse_sse(r.text)


@pytest.fixture
async def chat(db_url: str, tmp_path: Path) -> AsyncIterator[Chat]:
    model = ScriptedModel()
    c = container(db_url, tmp_path, model)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Chat(c, client, model)
    await c.pool.aclose()


async def test_a_turn_streams_tool_calls_and_the_answer(chat: Chat) -> None:
    chat.model.extend([tool_use("helpdesk__get_ticket", {"ticket_id": 3}), text("Ticket 3 is open.")])
    events = await chat.say("What is the status of ticket 3?")
    kinds = [e for e, _ in events]
    assert kinds[0] == "conversation"
    assert kinds[-1] == "done" and events[-1][1]["status"] == "succeeded"
    tool_steps = [d for e, d in events if e == "step" and d["kind"] == "tool_call"]
    assert tool_steps[0]["data"]["tool"] == "helpdesk__get_ticket"
    assert '"id": 3' in tool_steps[0]["data"]["result"] or '"id":3' in tool_steps[0]["data"]["result"]
    assert ("message", {"text": "Ticket 3 is open."}) in events


async def test_viewers_are_offered_read_tools_only(chat: Chat) -> None:
    chat.model.extend([text("hi"), text("hi")])
    await chat.say("add a comment to ticket 3", role="viewer")
    offered = {t.name for t in chat.model.requests[-1].tools}
    assert "helpdesk__get_ticket" in offered and "helpdesk__add_comment" not in offered
    await chat.say("add a comment to ticket 3", role="operator")
    assert "helpdesk__add_comment" in {t.name for t in chat.model.requests[-1].tools}


async def test_a_write_in_chat_waits_as_an_approval_card(chat: Chat) -> None:
    chat.model.extend(
        [tool_use("helpdesk__add_comment", {"ticket_id": 3, "body": "We are on it.", "public": True})]
    )
    events = await chat.say("Tell the customer on ticket 3 we are on it")
    approvals = [d for e, d in events if e == "approval"]
    assert (
        len(approvals) == 1
        and approvals[0]["status"] == "pending"
        and approvals[0]["tool"] == "helpdesk__add_comment"
    )
    assert events[-1] == (
        "done",
        {"status": "waiting_approval", "run_id": approvals[0]["run_id"], "result": None},
    )


async def test_conversation_history_is_replayed(chat: Chat) -> None:
    chat.model.extend([text("It is sunny in the docs."), text("Still sunny.")])
    first = await chat.say("How is the weather in the docs?")
    conv = first[0][1]["conversation_id"]
    await chat.say("And now?", conversation_id=conv)
    seen = chat.model.requests[-1].messages
    assert [m.content for m in seen[:2]] == ["How is the weather in the docs?", "It is sunny in the docs."]
    r = await chat.client.get(
        f"/api/v1/conversations/{conv}",
        headers={"Authorization": f"Bearer {create_token(chat.c.db, 'operator-person', 'operator')[1]}"},
    )
    assert [t["answer"] for t in r.json()["turns"]] == ["It is sunny in the docs.", "Still sunny."]


async def test_someone_elses_conversation_is_not_found(chat: Chat) -> None:
    chat.model.extend([text("ok")])
    first = await chat.say("hi", role="operator")
    token = create_token(chat.c.db, "intruder", "admin")[1]
    r = await chat.client.post(
        "/api/v1/chat",
        json={"message": "x", "conversation_id": first[0][1]["conversation_id"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 404


def test_history_keeps_newest_turns_within_budget() -> None:
    turns = [(f"question {i} " + "word " * 200, f"answer {i} " + "word " * 200) for i in range(10)]
    messages, summarized = fit_history(turns, budget=1000)
    assert summarized > 0
    assert messages[0].content.startswith("Summary of")
    assert messages[-1].content.startswith("answer 9")  # the newest turn is whole
    from app.llm.tokens import count_tokens

    assert sum(count_tokens(m.content) for m in messages) < 1400
    whole, none_summarized = fit_history(turns[:1], budget=10_000)
    assert none_summarized == 0 and [m.role for m in whole] == ["user", "assistant"]


async def test_whoever_asked_in_chat_cannot_approve_it(chat: Chat) -> None:
    chat.model.extend(
        [tool_use("helpdesk__add_comment", {"ticket_id": 3, "body": "Refund sent.", "public": True})]
    )
    token = create_token(chat.c.db, "lee", "approver")[1]
    r = await chat.client.post(
        "/api/v1/chat",
        json={"message": "tell ticket 3 the refund is sent"},
        headers={"Authorization": f"Bearer {token}"},
    )
    action = next(d for e, d in parse_sse(r.text) if e == "approval")
    own = await chat.client.post(
        f"/api/v1/approvals/{action['id']}/approve", headers={"Authorization": f"Bearer {token}"}
    )
    assert own.status_code == 403 and "four eyes" in own.json()["error"]
    other = create_token(chat.c.db, "kim", "approver")[1]
    ok = await chat.client.post(
        f"/api/v1/approvals/{action['id']}/approve", headers={"Authorization": f"Bearer {other}"}
    )
    assert ok.status_code == 200
