"""chat: deterministic tool use and summaries; unknown prompts are answered, not crashed on."""

from __future__ import annotations

import json

from app.llm.base import Message, ModelRequest, ModelResponse, ToolSpec
from app.llm.local import LocalModel

from .conftest import TOOLS


def _request(
    message: str, history: list[Message] | None = None, tools: list[ToolSpec] | None = None
) -> ModelRequest:
    return ModelRequest(
        system="chat",
        messages=[*(history or []), Message(role="user", content=message)] if history is None else history,
        tools=list(TOOLS.values()) if tools is None else tools,
        prompt="chat@v1",
        variables={"message": message},
    )


def _then(message: str, first: ModelResponse, result: object, *, is_error: bool = False) -> list[Message]:
    content = result if isinstance(result, str) else json.dumps(result)
    return [
        Message(role="user", content=message),
        Message(role="assistant", tool_calls=first.tool_calls),
        Message(role="tool", tool_call_id=first.tool_calls[0].id, content=content, is_error=is_error),
    ]


async def test_ticket_lookup_then_summary(model: LocalModel) -> None:
    message = "What's going on with ticket #12?"
    first = await model.complete(_request(message))
    assert first.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("helpdesk__get_ticket", {"ticket_id": 12})]
    result = {
        "ticket": {"id": 12, "subject": "Printer on fire", "status": "open", "priority": "urgent"},
        "comments": [{"body": "First note"}, {"body": "We sent a technician."}],
    }
    answer = await model.complete(_request(message, _then(message, first, result)))
    assert answer.stop_reason == "end_turn"
    for part in ("#12", "Printer on fire", "open", "urgent", "We sent a technician."):
        assert part in answer.content
    assert answer.usage.output_tokens > 0


async def test_ticket_number_phrasings(model: LocalModel) -> None:
    for message, number in (
        ("show ticket 7", 7),
        ("status of case no. 301", 301),
        ("look at #55 please", 55),
    ):
        first = await model.complete(_request(message))
        assert first.tool_calls[0].arguments == {"ticket_id": number}, message


async def test_search_tickets(model: LocalModel) -> None:
    message = "Find tickets about refunds for damaged blenders"
    first = await model.complete(_request(message))
    call = first.tool_calls[0]
    assert call.name == "helpdesk__search_tickets"
    assert call.arguments == {"query": "refunds damaged blenders"}
    result = {
        "results": [{"id": 3, "subject": "Blender broken", "status": "open"}, {"id": 4, "subject": "Refund?"}]
    }
    answer = await model.complete(_request(message, _then(message, first, result)))
    assert "2 tickets" in answer.content and "#3 Blender broken (open)" in answer.content


async def test_policy_question_answers_from_article(model: LocalModel) -> None:
    message = "What is the refund policy for damaged items?"
    first = await model.complete(_request(message))
    call = first.tool_calls[0]
    assert call.name == "helpdesk__search_articles" and "refund" in call.arguments["query"]
    result = {
        "results": [
            {
                "id": 101,
                "title": "Refund policy",
                "body": "<p>Damaged items are refunded in full within 30 days.</p><p>Gift cards are final sale.</p>",
                "html_url": "https://help.example.com/articles/101",
            }
        ]
    }
    answer = await model.complete(_request(message, _then(message, first, result)))
    assert "Refund policy" in answer.content
    assert "Damaged items are refunded in full within 30 days." in answer.content
    assert "https://help.example.com/articles/101" in answer.content


async def test_empty_results_and_errors(model: LocalModel) -> None:
    message = "search tickets about unicorns"
    first = await model.complete(_request(message))
    answer = await model.complete(_request(message, _then(message, first, {"results": []})))
    assert "no tickets" in answer.content
    message = "show ticket 999"
    first = await model.complete(_request(message))
    answer = await model.complete(
        _request(message, _then(message, first, "404 ticket not found", is_error=True))
    )
    assert "couldn't get ticket" in answer.content and "404" in answer.content


async def test_small_talk_gets_help_text(model: LocalModel) -> None:
    for small_talk in ("hello there", "hello?"):
        answer = await model.complete(_request(small_talk))
        assert not answer.tool_calls, small_talk
    assert answer.stop_reason == "end_turn" and not answer.tool_calls
    assert "look up a ticket" in answer.content


