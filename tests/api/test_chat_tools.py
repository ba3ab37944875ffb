"""Chat offers a few tools per turn and finds more with search_tools; the role and the gate still hold."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services.auth import create_token
from app.services.chat import OFFERED_TOOLS
from tests.api.test_chat import Chat
from tests.support.app import container


@pytest.fixture
async def chat(db_url: str, tmp_path: Path) -> AsyncIterator[Chat]:
    model = ScriptedModel()
    c = container(db_url, tmp_path, model)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Chat(c, client, model)
    await c.pool.aclose()


def offered(chat: Chat, i: int = -1) -> set[str]:
    return {t.name for t in chat.model.requests[i].tools}


async def test_a_turn_offers_a_few_tools_and_search_finds_the_rest(chat: Chat) -> None:
    every = {t.name for t in chat.c.pool.catalogue()}
    assert len(every) > OFFERED_TOOLS  # else every tool is offered and nothing is chosen
    chat.model.extend([tool_use("search_tools", {"query": "add a comment to a ticket"}), text("Found it.")])
    events = await chat.say("What is our refund policy?")
    first, second = offered(chat, 0), offered(chat, 1)
    assert "search_tools" in first and len(first) <= OFFERED_TOOLS + 1
    assert "helpdesk__search_articles" in first and "helpdesk__add_comment" not in first
    assert "helpdesk__add_comment" in second and first < second
    noted = [d for e, d in events if e == "step" and d["name"] == "chat/tools/1"]
    assert noted and "helpdesk__add_comment" in noted[0]["data"]["tools"]
    found = next(d for e, d in events if e == "step" and d["kind"] == "tool_call")
    assert "helpdesk__add_comment" in found["data"]["result"]


async def test_a_viewer_searching_finds_no_write_tool(chat: Chat) -> None:
    chat.model.extend([tool_use("search_tools", {"query": "add comment update ticket create"}), text("ok")])
    events = await chat.say("change ticket 3", role="viewer")
    writes = {t.name for t in chat.c.pool.catalogue() if t.is_write}
    assert not (offered(chat, 0) | offered(chat, 1)) & writes
    found = next(d for e, d in events if e == "step" and d["kind"] == "tool_call")
    assert found["data"]["tool"] == "search_tools" and not any(w in found["data"]["result"] for w in writes)


async def test_a_found_write_still_waits_and_the_resumed_turn_offers_what_was_found(chat: Chat) -> None:
    chat.model.extend(
        [
            tool_use("search_tools", {"query": "add a comment to a ticket"}),
            tool_use("helpdesk__add_comment", {"ticket_id": 3, "body": "We are on it.", "public": True}),
            text("Posted."),
        ]
    )
    events = await chat.say("What is our refund policy?")
    assert events[-1][1]["status"] == "waiting_approval"
    action = next(d for e, d in events if e == "approval")
    kim = create_token(chat.c.db, "kim", "approver")[1]
    r = await chat.client.post(
        f"/api/v1/approvals/{action['id']}/approve", headers={"Authorization": f"Bearer {kim}"}
    )
    assert r.status_code == 200
    await chat.c.orchestrator.drain("w")
    # The resumed pass replays the search from its steps: the last call offers what it found.
    assert "helpdesk__add_comment" in offered(chat) and len(chat.model.requests) == 3
    admin = create_token(chat.c.db, "ada", "admin")[1]
    run = await chat.client.get(
        f"/api/v1/runs/{action['run_id']}", headers={"Authorization": f"Bearer {admin}"}
    )
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "succeeded"
    steps = [s["name"] for s in run.json()["steps"]]
    assert steps.count("chat/tools/1") == 1


async def test_search_results_are_data_the_model_reads(chat: Chat) -> None:
    chat.model.extend(
        [tool_use("search_tools", {"query": "knowledge base articles", "limit": 2}), text("ok")]
    )
    events = await chat.say("hello")
    result = next(d for e, d in events if e == "step" and d["kind"] == "tool_call")["data"]["result"]
    found = json.loads(result)["tools"]
    assert 1 <= len(found) <= 2 and found[0]["name"] == "helpdesk__search_articles"
