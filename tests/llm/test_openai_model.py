"""OpenAIModel driven through the real `openai` SDK against a loopback Chat Completions server.

Every test here points the adapter at a custom base_url, which is how it talks
to vLLM, Ollama or llama.cpp as well.
"""

from __future__ import annotations

import json

import pytest

from app.llm.base import Message, ModelError, ModelRequest, ToolCall, ToolSpec, Usage
from app.llm.factory import build_model
from app.llm.openai_model import OpenAIModel
from app.llm.pricing import cost_usd
from tests.llm.vendor_servers import FakeOpenAI, openai_completion, openai_error, openai_tool_call

KEY = "sk-proj-test-0123456789abcdef"

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Fetch an order by id.",
    input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)


def make_model(url: str, *, model: str = "gpt-4o", max_retries: int = 3) -> OpenAIModel:
    return OpenAIModel(model, api_key=KEY, base_url=url, max_retries=max_retries, timeout=10)


async def test_tool_call_round_trip(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(
        openai_completion(
            None,
            tool_calls=[
                openai_tool_call("lookup_order", {"order_id": "A1"}, id="call_1"),
                openai_tool_call("lookup_order", {"order_id": "B2"}, id="call_2"),
            ],
            finish_reason="tool_calls",
        ),
        openai_completion("Order A1 shipped; B2 was not found."),
    )
    model = make_model(openai_url)
    history = [Message(role="user", content="Where are orders A1 and B2?")]
    request = ModelRequest(
        system="You are a support agent.", messages=history, tools=[LOOKUP], temperature=0.2
    )

    first = await model.complete(request)

    assert first.stop_reason == "tool_use"
    assert first.content == ""
    assert first.tool_calls == [
        ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="call_2", name="lookup_order", arguments={"order_id": "B2"}),
    ]

    history += [
        Message(role="assistant", content="", tool_calls=first.tool_calls),
        Message(role="tool", tool_call_id="call_1", content='{"status": "shipped"}'),
        Message(role="tool", tool_call_id="call_2", content="order not found", is_error=True),
    ]
    second = await model.complete(request.model_copy(update={"messages": history}))

    assert second.stop_reason == "end_turn"
    assert second.content == "Order A1 shipped; B2 was not found."

    assert len(fake_openai.requests) == 2
    wire = fake_openai.requests[1]
    assert wire.path == "/v1/chat/completions"
    assert wire.headers["authorization"] == f"Bearer {KEY}"
    body = wire.body
    assert body["model"] == "gpt-4o"
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 1024  # a custom base_url gets the field compatible servers know
    assert "max_completion_tokens" not in body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Fetch an order by id.",
                "parameters": LOOKUP.input_schema,
            },
        }
    ]
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": "You are a support agent."}
    assert messages[1] == {"role": "user", "content": "Where are orders A1 and B2?"}
    assistant = messages[2]
    assert assistant["role"] == "assistant"
    assert assistant["content"] is None
    assert [(c["id"], c["type"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
        ("call_1", "function", "lookup_order"),
        ("call_2", "function", "lookup_order"),
    ]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"order_id": "A1"}
    assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'}
    assert messages[4] == {"role": "tool", "tool_call_id": "call_2", "content": "ERROR: order not found"}


async def test_invalid_tool_arguments_are_kept_raw(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(
        openai_completion(
            None,
            tool_calls=[
                openai_tool_call("lookup_order", '{"order_id": "A1"', id="call_bad"),
                openai_tool_call("lookup_order", "[1, 2]", id="call_list"),
                openai_tool_call("lookup_order", "", id="call_empty"),
            ],
            finish_reason="tool_calls",
        )
    )
    response = await make_model(openai_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")], tools=[LOOKUP])
    )
    assert [c.arguments for c in response.tool_calls] == [
        {"_raw": '{"order_id": "A1"'},
        {"_raw": "[1, 2]"},
        {},
    ]


async def test_tool_calls_with_finish_reason_stop_still_mean_tool_use(
    fake_openai: FakeOpenAI, openai_url: str
) -> None:
    # Some compatible servers report "stop" even when the model called a tool.
    fake_openai.enqueue(
        openai_completion(
            None, tool_calls=[openai_tool_call("lookup_order", {"order_id": "A1"})], finish_reason="stop"
        )
    )
    response = await make_model(openai_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")], tools=[LOOKUP])
    )
    assert response.stop_reason == "tool_use"


async def test_structured_output_via_json_schema_response_format(
    fake_openai: FakeOpenAI, openai_url: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"category": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["category", "confidence"],
    }
    fake_openai.enqueue(openai_completion('{"category": "billing", "confidence": 0.92}'))

    response = await make_model(openai_url).complete(
        ModelRequest(
            system="Classify.", messages=[Message(role="user", content="charged twice")], output_schema=schema
        )
    )

    assert response.output == {"category": "billing", "confidence": 0.92}
    assert response.stop_reason == "end_turn"
    assert fake_openai.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": False},
    }


async def test_structured_output_that_is_not_json_is_kept_raw(
    fake_openai: FakeOpenAI, openai_url: str
) -> None:
    fake_openai.enqueue(openai_completion("Sure! The category is billing."))
    response = await make_model(openai_url).complete(
        ModelRequest(
            system="s", messages=[Message(role="user", content="x")], output_schema={"type": "object"}
        )
    )
    assert response.output == {"_raw": "Sure! The category is billing."}


async def test_usage_with_cached_tokens(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(
        openai_completion(
            "ok", model="gpt-4o-mini-2024-07-18", prompt_tokens=2500, completion_tokens=40, cached_tokens=2048
        )
    )
    response = await make_model(openai_url, model="gpt-4o-mini").complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    # prompt_tokens includes the cached ones; ours does not
    assert response.usage == Usage(input_tokens=452, output_tokens=40, cache_read_tokens=2048)
    assert response.model == "openai:gpt-4o-mini-2024-07-18"
    expected = (452 * 0.15 + 40 * 0.60 + 2048 * 0.075) / 1_000_000
    assert cost_usd(response.model, response.usage) == pytest.approx(expected)


async def test_missing_usage_is_zero(fake_openai: FakeOpenAI, openai_url: str) -> None:
    reply = openai_completion("ok")
    del reply.body["usage"]
    fake_openai.enqueue(reply)
    response = await make_model(openai_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.usage == Usage()


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "tool_use"),
    ],
)
async def test_finish_reason_mapping(fake_openai: FakeOpenAI, openai_url: str, wire: str, ours: str) -> None:
    fake_openai.enqueue(openai_completion("text", finish_reason=wire))
    response = await make_model(openai_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.stop_reason == ours


async def test_refusal(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(openai_completion(None, refusal="I can't help with that."))
    response = await make_model(openai_url).complete(
        ModelRequest(
            system="s", messages=[Message(role="user", content="x")], output_schema={"type": "object"}
        )
    )
    assert response.stop_reason == "refusal"
    assert response.content == "I can't help with that."
    assert response.output is None


async def test_rate_limit_is_retried_honouring_retry_after(
    fake_openai: FakeOpenAI, openai_url: str, retry_sleeps: list[float]
) -> None:
    fake_openai.enqueue(
        openai_error(429, "Rate limit reached for gpt-4o on requests per min (RPM)", retry_after="3"),
        openai_completion("done"),
    )
    response = await make_model(openai_url).complete(
        ModelRequest(system="s", messages=[Message(role="user", content="x")])
    )
    assert response.content == "done"
    assert len(fake_openai.requests) == 2
    assert retry_sleeps == [3.0]
    assert fake_openai.requests[1].body == fake_openai.requests[0].body


async def test_persistent_server_error_raises_model_error(
    fake_openai: FakeOpenAI, openai_url: str, retry_sleeps: list[float]
) -> None:
    fake_openai.always(
        openai_error(
            500,
            "The server had an error while processing your request.",
            type="server_error",
            code=None,
            retry_after=None,
        )
    )
    with pytest.raises(ModelError) as caught:
        await make_model(openai_url, max_retries=1).complete(
            ModelRequest(system="s", messages=[Message(role="user", content="x")])
        )
    assert len(fake_openai.requests) == 2  # first try + max_retries (not the SDK default of 2)
    assert len(retry_sleeps) == 1
    message = str(caught.value)
    assert "openai:gpt-4o" in message
    assert "HTTP 500" in message
    assert "server_error" in message
    assert "The server had an error" in message
    assert "request-id req_" in message
    assert "gave up after 1 retry" in message
    assert KEY not in message
    assert caught.value.retryable  # the run goes back to the queue rather than failing


async def test_auth_error_is_not_retried_and_never_shows_the_key(
    fake_openai: FakeOpenAI, openai_url: str, retry_sleeps: list[float]
) -> None:
    fake_openai.always(
        openai_error(
            401,
            f"Incorrect API key provided: {KEY}.",
            type="invalid_request_error",
            code="invalid_api_key",
            retry_after=None,
        )
    )
    with pytest.raises(ModelError) as caught:
        await make_model(openai_url).complete(
            ModelRequest(system="s", messages=[Message(role="user", content="x")])
        )
    assert len(fake_openai.requests) == 1
    assert retry_sleeps == []
    assert "OPENAI_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)
    assert not caught.value.retryable  # a person must fix the key: the run fails


async def test_keyless_local_server_through_the_factory(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(openai_completion("hello from llama", model="llama3.1:8b"))
    model = build_model("openai:llama3.1:8b", openai_base_url=openai_url)
    assert model.name == "openai:llama3.1:8b"
    response = await model.complete(ModelRequest(system="s", messages=[Message(role="user", content="hi")]))
    assert response.content == "hello from llama"
    assert fake_openai.requests[0].headers["authorization"] == "Bearer not-needed"
    assert fake_openai.requests[0].body["model"] == "llama3.1:8b"
    assert cost_usd(response.model, response.usage) == 0.0


def test_official_endpoint_gets_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    params = OpenAIModel("gpt-4.1", api_key=KEY).build_params(
        ModelRequest(system="s", messages=[Message(role="user", content="x")], max_tokens=300)
    )
    assert params["max_completion_tokens"] == 300
    assert "max_tokens" not in params
    assert params["temperature"] == 0.0


def test_reasoning_models_get_no_temperature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    params = OpenAIModel("o4-mini", api_key=KEY).build_params(
        ModelRequest(system="s", messages=[Message(role="user", content="x")], temperature=0.0)
    )
    assert "temperature" not in params


def test_repr_and_name_hide_the_key() -> None:
    model = OpenAIModel("gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1")
    assert model.name == "openai:gpt-4o"
    assert KEY not in repr(model)
