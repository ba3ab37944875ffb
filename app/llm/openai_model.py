"""OpenAI's Chat Completions API, on the official `openai` SDK.

Chat Completions (not the newer Responses API) because every OpenAI-compatible
server speaks it: point `base_url` at vLLM, Ollama or llama.cpp and the same
adapter works. Retries on 429, 408/409 and 5xx are the SDK's (`max_retries`,
honouring retry-after); what still fails becomes a ModelError that names the
status, error type and request id, and never the key.

Notes on the wire format:
- Tool arguments arrive as a JSON string. Invalid JSON is kept as
  `{"_raw": "..."}` so the caller's schema validation reports it to the model
  instead of the call crashing here. Structured output that is not a JSON
  object is kept the same way.
- Chat Completions has no error flag on tool results, so a failed tool's
  result is sent with an "ERROR: " prefix.
- api.openai.com gets `max_completion_tokens` (reasoning models reject
  `max_tokens`); a custom base_url gets `max_tokens`, which compatible
  servers have understood for longer.
- Reasoning models (o1/o3/o4, gpt-5) accept only the default temperature, so
  none is sent to them.
- `stream` asks for `stream_options.include_usage` so a streamed answer is
  priced like a whole one; servers that ignore it leave usage at zero.
- `Usage.input_tokens` excludes cached prompt tokens (OpenAI's `prompt_tokens`
  includes them), matching the Anthropic adapter so pricing is uniform.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai

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

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

_FIXED_TEMPERATURE_PREFIXES = ("o1", "o3", "o4", "gpt-5")

# Local servers ignore the key but the SDK insists on one.
NO_KEY = "not-needed"


class OpenAIModel:
    """A `Model` backed by any Chat Completions server. `name` is "openai:<model>"."""

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_retries: int = 3,
        timeout: float = 60,
    ) -> None:
        if not api_key:
            raise ValueError("OpenAIModel needs an API key (OPENAI_API_KEY), or a base_url and 'not-needed'")
        self.model = model
        self.name = f"openai:{model}"
        self._secret = api_key
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )
        # The SDK also reads OPENAI_BASE_URL, so ask it where requests really go.
        self._official = self._client.base_url.host == "api.openai.com"
        self._max_retries = max_retries

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIModel(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        params = self.build_params(request)
        try:
            completion = await self._client.chat.completions.create(**params)
        except openai.OpenAIError as err:
            raise self._model_error(err) from None
        return self.parse_response(completion, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas as the model writes them, then the response `complete` would have returned.

        `stream=True` with `include_usage`: content arrives in
        `choices[0].delta.content`, tool calls as fragments keyed by `index`
        (id and name once, arguments in pieces), the finish reason on the last
        choice chunk and usage on a final chunk without choices. The pieces are
        assembled and handed to the same `_response` that `parse_response`
        uses. Structured output is not streamed (its text is JSON, not prose).
        """
        if request.output_schema is not None:
            yield await self.complete(request)
            return
        params = {**self.build_params(request), "stream": True, "stream_options": {"include_usage": True}}
        content: list[str] = []
        refusal: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason: str | None = None
        usage: Any = None
        model = ""
        saw_choice = False
        try:
            chunks = await self._client.chat.completions.create(**params)
            async with chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = chunk.usage
                    choice = next((c for c in chunk.choices if c.index == 0), None)
                    if choice is None:
                        continue
                    saw_choice = True
                    delta = choice.delta
                    if delta.refusal:
                        refusal.append(delta.refusal)
                    for part in delta.tool_calls or []:
                        call = calls.setdefault(
                            part.index, {"id": "", "type": "function", "name": "", "arguments": ""}
                        )
                        call["id"] = part.id or call["id"]
                        call["type"] = part.type or call["type"]
                        if part.function is not None:
                            call["name"] = part.function.name or call["name"]
                            call["arguments"] += part.function.arguments or ""
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    if delta.content:
                        content.append(delta.content)
                        yield TextDelta(text=delta.content)
        except openai.OpenAIError as err:
            raise self._model_error(err) from None
        if not saw_choice:
            raise ModelError(f"{self.name}: the response had no choices")
        yield self._response(
            request,
            content="".join(content),
            refusal="".join(refusal) or None,
            calls=[
                ToolCall(id=c["id"], name=c["name"], arguments=_arguments(c["arguments"]))
                for _, c in sorted(calls.items())
                if c["type"] == "function"
            ],
            finish_reason=finish_reason,
            usage=usage,
            model=model,
        )

    # -- request -----------------------------------------------------------

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments for `chat.completions.create` (public so tests can inspect them)."""
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(_message(m) for m in request.messages)
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if self._official:
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None and not self.model.startswith(_FIXED_TEMPERATURE_PREFIXES):
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                }
                for t in request.tools
            ]
        if request.output_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.output_schema, "strict": False},
            }
        return params

    # -- response ----------------------------------------------------------

    def parse_response(self, completion: Any, request: ModelRequest) -> ModelResponse:
        if not completion.choices:
            raise ModelError(f"{self.name}: the response had no choices")
        choice = completion.choices[0]
        message = choice.message
        return self._response(
            request,
            content=message.content or "",
            refusal=message.refusal,
            calls=[
                ToolCall(id=call.id, name=call.function.name, arguments=_arguments(call.function.arguments))
                for call in (message.tool_calls or [])
                if getattr(call, "type", "function") == "function"
            ],
            finish_reason=choice.finish_reason,
            usage=completion.usage,
            model=completion.model,
        )

    def _response(
        self,
        request: ModelRequest,
        *,
        content: str,
        refusal: str | None,
        calls: list[ToolCall],
        finish_reason: str | None,
        usage: Any,
        model: str | None,
    ) -> ModelResponse:
        """One answer, whether it came whole (`complete`) or in chunks (`stream`)."""
        stop = _FINISH_REASONS.get(finish_reason or "", "error")
        if refusal:
            stop = "refusal"
            content = content or refusal
        elif calls and stop == "end_turn":
            stop = "tool_use"  # some compatible servers say "stop" even when calling tools

        output: dict[str, Any] | None = None
        if request.output_schema is not None and content and stop != "refusal":
            output = _json_object(content)

        return ModelResponse(
            content=content,
            tool_calls=calls,
            output=output,
            usage=_usage(usage),
            stop_reason=stop,
            model=f"openai:{model}" if model else self.name,
        )

    # -- errors ------------------------------------------------------------

    def _model_error(self, err: openai.OpenAIError) -> ModelError:
        if isinstance(err, openai.APIStatusError):
            return ModelError(self._describe_status_error(err), retryable=_retryable(err.status_code))
        if isinstance(err, openai.APITimeoutError):
            return ModelError(
                f"{self.name}: request timed out (after {_retries(self._max_retries)})", retryable=True
            )
        if isinstance(err, openai.APIConnectionError):
            return ModelError(
                self._redact(
                    f"{self.name}: could not reach {self._client.base_url} "
                    f"(after {_retries(self._max_retries)}): {err.message}"
                ),
                retryable=True,
            )
        return ModelError(self._redact(f"{self.name}: {type(err).__name__}: {err}"))

    def _describe_status_error(self, err: openai.APIStatusError) -> str:
        status = err.status_code
        body = err.body if isinstance(err.body, dict) else {}
        if status == 401:
            what = "authentication failed: check OPENAI_API_KEY"
        elif status == 403:
            what = "permission denied for this key"
        else:
            message = body.get("message")
            what = message if isinstance(message, str) and message else "no error message"
        kind = f", {err.type}" if err.type else (f", {err.code}" if err.code else "")
        retried = f"; gave up after {_retries(self._max_retries)}" if _retryable(status) else ""
        request_id = f"; request-id {err.request_id}" if err.request_id else ""
        return self._redact(f"{self.name}: HTTP {status}{kind}: {what}{request_id}{retried}")

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret and self._secret != NO_KEY else text


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        content = f"ERROR: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": json.dumps(call.arguments, ensure_ascii=False),
                    },
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _arguments(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    return _json_object(raw)


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def _usage(usage: Any) -> Usage:
    if usage is None:  # some compatible servers omit it
        return Usage()
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    written = (getattr(details, "cache_write_tokens", None) or 0) if details is not None else 0
    prompt = usage.prompt_tokens or 0
    return Usage(
        input_tokens=max(prompt - cached - written, 0),
        output_tokens=usage.completion_tokens or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def _retries(n: int) -> str:
    return "1 retry" if n == 1 else f"{n} retries"


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500
