"""Model calls in flight at once, per provider: a worker's runs share its rate limits.

A provider limits requests per minute and, in effect, how many may be open at
once; a worker advancing dozens of runs would otherwise open them all. The cap
comes from settings (SWITCHBOARD_MODEL_CONCURRENCY) or the provider's default
below; a call that had to wait is counted on its limit (see `stats`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.llm.base import Model, ModelRequest, ModelResponse, StreamEvent, StreamingModel
from connectors.limits import ConcurrencyLimit

# Open requests per process unless configured: below the lowest paid tiers' limits
# (Anthropic and OpenAI both answer 429 once a minute's budget is spent), so a worker
# slows down rather than being throttled. Offline models have no limit.
PROVIDER_CONCURRENCY: dict[str, int | None] = {"anthropic": 16, "openai": 16, "local": None, "scripted": None}


def provider_of(model: Model) -> str:
    return model.name.split(":", 1)[0]


class LimitedModel:
    """A model whose calls each hold a slot of `limit` while they run."""

    def __init__(self, inner: Model, limit: ConcurrencyLimit):
        self.inner = inner
        self.limit = limit
        self.name = inner.name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        async with self.limit.slot():
            return await self.inner.complete(request)


class LimitedStreamingModel(LimitedModel):
    inner: StreamingModel

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        async with self.limit.slot():
            async for event in self.inner.stream(request):
                yield event


def limit_model(model: Model, concurrency: int | None = None) -> Model:
    """`model` behind its provider's cap (`concurrency`, else PROVIDER_CONCURRENCY's); as is without one."""
    provider = provider_of(model)
    cap = concurrency if concurrency is not None else PROVIDER_CONCURRENCY.get(provider, 16)
    limit = ConcurrencyLimit(f"model:{provider}", cap)
    if isinstance(model, StreamingModel):
        return LimitedStreamingModel(model, limit)
    return LimitedModel(model, limit)
