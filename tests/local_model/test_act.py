"""triage/act: the tool calls proposed for each situation, and the summaries that end the loop."""

from __future__ import annotations

import json
from typing import Any

from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall, ToolSpec
from app.llm.local import LocalModel

from .conftest import TOOLS

CLASSIFICATION = {
    "category": "refund",
    "priority": "high",
    "sentiment": "negative",
    "language": "en",
    "confidence": 0.91,
    "rationale": "refund (91%); words: 'refund'",
    "needs_review": False,
}
REPLY = "Hi Jane,\n\nYour refund is on its way.\n"
DRAFT = {"body": REPLY, "sources": [], "grounded": True}
TICKET = {
    "subject": "Refund please",
    "body": "I want my money back.",
    "requester_email": "jane@example.com",
    "external_id": 42,
}


def _request(
    messages: list[Message] | None = None,
    tools: list[ToolSpec] | None = None,
    **overrides: Any,
) -> ModelRequest:
    variables: dict[str, Any] = {
        "ticket": TICKET,
        "classification": CLASSIFICATION,
        "draft": DRAFT,
        "connection": "helpdesk",
        **overrides,
    }
    return ModelRequest(
        system="act",
        messages=messages or [Message(role="user", content="Act on the ticket.")],
        tools=list(TOOLS.values()) if tools is None else tools,
        prompt="triage/act@v1",
        variables=variables,
    )


def _after(first: ModelResponse, results: list[str], *, errors: bool = False) -> list[Message]:
    """The conversation after the first step: the assistant's calls and one result per call."""
    messages = [
        Message(role="user", content="Act on the ticket."),
        Message(role="assistant", content=first.content, tool_calls=first.tool_calls),
    ]
    for call, content in zip(first.tool_calls, results, strict=True):
        messages.append(Message(role="tool", tool_call_id=call.id, content=content, is_error=errors))
    return messages


def _by_op(calls: list[ToolCall]) -> dict[str, dict[str, Any]]:
    return {c.name.split("__")[1]: c.arguments for c in calls}


async def test_existing_ticket_gets_reply_and_update(model: LocalModel) -> None:
    response = await model.complete(_request())
    assert response.stop_reason == "tool_use"
    assert [c.id for c in response.tool_calls] == ["local_1", "local_2"]
    calls = _by_op(response.tool_calls)
    assert calls["add_comment"] == {"ticket_id": 42, "body": DRAFT["body"], "public": True}
    assert calls["update_ticket"] == {
        "ticket_id": 42,
        "priority": "high",
        "add_tags": ["refund", "switchboard"],
    }
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


async def test_results_end_the_turn_with_a_summary(model: LocalModel) -> None:
    first = await model.complete(_request())
    done = await model.complete(_request(_after(first, ['{"ok": true}', '{"ticket": {"id": 42}}'])))
    assert done.stop_reason == "end_turn" and not done.tool_calls
    assert "public reply on ticket #42" in done.content and "priority high" in done.content


async def test_needs_review_becomes_an_internal_note(model: LocalModel) -> None:
    review = {**CLASSIFICATION, "needs_review": True, "confidence": 0.31}
    response = await model.complete(_request(classification=review))
    calls = _by_op(response.tool_calls)
    note = calls["add_comment"]
    assert note["public"] is False and note["ticket_id"] == 42
    assert "31%" in note["body"] and "review" in note["body"] and REPLY.strip() in note["body"]
    assert calls["update_ticket"] == {"ticket_id": 42, "add_tags": ["needs_review"]}


async def test_new_ticket_is_created_then_answered(model: LocalModel) -> None:
    ticket = {**TICKET, "external_id": None}
    first = await model.complete(_request(ticket=ticket))
    assert len(first.tool_calls) == 1
    create = first.tool_calls[0]
    assert create.name == "helpdesk__create_ticket" and create.id == "local_1"
    assert create.arguments == {
        "subject": "Refund please",
        "body": "I want my money back.",
        "requester_email": "jane@example.com",
        "priority": "high",
        "tags": ["refund", "switchboard"],
    }
    second = await model.complete(
        _request(_after(first, [json.dumps({"ticket": {"id": 77}})]), ticket=ticket)
    )
    assert second.stop_reason == "tool_use"
    assert [(c.id, c.name) for c in second.tool_calls] == [("local_2", "helpdesk__add_comment")]
    assert second.tool_calls[0].arguments == {"ticket_id": 77, "body": DRAFT["body"], "public": True}
    # ... and once the reply's result is in, the loop ends.
    messages = [
        *_after(first, [json.dumps({"ticket": {"id": 77}})]),
        Message(role="assistant", tool_calls=second.tool_calls),
        Message(role="tool", tool_call_id="local_2", content='{"id": 5}'),
    ]
    third = await model.complete(_request(messages, ticket=ticket))
    assert third.stop_reason == "end_turn" and "create the ticket" in third.content
    assert "ticket #77" in third.content