async def test_no_tools_means_no_tool_calls(model: LocalModel) -> None:
    answer = await model.complete(_request("show ticket 12", tools=[]))
    assert answer.stop_reason == "end_turn" and not answer.tool_calls


async def test_earlier_turns_do_not_confuse_the_new_one(model: LocalModel) -> None:
    old = "show ticket 1"
    first = await model.complete(_request(old))
    history = [
        *_then(old, first, {"ticket": {"id": 1, "subject": "Old"}}),
        Message(role="assistant", content="Ticket #1..."),
    ]
    message = "and ticket 2?"
    response = await model.complete(_request(message, [*history, Message(role="user", content=message)]))
    assert response.tool_calls[0].arguments == {"ticket_id": 2}
    assert response.tool_calls[0].id == "local_2"  # unique across the conversation


async def test_unknown_prompt_is_answered(model: LocalModel) -> None:
    for prompt in ("reports/monthly@v1", None, "something/else"):
        response = await model.complete(ModelRequest(system="x", messages=[], prompt=prompt))
        assert response.stop_reason == "end_turn"
        assert "triage" in response.content and "chat" in response.content
        assert response.usage.input_tokens > 0


async def test_workflow_draft_reads_the_sentence(model: LocalModel) -> None:
    connections = [
        {"name": "payments", "kind": "payments", "events": ["charge.dispute.created"], "tools": []},
        {
            "name": "helpdesk",
            "kind": "helpdesk",
            "events": ["ticket.created"],
            "tools": [{"name": "helpdesk__create_ticket"}],
            "defaults": {"create_ticket": {"requester_email": "ops@example.com"}},
        },
        {"name": "chat", "kind": "chat", "events": ["message"], "tools": [{"name": "chat__post_message"}]},
    ]
    request = "When a dispute opens in payments, open a ticket and post in #billing"
    response = await model.complete(
        ModelRequest(
            system="x",
            messages=[],
            prompt="workflow/draft@v1",
            variables={"request": request, "connections": connections},
        )
    )
    spec = response.output
    assert spec is not None and spec["trigger"] == {
        "connection": "payments",
        "event": "charge.dispute.created",
    }
    assert [s["tool"] for s in spec["steps"]] == ["helpdesk__create_ticket", "chat__post_message"]
    unknown = await model.complete(
        ModelRequest(
            system="x",
            messages=[],
            prompt="workflow/draft@v1",
            variables={"request": "water the plants", "connections": connections},
        )
    )
    assert (
        unknown.output is not None
        and unknown.output["steps"] == []
        and unknown.output["name"].startswith("Not understood")
    )


SEARCH = ToolSpec(
    name="search_tools",
    description="Find more tools by what they do.",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


async def test_a_tool_not_offered_is_searched_for_then_used(model: LocalModel) -> None:
    message = "What's going on with ticket #12?"
    few = [t for name, t in TOOLS.items() if name != "get_ticket"] + [SEARCH]
    first = await model.complete(_request(message, tools=few))
    assert [(c.name, c.arguments["query"]) for c in first.tool_calls] == [("search_tools", "get ticket")]
    found = {"tools": [{"name": "helpdesk__get_ticket", "description": "Fetch one ticket"}]}
    history = _then(message, first, found)
    second = await model.complete(_request(message, history, tools=[*few, TOOLS["get_ticket"]]))
    assert [(c.name, c.arguments) for c in second.tool_calls] == [("helpdesk__get_ticket", {"ticket_id": 12})]


async def test_a_search_that_finds_nothing_is_not_repeated(model: LocalModel) -> None:
    message = "What's going on with ticket #12?"
    few = [t for name, t in TOOLS.items() if name != "get_ticket"] + [SEARCH]
    first = await model.complete(_request(message, tools=few))
    again = await model.complete(_request(message, _then(message, first, {"tools": []}), tools=few))
    assert all(c.name != "search_tools" for c in again.tool_calls)


def test_every_shipped_prompt_has_a_handler(model: LocalModel) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "prompts"
    shipped = {str(p.parent.relative_to(root)) for p in root.rglob("v*.j2")}
    assert shipped and shipped == set(model.handlers())
