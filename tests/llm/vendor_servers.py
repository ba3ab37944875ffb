"""Loopback stand-ins for the Anthropic and OpenAI HTTP APIs, for driving the real SDKs.

Each fake answers from a queue of scripted `Reply`s in the vendor's wire format
and records every request it received, so a test can assert both on what the
adapter made of a response and on exactly what went over the wire. They run
under uvicorn on 127.0.0.1 in a background thread (`LoopbackServer`), so the
SDK's real HTTP stack, retries and error parsing are exercised. No vendor is
ever contacted.

    fake = FakeAnthropic()
    with LoopbackServer(fake.app) as server:
        fake.enqueue(anthropic_message(text_block("hi")))
        model = AnthropicModel("claude-x", api_key="test", base_url=server.url)

`Reply.events` makes a server-sent-event stream instead of a JSON body, for
streaming tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

_ids = itertools.count(1)


@dataclass
class Reply:
    """One scripted HTTP answer: a JSON body, or (when `events` is set) an SSE stream."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # (event name or None, JSON data) pairs, sent as text/event-stream.
    events: list[tuple[str | None, Any]] | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeVendor:
    """A queue of replies and a log of requests behind one POST route."""

    route: str = "/"
    request_id_header: str = "request-id"

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self._always: Reply | None = None
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route(self.route, self._handle, methods=["POST"])

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def always(self, reply: Reply | None) -> None:
        """Answer every request the queue does not cover with `reply` (a persistent fault)."""
        self._always = reply

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.requests.clear()
            self._always = None

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def exhausted(self) -> Reply:
        """What to send when nothing is scripted: a non-retryable 400 that says so."""
        raise NotImplementedError

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                )
            )
            if self.replies:
                reply = self.replies.popleft()
            elif self._always is not None:
                reply = self._always
            else:
                reply = self.exhausted()
        headers = {self.request_id_header: f"req_{next(_ids):06d}", **reply.headers}
        if reply.events is not None:
            return StreamingResponse(
                _sse(reply.events), status_code=reply.status, headers=headers, media_type="text/event-stream"
            )
        return JSONResponse(reply.body, status_code=reply.status, headers=headers)


async def _sse(events: list[tuple[str | None, Any]]) -> AsyncIterator[bytes]:
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        payload = data if isinstance(data, str) else json.dumps(data)
        yield f"{head}data: {payload}\n\n".encode()


# -- Anthropic Messages API ---------------------------------------------------------


class FakeAnthropic(FakeVendor):
    """`POST /v1/messages`, answering like api.anthropic.com."""

    route = "/v1/messages"
    request_id_header = "request-id"

    def exhausted(self) -> Reply:
        return anthropic_error(400, "invalid_request_error", "fake: no scripted reply left", retry_after=None)


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):06d}", "name": name, "input": input}


def anthropic_message(
    *content: dict[str, Any],
    stop_reason: str = "end_turn",
    model: str = "claude-sonnet-4-5-20250929",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
) -> Reply:
    return Reply(
        body={
            "id": f"msg_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(content),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_read_input_tokens": cache_read_input_tokens,
                "cache_creation_input_tokens": cache_creation_input_tokens,
            },
        }
    )


def anthropic_error(status: int, type: str, message: str, *, retry_after: str | None = "0") -> Reply:
    """An error in Anthropic's shape. 429/529 carry retry-after, as the real API's do."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": type, "message": message}},
        headers=headers,
    )


# -- OpenAI Chat Completions API ------------------------------------------------------


class FakeOpenAI(FakeVendor):
    """`POST /v1/chat/completions`, answering like api.openai.com (and vLLM, Ollama, llama.cpp)."""

    route = "/v1/chat/completions"
    request_id_header = "x-request-id"

    def exhausted(self) -> Reply:
        return openai_error(
            400, "fake: no scripted reply left", type="invalid_request_error", retry_after=None
        )


def openai_tool_call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> dict[str, Any]:
    """A tool call as OpenAI sends it; pass a str to send arguments verbatim (even invalid JSON)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": id or f"call_{next(_ids):06d}",
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def openai_completion(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    refusal: str | None = None,
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens, "audio_tokens": 0}
    return Reply(
        body={
            "id": f"chatcmpl-{next(_ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
    )


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "requests",
    code: str | None = "rate_limit_exceeded",
    retry_after: str | None = "0",
) -> Reply:
    """An error in OpenAI's shape (a 429 is type "requests", code "rate_limit_exceeded")."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(
        status=status,
        body={"error": {"message": message, "type": type, "param": None, "code": code}},
        headers=headers,
    )


# -- the server ---------------------------------------------------------------------
