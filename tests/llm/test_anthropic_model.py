"""AnthropicModel driven through the real `anthropic` SDK against a loopback fake of the Messages API."""

from __future__ import annotations

import socket

import pytest

from app.llm.anthropic_model import RESPOND_TOOL, AnthropicModel
from app.llm.base import Message, ModelError, ModelRequest, ToolCall, ToolSpec, Usage
from app.llm.pricing import cost_usd
from tests.llm.vendor_servers import (
    FakeAnthropic,
    anthropic_error,
    anthropic_message,
    text_block,
    tool_use_block,
)

KEY = "sk-ant-test-0123456789abcdef"

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Fetch an order by id.",
    input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
REFUND = ToolSpec(
    name="refund",
    description="Propose a refund.",
    input_schema={"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]},
)


def make_model(url: str, *, max_retries: int = 3) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4-5", api_key=KEY, base_url=url, max_retries=max_retries, timeout=10)


def sent_key(headers: dict[str, str]) -> str | None:
    """The API key as the SDK presented it (x-api-key, or a bearer token in anthropic 2.x)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


async def test_tool_call_round_trip(fake_anthropic: FakeAnthropic, anthropic_url: str) -> None:
    fake_anthropic.enqueue(
        anthropic_message(
            tool_use_block("lookup_order", {"order_id": "A1"}, id="toolu_1"),
            tool_use_block("lookup_order", {"order_id": "B2"}, id="toolu_2"),
            stop_reason="tool_use",
        ),
        anthropic_message(text_block("Order A1 shipped; B2 was not found."), stop_reason="end_turn"),
    )
    model = make_model(anthropic_url)
    history = [Message(role="user", content="Where are orders A1 and B2?")]
    request = ModelRequest(system="You are a support agent.", messages=history, tools=[LOOKUP])

    first = await model.complete(request)

    assert first.stop_reason == "tool_use"
    assert first.content == ""
    assert first.tool_calls == [
        ToolCall(id="toolu_1", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="toolu_2", name="lookup_order", arguments={"order_id": "B2"}),
    ]

    history += [
        Message(role="assistant", content="", tool_calls=first.tool_calls),
        Message(role="tool", tool_call_id="toolu_1", content='{"status": "shipped"}'),
        Message(role="tool", tool_call_id="toolu_2", content="order not found", is_error=True),
    ]
    second = await model.complete(request.model_copy(update={"messages": history}))

    assert second.stop_reason == "end_turn"
    assert second.content == "Order A1 shipped; B2 was not found."
    assert second.tool_calls == []

    assert len(fake_anthropic.requests) == 2
    wire = fake_anthropic.requests[1]
    assert wire.path == "/v1/messages"
    assert sent_key(wire.headers) == KEY
    assert wire.headers.get("anthropic-version")
    body = wire.body
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == [
        {"type": "text", "text": "You are a support agent.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tools"] == [
        {"name": "lookup_order", "description": "Fetch an order by id.", "input_schema": LOOKUP.input_schema}
    ]
    assert "tool_choice" not in body
    assert "temperature" not in body  # anthropic 2.x has no such parameter
    assert body["messages"] == [
        {"role": "user", "content": "Where are orders A1 and B2?"},
        {
            "role": "assistant",
            # no empty text block: the API rejects those
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {"order_id": "A1"}},
                {"type": "tool_use", "id": "toolu_2", "name": "lookup_order", "input": {"order_id": "B2"}},
            ],
        },
        {
            # both results in one user turn, the failed one flagged
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"status": "shipped"}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "order not found",
                    "is_error": True,
                },
            ],
        },
    ]


async def test_text_alongside_tool_use_is_kept(fake_anthropic: FakeAnthropic, anthropic_url: str) -> None:
    fake_anthropic.enqueue(
        anthropic_message(
            text_block("Let me check."),
            tool_use_block("lookup_order", {"order_id": "A1"}),
            stop_reason="tool_use",
        )
    )
    response = await make_model(anthropic_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="A1?")], tools=[LOOKUP])
    )
    assert response.content == "Let me check."
    assert [c.name for c in response.tool_calls] == ["lookup_order"]
    assert response.stop_reason == "tool_use"


async def test_structured_output_uses_a_forced_respond_tool(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"category": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["category", "confidence"],
    }
    answer = {"category": "billing", "confidence": 0.92}
    fake_anthropic.enqueue(anthropic_message(tool_use_block(RESPOND_TOOL, answer), stop_reason="tool_use"))

    response = await make_model(anthropic_url).complete(
        ModelRequest(
            system="Classify the ticket.",
            messages=[Message(role="user", content="I was charged twice")],
            tools=[LOOKUP],
            output_schema=schema,
        )
    )

    assert response.output == answer
    assert response.tool_calls == []  # `respond` is the answer, not a call to execute
    assert response.stop_reason == "end_turn"
    body = fake_anthropic.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": RESPOND_TOOL}
    assert body["tools"][-1]["name"] == RESPOND_TOOL
    assert body["tools"][-1]["input_schema"] == schema
    assert [t["name"] for t in body["tools"]] == ["lookup_order", RESPOND_TOOL]


def test_a_tool_named_respond_clashes_with_structured_output() -> None:
    model = AnthropicModel("claude-x", api_key=KEY, base_url="http://127.0.0.1:9")
    clash = ToolSpec(name=RESPOND_TOOL, description="", input_schema={"type": "object"})
    request = ModelRequest(
        system="s",
        messages=[Message(role="user", content="x")],
        tools=[clash],
        output_schema={"type": "object"},
    )
    with pytest.raises(ValueError, match="respond"):
        model.build_params(request)


async def test_usage_including_prompt_cache_is_recorded(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    fake_anthropic.enqueue(
        anthropic_message(
            text_block("ok"),
            input_tokens=120,
            output_tokens=40,
            cache_read_input_tokens=2000,
            cache_creation_input_tokens=300,
            model="claude-sonnet-4-5-20250929",
        )
    )
    response = await make_model(anthropic_url).complete(
        ModelRequest(system="long system prompt", messages=[Message(role="user", content="hi")])
    )
    assert response.usage == Usage(
        input_tokens=120, output_tokens=40, cache_read_tokens=2000, cache_write_tokens=300
    )
    assert response.model == "anthropic:claude-sonnet-4-5-20250929"
    # $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    expected = (120 * 3 + 40 * 15 + 2000 * 0.30 + 300 * 3.75) / 1_000_000
    assert cost_usd(response.model, response.usage) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("end_turn", "end_turn"),
        ("stop_sequence", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("model_context_window_exceeded", "max_tokens"),
        ("refusal", "refusal"),
        ("something_new", "error"),
    ],
)
async def test_stop_reason_mapping(
    fake_anthropic: FakeAnthropic, anthropic_url: str, wire: str, ours: str
) -> None:
    fake_anthropic.enqueue(anthropic_message(text_block("partial"), stop_reason=wire))
    response = await make_model(anthropic_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.stop_reason == ours


async def test_rate_limit_is_retried_honouring_retry_after(
    fake_anthropic: FakeAnthropic, anthropic_url: str, retry_sleeps: list[float]
) -> None:
    fake_anthropic.enqueue(
        anthropic_error(
            429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", retry_after="7"
        ),
        anthropic_message(text_block("done")),
    )
    response = await make_model(anthropic_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.content == "done"
    assert len(fake_anthropic.requests) == 2
    assert retry_sleeps == [7.0]  # the SDK waited what the server asked for
    assert fake_anthropic.requests[1].body == fake_anthropic.requests[0].body
    assert fake_anthropic.requests[1].headers["x-stainless-retry-count"] == "1"


async def test_persistent_server_error_raises_model_error(
    fake_anthropic: FakeAnthropic, anthropic_url: str, retry_sleeps: list[float]
) -> None:
    fake_anthropic.always(anthropic_error(500, "api_error", "Internal server error", retry_after=None))
    with pytest.raises(ModelError) as caught:
        await make_model(anthropic_url, max_retries=3).complete(
            ModelRequest(system="s", messages=[Message(role="user", content="x")])
        )
    assert len(fake_anthropic.requests) == 4  # first try + max_retries (not the SDK default of 2)
    assert len(retry_sleeps) == 3
    assert retry_sleeps == sorted(retry_sleeps)  # exponential backoff without retry-after
    message = str(caught.value)
    assert "anthropic:claude-sonnet-4-5" in message
    assert "HTTP 500" in message
    assert "api_error" in message
    assert "Internal server error" in message
    assert "request-id req_" in message
    assert "gave up after 3 retries" in message
    assert KEY not in message
    assert caught.value.retryable


async def test_overloaded_529_is_retried(
    fake_anthropic: FakeAnthropic, anthropic_url: str, retry_sleeps: list[float]
) -> None:
    fake_anthropic.enqueue(
        anthropic_error(529, "overloaded_error", "Overloaded"), anthropic_message(text_block("fine"))
    )
    response = await make_model(anthropic_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.content == "fine"
    assert len(fake_anthropic.requests) == 2


async def test_auth_error_is_not_retried_and_never_shows_the_key(
    fake_anthropic: FakeAnthropic, anthropic_url: str, retry_sleeps: list[float]
) -> None:
    # A server that echoes the key back must not get it into our error.
    fake_anthropic.always(
        anthropic_error(401, "authentication_error", f"invalid x-api-key {KEY}", retry_after=None)
    )
    with pytest.raises(ModelError) as caught:
        await make_model(anthropic_url).complete(
            ModelRequest(system="s", messages=[Message(role="user", content="x")])
        )
    assert len(fake_anthropic.requests) == 1
    assert retry_sleeps == []
    assert "HTTP 401" in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_bad_request_echoing_the_key_is_redacted(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    fake_anthropic.always(
        anthropic_error(400, "invalid_request_error", f"bad header {KEY}", retry_after=None)
    )
    with pytest.raises(ModelError) as caught:
        await make_model(anthropic_url).complete(
            ModelRequest(system="s", messages=[Message(role="user", content="x")])
        )
    assert "bad header [redacted]" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_unreachable_server_raises_model_error(retry_sleeps: list[float]) -> None:
    # A bound socket that never listens: connections are refused at once.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        with pytest.raises(ModelError, match="could not reach") as caught:
            await make_model(url, max_retries=1).complete(
                ModelRequest(system="s", messages=[Message(role="user", content="x")])
            )
    assert len(retry_sleeps) == 1
    assert KEY not in str(caught.value)
    assert caught.value.retryable


def test_repr_and_name_hide_the_key() -> None:
    model = AnthropicModel("claude-haiku-4-5", api_key=KEY, base_url="http://127.0.0.1:9")
    assert model.name == "anthropic:claude-haiku-4-5"
    assert KEY not in repr(model)


def test_empty_user_turns_are_dropped_and_same_role_turns_merged() -> None:
    model = AnthropicModel("claude-x", api_key=KEY, base_url="http://127.0.0.1:9")
    params = model.build_params(
        ModelRequest(
            system="",
            messages=[
                Message(role="user", content="first"),
                Message(role="user", content=""),
                Message(role="user", content="second"),
            ],
        )
    )
    assert "system" not in params  # an empty system block would be rejected
    assert params["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]}
    ]


def test_tool_message_without_call_id_is_a_programming_error() -> None:
    model = AnthropicModel("claude-x", api_key=KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="tool_call_id"):
        model.build_params(ModelRequest(system="s", messages=[Message(role="tool", content="r")]))
