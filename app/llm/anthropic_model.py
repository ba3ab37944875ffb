"""Claude through Anthropic's Messages API, on the official `anthropic` SDK.

Retries on 429, 408/409 and 5xx are the SDK's (`max_retries`, honouring the
server's retry-after); whatever still fails becomes a ModelError whose message
names the status, the vendor's error type and request id, and never the key.

Notes on the wire format:
- The system prompt is one text block marked `cache_control: ephemeral`: tools
  and system form the cache prefix, so repeated calls with the same prompt and
  tool catalogue are billed at the cache-read rate.
- Our `tool` messages become `tool_result` blocks in a user turn; consecutive
  ones share one turn, as the API expects all results of a turn together.
- Structured output is a forced tool named `respond` whose input schema is the
  output schema; its input comes back as `ModelResponse.output`.
- Streaming (`stream`) uses the same parameters and the same parsing; a
  stream that breaks mid-way is not retried (text was already shown), it
  becomes a ModelError like any other failure.
- `temperature` is not sent: anthropic 2.x dropped the parameter from
  `messages.create` (the SDK has no trace of it), so it is ignored here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from app.llm.base import (
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    StopReason,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

RESPOND_TOOL = "respond"

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
    # Only server-side tools pause a turn; we send none, so treat it as a finished turn.
    "pause_turn": "end_turn",
}


class AnthropicModel:
    """A `Model` backed by Claude. `name` is "anthropic:<model>"."""

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_retries: int = 3,
        timeout: float = 60,
    ) -> None:
        if not api_key:
            raise ValueError("AnthropicModel needs an API key (ANTHROPIC_API_KEY)")
        self.model = model
        self.name = f"anthropic:{model}"
        self._secret = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )
        self._max_retries = max_retries

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicModel(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        params = self.build_params(request)
        try:
            message = await self._client.messages.create(**params)
        except anthropic.AnthropicError as err:
            raise self._model_error(err) from None
        return self.parse_response(message, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas as Claude writes them, then the response `complete` would have returned.

        Uses the SDK's `messages.stream` helper, which accumulates the streamed
        events (text_delta, input_json_delta, message_delta usage and stop
        reason) into the same Message a non-streamed call returns, so the final
        response goes through the one `parse_response`. Structured output is not
        streamed: its text is the forced `respond` tool's JSON, not prose.
        """
        if request.output_schema is not None:
            yield await self.complete(request)
            return
        params = self.build_params(request)
        try:
            async with self._client.messages.stream(**params) as stream:
                async for event in stream:
                    if (
                        event.type == "content_block_delta"
                        and event.delta.type == "text_delta"
                        and event.delta.text
                    ):
                        yield TextDelta(text=event.delta.text)
                message = await stream.get_final_message()
        except anthropic.AnthropicError as err:
            raise self._model_error(err) from None
        except ValueError as err:  # the SDK could not parse a tool's streamed input JSON
            raise ModelError(self._redact(f"{self.name}: bad streamed tool input: {err}")) from None
        yield self.parse_response(message, request)

    # -- request -----------------------------------------------------------

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments for `messages.create` (public so tests can inspect them)."""
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": _messages(request.messages),
        }
        if request.system:
            params["system"] = [
                {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
            ]
        tools = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
        if request.output_schema is not None:
            if any(t.name == RESPOND_TOOL for t in request.tools):
                raise ValueError(f"a tool may not be named {RESPOND_TOOL!r} when output_schema is set")
            tools.append(
                {
                    "name": RESPOND_TOOL,
                    "description": "Give your final answer. Call this exactly once, with the answer as input.",
                    "input_schema": request.output_schema,
                }
            )
            params["tool_choice"] = {"type": "tool", "name": RESPOND_TOOL}
        if tools:
            params["tools"] = tools
        return params

    # -- response ----------------------------------------------------------

    def parse_response(self, message: Any, request: ModelRequest) -> ModelResponse:
        texts: list[str] = []
        calls: list[ToolCall] = []
        output: dict[str, Any] | None = None
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                arguments = dict(block.input) if isinstance(block.input, dict) else {"_raw": block.input}
                if request.output_schema is not None and block.name == RESPOND_TOOL:
                    output = arguments
                else:
                    calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
            # thinking and server-tool blocks carry nothing the caller can act on

        stop = _STOP_REASONS.get(message.stop_reason or "", "error")
        if stop == "tool_use" and not calls:
            stop = "end_turn"  # the only tool used was `respond`: the answer is complete
        elif calls and stop == "end_turn":
            stop = "tool_use"

        usage = message.usage
        return ModelResponse(
            content="".join(texts),
            tool_calls=calls,
            output=output,
            usage=Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
            stop_reason=stop,
            model=f"anthropic:{message.model}" if message.model else self.name,
        )

    # -- errors ------------------------------------------------------------

    def _model_error(self, err: anthropic.AnthropicError) -> ModelError:
        if isinstance(err, anthropic.APIStatusError):
            return ModelError(self._describe_status_error(err), retryable=_retryable(err.status_code))
        if isinstance(err, anthropic.APITimeoutError):
            return ModelError(
                f"{self.name}: request timed out (after {_retries(self._max_retries)})", retryable=True
            )
        if isinstance(err, anthropic.APIConnectionError):
            return ModelError(
                self._redact(
                    f"{self.name}: could not reach {self._client.base_url} "
                    f"(after {_retries(self._max_retries)}): {err.message}"
                ),
                retryable=True,
            )
        return ModelError(self._redact(f"{self.name}: {type(err).__name__}: {err}"))

    def _describe_status_error(self, err: anthropic.APIStatusError) -> str:
        status = err.status_code
        if status == 401:
            what = "authentication failed: check ANTHROPIC_API_KEY"
        elif status == 403:
            what = "permission denied for this key"
        else:
            what = err.api_message or _body_message(err.body) or "no error message"
        kind = f", {err.type}" if err.type else ""
        retried = f"; gave up after {_retries(self._max_retries)}" if _retryable(status) else ""
        request_id = f"; request-id {err.request_id}" if err.request_id else ""
        return self._redact(f"{self.name}: HTTP {status}{kind}: {what}{request_id}{retried}")

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our turns as Anthropic turns: tool calls as tool_use, results as tool_result, same-role runs merged."""
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            if not message.tool_call_id:
                raise ValueError("a tool message needs the tool_call_id of the call it answers")
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if message.is_error:
                result["is_error"] = True
            blocks.append(result)
            role = "user"
        else:
            role = message.role
            if message.content:  # the API rejects empty text blocks
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            # The API wants alternating turns; tool results must lead their user turn,
            # which holds here because results only ever follow an assistant turn.
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for turn in out:
        content = turn["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            turn["content"] = content[0]["text"]
    return out


def _retries(n: int) -> str:
    return "1 retry" if n == 1 else f"{n} retries"


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _body_message(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    if isinstance(body, str) and body:
        return body[:300]
    return None
