"""A model that plays back a script: for tests, and for showing a run step by step.

Each entry is a ModelResponse, or a callable that builds one from the request
(so a test can assert on what the model was shown). Every request is kept in
`requests` for inspection. `stream` plays the same script, handing out the
text in a few chunks first, so streaming can be tested without a vendor.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from app.llm.base import ModelRequest, ModelResponse, StreamEvent, TextDelta, ToolCall, Usage

Step = ModelResponse | Callable[[ModelRequest], ModelResponse]

_ids = itertools.count(1)


def tool_use(name: str, arguments: dict[str, Any] | None = None, call_id: str | None = None) -> ModelResponse:
    call = ToolCall(id=call_id or f"call_{next(_ids)}", name=name, arguments=arguments or {})
    return ModelResponse(
        tool_calls=[call], stop_reason="tool_use", usage=Usage(input_tokens=10, output_tokens=5)
    )


def text(content: str) -> ModelResponse:
    return ModelResponse(
        content=content, stop_reason="end_turn", usage=Usage(input_tokens=10, output_tokens=5)
    )


def output(data: dict[str, Any]) -> ModelResponse:
    return ModelResponse(output=data, stop_reason="end_turn", usage=Usage(input_tokens=10, output_tokens=5))


class ScriptExhausted(AssertionError):
    pass


class ScriptedModel:
    name = "scripted"

    def __init__(self, script: Iterable[Step] = (), *, fallback: Step | None = None):
        self._script = list(script)
        self._fallback = fallback
        self.requests: list[ModelRequest] = []

    def extend(self, steps: Iterable[Step]) -> None:
        self._script.extend(steps)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self._script:
            step = self._script.pop(0)
        elif self._fallback is not None:
            step = self._fallback
        else:
            raise ScriptExhausted(f"no scripted response left for prompt {request.prompt!r}")
        response = step(request) if callable(step) else step
        return response.model_copy(update={"model": response.model or self.name})

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """The next scripted response, its text first in up to `STREAM_CHUNKS` pieces."""
        response = await self.complete(request)
        if request.output_schema is None:
            for piece in chunks(response.content, STREAM_CHUNKS):
                await asyncio.sleep(0)  # let a reader run between pieces, as a network would
                yield TextDelta(text=piece)
        yield response


STREAM_CHUNKS = 3


def chunks(text: str, n: int) -> list[str]:
    """`text` cut into at most `n` non-empty pieces that join back to it, at word boundaries if possible."""
    if not text:
        return []
    words = text.split(" ")
    if len(words) < n:
        size = -(-len(text) // n)
        return [text[i : i + size] for i in range(0, len(text), size)]
    cuts = [round(i * len(words) / n) for i in range(n + 1)]
    pieces = [" ".join(words[a:b]) + (" " if b < len(words) else "") for a, b in itertools.pairwise(cuts)]
    return [p for p in pieces if p]
