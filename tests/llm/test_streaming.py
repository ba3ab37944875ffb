"""Streaming through the real `anthropic` and `openai` SDKs against loopback fakes speaking each vendor's SSE.

Each test scripts the stream the way the vendor sends it (Anthropic's named
message/content_block events; OpenAI's chat.completion.chunk objects ending
in a usage chunk and `[DONE]`) and checks the deltas and the final response,
which must equal what `complete` returns for the same answer sent whole.
"""

from __future__ import annotations

import json
import time
from typing import Any

from app.llm.anthropic_model import AnthropicModel
from app.llm.base import (
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    StreamEvent,
    StreamingModel,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from app.llm.openai_model import OpenAIModel
from tests.llm.vendor_servers import (
    FakeAnthropic,
    FakeOpenAI,
    Reply,
    anthropic_message,
    openai_completion,
    openai_tool_call,
    text_block,
    tool_use_block,
)

KEY = "sk-test-0123456789abcdef"
LOOKUP = ToolSpec(
    name="lookup_order",
    description="Fetch an order by id.",
    input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
ASK = ModelRequest(
    system="You are a support agent.", messages=[Message(role="user", content="Where is A1?")], tools=[LOOKUP]
)
PIECES = ["Order A1 ", "shipped on ", "Monday; it ", "arrives Friday."]


async def collect(model: StreamingModel, request: ModelRequest) -> tuple[list[str], ModelResponse]:
    """The deltas' texts and the final response, checking the response comes once and last."""
    events: list[StreamEvent] = [e async for e in model.stream(request)]
    *deltas, final = events
    assert isinstance(final, ModelResponse)
    assert all(isinstance(d, TextDelta) for d in deltas)
    return [d.text for d in deltas if isinstance(d, TextDelta)], final


# -- Anthropic: message_start, content_block_start/delta/stop, message_delta, message_stop -----------------


def anthropic_stream(
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    *,
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    model: str = "claude-sonnet-4-5-20250929",
) -> Reply:
    """An SSE reply: each (content_block_start block, its deltas), usage split as the API splits it."""
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_stream_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": 1,
                        "cache_read_input_tokens": cache_read_input_tokens,
                        "cache_creation_input_tokens": cache_creation_input_tokens,
                    },
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, (start, deltas) in enumerate(blocks):
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(events=events)


def text_deltas(*pieces: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return {"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in pieces]


def json_deltas(id: str, name: str, *fragments: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    start = {"type": "tool_use", "id": id, "name": name, "input": {}}
    return start, [{"type": "input_json_delta", "partial_json": f} for f in fragments]


def anthropic_model(url: str) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4-5", api_key=KEY, base_url=url, max_retries=0, timeout=10)


async def test_anthropic_streams_text_as_it_arrives(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    fake_anthropic.enqueue(
        anthropic_stream(
            [text_deltas(*PIECES)],
            input_tokens=120,
            output_tokens=17,
            cache_read_input_tokens=900,
            cache_creation_input_tokens=40,
        ),
        anthropic_message(
            text_block("".join(PIECES)),
            input_tokens=120,
            output_tokens=17,
            cache_read_input_tokens=900,
            cache_creation_input_tokens=40,
        ),
    )
    model = anthropic_model(anthropic_url)
    assert isinstance(model, StreamingModel)

    deltas, final = await collect(model, ASK)
    whole = await model.complete(ASK)

    assert deltas == PIECES
    assert final.content == "".join(deltas)
    assert final.usage == Usage(
        input_tokens=120, output_tokens=17, cache_read_tokens=900, cache_write_tokens=40
    )
    assert final.stop_reason == "end_turn" and final.tool_calls == []
    assert final == whole
    streamed, plain = fake_anthropic.bodies
    assert streamed.pop("stream") is True
    assert streamed == plain  # the same request, only streamed


async def test_anthropic_assembles_a_streamed_tool_call(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    fake_anthropic.enqueue(
        anthropic_stream(
            [
                text_deltas("Let me ", "check that ", "order."),
                json_deltas("toolu_9", "lookup_order", "", '{"order', '_id": "A', '1"}'),
                json_deltas("toolu_10", "lookup_order", '{"order_id"', ': "B2"}'),
            ],
            stop_reason="tool_use",
            input_tokens=50,
            output_tokens=31,
        ),
        anthropic_message(
            text_block("Let me check that order."),
            tool_use_block("lookup_order", {"order_id": "A1"}, id="toolu_9"),
            tool_use_block("lookup_order", {"order_id": "B2"}, id="toolu_10"),
            stop_reason="tool_use",
            input_tokens=50,
            output_tokens=31,
        ),
    )
    model = anthropic_model(anthropic_url)

    deltas, final = await collect(model, ASK)

    assert deltas == ["Let me ", "check that ", "order."]  # tool input is not answer text
    assert final.tool_calls == [
        ToolCall(id="toolu_9", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="toolu_10", name="lookup_order", arguments={"order_id": "B2"}),
    ]
    assert final.stop_reason == "tool_use"
    assert final.usage == Usage(input_tokens=50, output_tokens=31)
    assert final == await model.complete(ASK)


async def test_anthropic_error_event_mid_stream_is_a_model_error(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    broken = anthropic_stream([text_deltas("Order ", "A1 ")])
    assert broken.events is not None
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    broken.events = [*broken.events[:5], ("error", overloaded)]  # start, ping, block start, 2 deltas
    fake_anthropic.enqueue(broken)
    seen: list[StreamEvent] = []
    try:
        async for event in anthropic_model(anthropic_url).stream(ASK):
            seen.append(event)
    except ModelError as err:
        message = str(err)
    else:
        raise AssertionError("the broken stream did not fail")
    assert seen == [TextDelta(text="Order "), TextDelta(text="A1 ")]  # what came before the error
    assert "overloaded_error" in message and "Overloaded" in message and KEY not in message


async def test_anthropic_structured_output_is_not_streamed(
    fake_anthropic: FakeAnthropic, anthropic_url: str
) -> None:
    schema = {"type": "object", "properties": {"category": {"type": "string"}}, "required": ["category"]}
    fake_anthropic.enqueue(anthropic_message(tool_use_block("respond", {"category": "billing"})))
    deltas, final = await collect(
        anthropic_model(anthropic_url), ASK.model_copy(update={"output_schema": schema})
    )
    assert deltas == [] and final.output == {"category": "billing"}
    assert "stream" not in fake_anthropic.bodies[0]


# -- OpenAI: chat.completion.chunk with choices[0].delta, then a usage chunk, then [DONE] ----------------


def chunk(delta: dict[str, Any] | None, *, finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream-1",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_fake",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


def openai_stream(
    deltas: list[dict[str, Any]],
    *,
    finish: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
) -> Reply:
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
    }
    events: list[tuple[str | None, Any]] = [
        (None, chunk({"role": "assistant", "content": "", "refusal": None}))
    ]
    events += [(None, chunk(d)) for d in deltas]
    events += [(None, chunk({}, finish=finish)), (None, chunk(None, usage=usage)), (None, "[DONE]")]
    return Reply(events=events)


def openai_model(url: str) -> OpenAIModel:
    return OpenAIModel("gpt-4o", api_key=KEY, base_url=url, max_retries=0, timeout=10)


async def test_openai_streams_text_as_it_arrives(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(
        openai_stream(
            [{"content": p} for p in PIECES], prompt_tokens=300, completion_tokens=21, cached_tokens=256
        ),
        openai_completion("".join(PIECES), prompt_tokens=300, completion_tokens=21, cached_tokens=256),
    )
    model = openai_model(openai_url)
    assert isinstance(model, StreamingModel)

    deltas, final = await collect(model, ASK)
    whole = await model.complete(ASK)

    assert deltas == PIECES
    assert final.content == "".join(deltas)
    assert final.usage == Usage(input_tokens=44, output_tokens=21, cache_read_tokens=256)
    assert final.stop_reason == "end_turn" and final.model == "openai:gpt-4o-2024-08-06"
    assert final == whole
    streamed, plain = fake_openai.bodies
    assert streamed.pop("stream") is True
    assert streamed.pop("stream_options") == {"include_usage": True}  # or the stream carries no usage
    assert streamed == plain


async def test_openai_assembles_streamed_tool_calls_by_index(
    fake_openai: FakeOpenAI, openai_url: str
) -> None:
    def call(index: int, arguments: str, **head: Any) -> dict[str, Any]:
        part: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if head:
            part.update(id=head["id"], type="function")
            part["function"]["name"] = head["name"]
        return {"tool_calls": [part]}

    fake_openai.enqueue(
        openai_stream(
            [
                {"content": "Checking "},
                {"content": "both "},
                {"content": "orders."},
                call(0, "", id="call_a", name="lookup_order"),
                call(0, '{"order'),
                call(1, "", id="call_b", name="lookup_order"),  # parallel calls interleave by index
                call(1, '{"order_id": '),
                call(0, '_id": "A1"}'),
                call(1, '"B2"}'),
            ],
            finish="tool_calls",
            prompt_tokens=80,
            completion_tokens=40,
        ),
        openai_completion(
            "Checking both orders.",
            tool_calls=[
                openai_tool_call("lookup_order", {"order_id": "A1"}, id="call_a"),
                openai_tool_call("lookup_order", {"order_id": "B2"}, id="call_b"),
            ],
            finish_reason="tool_calls",
            prompt_tokens=80,
            completion_tokens=40,
            cached_tokens=0,
        ),
    )
    model = openai_model(openai_url)

    deltas, final = await collect(model, ASK)

    assert deltas == ["Checking ", "both ", "orders."]
    assert final.tool_calls == [
        ToolCall(id="call_a", name="lookup_order", arguments={"order_id": "A1"}),
        ToolCall(id="call_b", name="lookup_order", arguments={"order_id": "B2"}),
    ]
    assert final.stop_reason == "tool_use"
    assert final.usage == Usage(input_tokens=80, output_tokens=40)
    assert final == await model.complete(ASK)


async def test_openai_bad_streamed_arguments_are_kept_raw(fake_openai: FakeOpenAI, openai_url: str) -> None:
    fake_openai.enqueue(
        openai_stream(
            [
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "type": "function", "function": {"name": "lookup_order"}}
                    ]
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": '{"order_id": '}}]},
            ],
            finish="tool_calls",
        )
    )
    _, final = await collect(openai_model(openai_url), ASK)
    assert final.tool_calls == [ToolCall(id="c1", name="lookup_order", arguments={"_raw": '{"order_id": '})]


async def test_openai_error_chunk_mid_stream_is_a_model_error(
    fake_openai: FakeOpenAI, openai_url: str
) -> None:
    broken = openai_stream([{"content": "Order "}])
    assert broken.events is not None
    error = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
    broken.events = [*broken.events[:2], (None, json.dumps(error))]
    fake_openai.enqueue(broken)
    seen: list[StreamEvent] = []
    try:
        async for event in openai_model(openai_url).stream(ASK):
            seen.append(event)
    except ModelError as err:
        message = str(err)
    else:
        raise AssertionError("the broken stream did not fail")
    assert seen == [TextDelta(text="Order ")]
    assert "The server had an error" in message and KEY not in message
