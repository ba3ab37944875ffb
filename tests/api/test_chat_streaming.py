"""A chat answer streams as `delta` events before its `message`; the record is what it was without streaming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.agent.orchestrator import worker_id
from app.api.app import create_app
from app.llm.base import ModelRequest, ModelResponse
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import chat as chat_service
from app.services.auth import Principal, create_token
from app.services.events import run_events
from app.store.tables import Step
from tests.api.test_chat import Chat, parse_sse
from tests.support.app import container

QUESTION = "What is the status of ticket 3?"
ANSWER = "Ticket 3 is open and waiting on the customer since Monday."


def script() -> list[ModelResponse]:
    """A read, then a prose answer (fixed call id, so two runs record identical steps)."""
    return [tool_use("helpdesk__get_ticket", {"ticket_id": 3}, call_id="call_t3"), text(ANSWER)]


class CompleteOnly:
    """A model without `stream`: chat must still answer, just without deltas."""

    def __init__(self, inner: ScriptedModel) -> None:
        self.inner = inner
        self.name = inner.name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.complete(request)


async def make_chat(db_url: str, tmp_path: Path, model: Any) -> AsyncIterator[Chat]:
    c = container(db_url, tmp_path, model)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Chat(c, client, model)
    await c.pool.aclose()


@pytest.fixture
async def chat(db_url: str, tmp_path: Path) -> AsyncIterator[Chat]:
    async for chat in make_chat(db_url, tmp_path, ScriptedModel()):
        yield chat


def recorded(chat: Chat, run_id: str) -> list[dict[str, Any]]:
    """A run's steps as the record keeps them, minus what differs by nature (ids, times, latency)."""
    with chat.c.db.session() as s:
        steps = s.scalars(select(Step).where(Step.run_id == run_id).order_by(Step.seq)).all()
        return [
            {
                "seq": st.seq,
                "kind": st.kind,
                "name": st.name,
                "data": st.data,
                "prompt_version": st.prompt_version,
                "model": st.model,
                "input_tokens": st.input_tokens,
                "output_tokens": st.output_tokens,
                "cost_usd": st.cost_usd,
            }
            for st in steps
        ]


async def test_the_answer_streams_as_deltas_before_the_message(chat: Chat) -> None:
    chat.model.extend(script())
    events = await chat.say(QUESTION)
    kinds = [e for e, _ in events]

    deltas = [i for i, (e, _) in enumerate(events) if e == "delta"]
    message = kinds.index("message")
    assert len(deltas) >= 2
    assert max(deltas) < message  # every piece of text comes before the whole
    assert "".join(events[i][1]["text"] for i in deltas) == events[message][1]["text"] == ANSWER
    # everything a client that ignores deltas relies on is still there
    assert kinds[0] == "conversation" and kinds[-1] == "done" and events[-1][1]["status"] == "succeeded"
    assert [d["data"]["tool"] for e, d in events if e == "step" and d["kind"] == "tool_call"] == [
        "helpdesk__get_ticket"
    ]
    run_id = events[0][1]["run_id"]
    assert not chat.c.deltas.watched(run_id)  # the subscription ended with the turn


async def test_the_recorded_steps_are_the_same_as_without_streaming(chat: Chat) -> None:
    chat.model.extend(script())
    events = await chat.say(QUESTION)
    assert any(e == "delta" for e, _ in events)  # this turn really streamed
    streamed_run = events[0][1]["run_id"]

    # The same question, advanced the way a worker does it: no one watching, no deltas.
    chat.model.extend(script())
    who = Principal(name="operator-person", role="operator")
    plain_run, _ = chat_service.start_turn(chat.c.db, QUESTION, None, who)
    assert await chat.c.orchestrator.advance_now(plain_run, worker_id()) == "succeeded"

    streamed, plain = recorded(chat, streamed_run), recorded(chat, plain_run)
    assert [s["kind"] for s in streamed] == ["note", "model_call", "tool_call", "model_call"]
    assert streamed == plain
    assert streamed[-1]["data"]["response"]["content"] == ANSWER


async def test_text_queued_before_its_step_committed_still_comes_first(chat: Chat) -> None:
    """A reader busy while the model streamed and the step committed must not let `message` overtake."""
    chat.model.extend(script())
    who = Principal(name="operator-person", role="operator")
    run_id, _ = chat_service.start_turn(chat.c.db, QUESTION, None, who)
    queue = chat.c.deltas.subscribe(run_id)
    await chat.c.orchestrator.advance_now(
        run_id, worker_id(), on_delta=lambda piece: chat.c.deltas.publish(run_id, piece)
    )
    assert queue.qsize() >= 2  # all the text is waiting, and so is the committed answer

    events = parse_sse("".join([chunk async for chunk in run_events(chat.c.db, run_id, deltas=queue)]))
    kinds = [e for e, _ in events]
    assert kinds.index("message") > max(i for i, k in enumerate(kinds) if k == "delta")
    assert "".join(d["text"] for e, d in events if e == "delta") == ANSWER
    assert kinds[-1] == "done"


async def test_a_model_that_cannot_stream_still_answers(db_url: str, tmp_path: Path) -> None:
    async for chat in make_chat(db_url, tmp_path, CompleteOnly(ScriptedModel(script()))):
        events = await chat.say(QUESTION)
        assert [e for e, _ in events if e == "delta"] == []
        assert ("message", {"text": ANSWER}) in events
        assert events[-1][0] == "done" and events[-1][1]["status"] == "succeeded"


async def test_concurrent_turns_each_stream_their_own_text(db_url: str, tmp_path: Path) -> None:
    def answer(request: ModelRequest) -> ModelResponse:
        return text(f"Here is the answer to {request.messages[-1].content}, in several words.")

    async for chat in make_chat(db_url, tmp_path, ScriptedModel(fallback=answer)):
        await ask_at_once(chat)


async def ask_at_once(chat: Chat) -> None:
    token = create_token(chat.c.db, "operator-person", "operator")[1]
    headers = {"Authorization": f"Bearer {token}"}
    questions = ("question one", "question two", "question three")
    responses = await asyncio.gather(
        *(chat.client.post("/api/v1/chat", json={"message": q}, headers=headers) for q in questions)
    )
    for question, response in zip(questions, responses, strict=True):
        events = parse_sse(response.text)
        streamed = [d["text"] for e, d in events if e == "delta"]
        assert len(streamed) >= 2
        assert "".join(streamed) == f"Here is the answer to {question}, in several words."
