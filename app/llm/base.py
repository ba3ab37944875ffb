"""The narrow model interface every adapter implements.

A request goes in (system prompt, messages, tool specs, optional output schema);
content, tool calls, usage and a stop reason come out. Nothing here knows about
HTTP, SQL or any vendor: adapters translate to and from their wire formats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Role = Literal["user", "assistant", "tool"]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal", "error"]


class ToolSpec(BaseModel):
    """What a model is told about a tool: a name, what it does, its JSON Schema."""

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    """One turn. `tool` messages carry the result of the call named by tool_call_id."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    is_error: bool = False


class ModelRequest(BaseModel):
    system: str
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    max_tokens: int = 1024
    temperature: float | None = 0.0
    # Which prompt template produced this request ("triage/classify@v1"). Adapters
    # for hosted models ignore it; the local engine dispatches on it.
    prompt: str | None = None
    # The structured values the prompt was rendered from. Hosted adapters ignore it;
    # the local engine reads it instead of parsing prose.
    variables: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class ModelResponse(BaseModel):
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    # Parsed structured output when the request carried an output_schema.
    output: dict[str, Any] | None = None
    usage: Usage = Field(default_factory=Usage)
    stop_reason: StopReason = "end_turn"
    model: str = ""


class ModelError(Exception):
    """A model call failed after the adapter's own retries; the message says why.

    `retryable` when the failure may pass (rate limited, overloaded, unreachable, timed
    out): the run then goes back to the queue with backoff instead of failing.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Model(Protocol):
    """Anything that answers a ModelRequest. `name` is recorded on every step."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse: ...


class TextDelta(BaseModel):
    """A piece of answer text as the model produces it (streaming only; never recorded)."""

    text: str


# What `StreamingModel.stream` yields: text deltas, then exactly one ModelResponse, last.
StreamEvent = TextDelta | ModelResponse


@runtime_checkable
class StreamingModel(Model, Protocol):
    """A model that can also stream its answer, so people see text before the turn ends.

    `stream` yields TextDelta items as they arrive and finally the whole
    ModelResponse, equal to what `complete` returns for the same answer (the
    response, not the deltas, is what gets recorded). Requests with an
    output_schema need not stream; an adapter may yield just the response.
    """

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...