async def test_created_id_at_top_level_is_understood(model: LocalModel) -> None:
    ticket = {**TICKET, "external_id": None}
    first = await model.complete(_request(ticket=ticket))
    second = await model.complete(_request(_after(first, ['{"id": 9, "status": "new"}']), ticket=ticket))
    assert second.tool_calls[0].arguments["ticket_id"] == 9
    edited = json.dumps({"edited_by_approver": True, "arguments": {}, "result": {"ticket": {"id": 11}}})
    second = await model.complete(_request(_after(first, [edited]), ticket=ticket))
    assert second.tool_calls[0].arguments["ticket_id"] == 11


async def test_new_ticket_needing_review_is_tagged_and_noted(model: LocalModel) -> None:
    ticket = {**TICKET, "external_id": None}
    review = {**CLASSIFICATION, "needs_review": True, "confidence": 0.2}
    first = await model.complete(_request(ticket=ticket, classification=review))
    assert first.tool_calls[0].arguments["tags"] == ["refund", "switchboard", "needs_review"]
    second = await model.complete(
        _request(_after(first, ['{"ticket": {"id": 5}}']), ticket=ticket, classification=review)
    )
    assert second.tool_calls[0].arguments["public"] is False


async def test_rejection_is_not_reproposed(model: LocalModel) -> None:
    first = await model.complete(_request())
    results = ["Rejected by alice: the customer already got an answer by phone", '{"ticket": {"id": 42}}']
    done = await model.complete(_request(_after(first, results)))
    assert done.stop_reason == "end_turn" and not done.tool_calls
    assert "post the public reply on ticket #42" in done.content
    assert "the customer already got an answer by phone" in done.content
    assert "update ticket #42" in done.content  # what did happen is reported too


async def test_a_reply_rejected_for_its_tone_is_redrafted_once(model: LocalModel) -> None:
    first = await model.complete(_request())
    reply = first.tool_calls[0]
    assert reply.name.endswith("add_comment")
    results = ["Rejected by alice: wrong tone, too casual for this customer", '{"ticket": {"id": 42}}']
    history = _after(first, results)
    again = await model.complete(_request(history))
    [redrafted] = again.tool_calls
    assert redrafted.name == reply.name and redrafted.id not in {c.id for c in first.tool_calls}
    assert redrafted.arguments["ticket_id"] == 42 and redrafted.arguments["public"] is True
    new_body = redrafted.arguments["body"]
    assert new_body != reply.arguments["body"]
    assert "We're" not in new_body and "!" not in new_body  # formal: no contractions, no exclamations
    assert new_body.startswith("Dear ")

    # the redraft rejected as well: that no stands, nothing else is proposed
    history += [
        Message(role="assistant", content=again.content, tool_calls=again.tool_calls),
        Message(
            role="tool",
            tool_call_id=redrafted.id,
            content="Rejected by alice: still the wrong tone",
            is_error=True,
        ),
    ]
    done = await model.complete(_request(history))
    assert done.stop_reason == "end_turn" and not done.tool_calls
    assert "still the wrong tone" in done.content


async def test_rejected_creation_ends_the_turn(model: LocalModel) -> None:
    ticket = {**TICKET, "external_id": None}
    first = await model.complete(_request(ticket=ticket))
    done = await model.complete(
        _request(_after(first, ["Rejected by bob. Reason: duplicate of #12"]), ticket=ticket)
    )
    assert done.stop_reason == "end_turn" and not done.tool_calls
    assert "create the ticket" in done.content and "duplicate of #12" in done.content


async def test_expired_approval_ends_the_turn(model: LocalModel) -> None:
    ticket = {**TICKET, "external_id": None}
    first = await model.complete(_request(ticket=ticket))
    expired = "Not done: the approval expired without a decision."
    done = await model.complete(_request(_after(first, [expired], errors=True), ticket=ticket))
    assert done.stop_reason == "end_turn" and "expired" in done.content


async def test_tool_errors_are_reported_not_retried(model: LocalModel) -> None:
    first = await model.complete(_request())
    done = await model.complete(_request(_after(first, ["HTTP 500 from help desk", "HTTP 500"], errors=True)))
    assert done.stop_reason == "end_turn" and "could not" in done.content


async def test_only_available_tools_are_proposed(model: LocalModel) -> None:
    response = await model.complete(_request(tools=[TOOLS["add_comment"]]))
    assert [c.name for c in response.tool_calls] == ["helpdesk__add_comment"]
    nothing = await model.complete(_request(tools=[TOOLS["get_ticket"]]))
    assert nothing.stop_reason == "end_turn" and not nothing.tool_calls
    assert "no add_comment/update_ticket tool" in nothing.content


async def test_arguments_fit_the_tool_schema(model: LocalModel) -> None:
    narrow = ToolSpec(
        name="helpdesk__update_ticket",
        description="update",
        input_schema={
            "type": "object",
            "properties": {"ticket_id": {"type": "integer"}, "tags": {"type": "array"}},
        },
    )
    response = await model.complete(_request(tools=[narrow]))
    assert response.tool_calls[0].arguments == {"ticket_id": 42}


async def test_other_connection_name(model: LocalModel) -> None:
    tools = [ToolSpec(name="zendesk__add_comment", description="", input_schema={"type": "object"})]
    response = await model.complete(_request(tools=tools, connection="zendesk"))
    assert [c.name for c in response.tool_calls] == ["zendesk__add_comment"]
