"""Spans and counters around the three things a run does: advance, call the model, call a tool.

Wrappers, not edits: `instrument(orchestrator)` wraps its model (a `chat` span and token,
cost and latency counters per model call), its catalogue (an `execute_tool` span, latency,
errors and retries per connection and operation) and its pipelines (an `invoke_agent` span
per advance, with the run id bound for logs). Spans follow the OpenTelemetry GenAI semantic
conventions (gen_ai.* attributes; Switchboard's own under switchboard.*) and are made only
when tracing is configured; the counters are always kept.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.llm.base import Model, ModelRequest, ModelResponse, StreamEvent, StreamingModel, Usage
from app.llm.pricing import cost_usd, price_for
from app.observability import tracing
from app.observability.context import RUN_ID, TOOL_CALL_ID, bound_run
from app.observability.metrics import (
    MODEL_CALLS,
    MODEL_COST,
    MODEL_SECONDS,
    MODEL_TOKENS,
    RUN_ADVANCE_SECONDS,
    RUN_ADVANCES,
    TOOL_CALL_SECONDS,
    TOOL_ERRORS,
    observe_retries,
)
from connectors.base import ConnectorError, note_call, noting_calls
from tools.base import Catalogue, Tool

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from app.agent.orchestrator import Orchestrator

# Models that run in this process: their spans are INTERNAL, a hosted model's are CLIENT.
IN_PROCESS = frozenset({"local", "scripted"})


def provider_and_model(name: str) -> tuple[str, str]:
    """("anthropic", "claude-…") from "anthropic:claude-…"; the local engine is switchboard.local."""
    provider, sep, model = name.partition(":")
    if not sep:
        return f"switchboard.{name}" if name in IN_PROCESS else name, name
    return provider, model


def error_type(exc: BaseException) -> str:
    """A low-cardinality error.type: a system's status code, else the exception's class name."""
    if isinstance(exc, ConnectorError) and exc.status is not None:
        return str(exc.status)
    return type(exc).__name__


@dataclass
class _Totals:
    """Tokens and cost of the model calls in one advance, for its invoke_agent span."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


_TOTALS: ContextVar[_Totals | None] = ContextVar("switchboard_advance_totals", default=None)


def _always_error(exc: BaseException) -> bool:
    return True


@contextmanager
def _span(
    name: str,
    kind: str,
    attributes: dict[str, Any],
    is_error: Callable[[BaseException], bool] = _always_error,
) -> Iterator[Span | None]:
    """A current span when tracing is on, else None; an exception that `is_error` marks it
    failed, with error.type."""
    tracer = tracing.TRACER
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind, Status, StatusCode

    run_id = RUN_ID.get()
    if run_id is not None:
        attributes["switchboard.run.id"] = run_id
    with tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT if kind == "client" else SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            if is_error(exc):
                span.set_attribute("error.type", error_type(exc))
                span.set_status(Status(StatusCode.ERROR, str(exc)[:300]))
            raise


# -- model calls ---------------------------------------------------------------


def _model_attributes(name: str, request: ModelRequest) -> dict[str, Any]:
    provider, model = provider_and_model(name)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": request.max_tokens,
        "gen_ai.output.type": "json" if request.output_schema is not None else "text",
    }
    if request.temperature is not None:
        attrs["gen_ai.request.temperature"] = request.temperature
    if request.prompt:
        attrs["switchboard.prompt"] = request.prompt
    return attrs


@dataclass
class _ModelCounters:
    """One model's counter children, looked up once (labels() costs more than the increment)."""

    ok: Any
    seconds: Any
    tokens: tuple[Any, Any, Any, Any]
    cost: Any
    priced: bool


_MODEL_COUNTERS: dict[str, _ModelCounters] = {}


def _counters(model_name: str, priced_as: str) -> _ModelCounters:
    found = _MODEL_COUNTERS.get(model_name)
    if found is None:
        tokens = tuple(
            MODEL_TOKENS.labels(model_name, k) for k in ("input", "output", "cache_read", "cache_write")
        )
        found = _MODEL_COUNTERS[model_name] = _ModelCounters(
            ok=MODEL_CALLS.labels(model_name, "ok"),
            seconds=MODEL_SECONDS.labels(model_name),
            tokens=tokens,  # type: ignore[arg-type]
            cost=MODEL_COST.labels(model_name),
            priced=price_for(priced_as) is not None,
        )
    return found


def _record_response(name: str, response: ModelResponse, span: Span | None, seconds: float) -> None:
    model_name = response.model or name
    priced_as = model_name if ":" in model_name else name
    usage: Usage = response.usage
    counters = _counters(model_name, priced_as)
    cost = cost_usd(priced_as, usage) if counters.priced else 0.0
    counters.ok.inc()
    counters.seconds.observe(seconds)
    for child, n in zip(
        counters.tokens,
        (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens),
        strict=True,
    ):
        if n:
            child.inc(n)
    if cost:
        counters.cost.inc(cost)
    if (totals := _TOTALS.get()) is not None:
        totals.input_tokens += usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        totals.output_tokens += usage.output_tokens
        totals.cost_usd += cost
    if span is not None:
        span.set_attributes(_response_attributes(model_name, response, cost))


def _response_attributes(model_name: str, response: ModelResponse, cost: float) -> dict[str, Any]:
    usage = response.usage
    return {
        "gen_ai.response.model": provider_and_model(model_name)[1],
        "gen_ai.response.finish_reasons": [response.stop_reason],
        # The conventions count cached tokens in the input; the cache splits are their own.
        "gen_ai.usage.input_tokens": usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
        "switchboard.cost_usd": cost,
        "switchboard.tool_calls": len(response.tool_calls),
    }


@contextmanager
def _model_span(name: str, request: ModelRequest) -> Iterator[Span | None]:
    _, model = provider_and_model(name)
    kind = "internal" if name.partition(":")[0] in IN_PROCESS else "client"
    with _span(f"chat {model}", kind, _model_attributes(name, request)) as span:
        yield span


class TracedModel:
    """A Model that reports each call; everything else is the wrapped model's.

    Without tracing a call costs a clock read and a few counter increments, no span work."""

    def __init__(self, inner: Model):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if tracing.TRACER is not None:
            with _model_span(self.name, request) as span:
                return await self._complete(request, span)
        return await self._complete(request, None)

    async def _complete(self, request: ModelRequest, span: Span | None) -> ModelResponse:
        started = time.perf_counter()
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            MODEL_CALLS.labels(self.name, error_type(exc)).inc()
            raise
        _record_response(self.name, response, span, time.perf_counter() - started)
        return response


class TracedStreamingModel(TracedModel):
    """The same for a model that streams: one span from the request to the final response."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        inner = self.inner
        assert isinstance(inner, StreamingModel)
        started = time.perf_counter()
        with _model_span(self.name, request) as span:
            try:
                async for event in inner.stream(request):
                    if isinstance(event, ModelResponse):
                        _record_response(self.name, event, span, time.perf_counter() - started)
                    yield event
            except BaseException as exc:
                if not isinstance(exc, GeneratorExit):
                    MODEL_CALLS.labels(self.name, error_type(exc)).inc()
                raise


def traced_model(model: Model) -> Model:
    if isinstance(model, TracedModel):
        return model
    return TracedStreamingModel(model) if isinstance(model, StreamingModel) else TracedModel(model)


# -- tool calls ------------------------------------------------------------------


def _tool_attributes(tool: Tool, idempotency_key: str | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.name,
        # Run by the agent itself against a system's API: an "extension" in the conventions.
        "gen_ai.tool.type": "extension",
        "switchboard.connection": tool.connection,
        "switchboard.operation": tool.operation,
        "switchboard.tool.effect": tool.effect,
    }
    if (call_id := TOOL_CALL_ID.get()) is not None:
        attrs["gen_ai.tool.call.id"] = call_id
    if idempotency_key:
        attrs["switchboard.action.id"] = idempotency_key
    return attrs


def _retried(tool: Tool, notes: list[dict[str, Any]], span: Span | None) -> None:
    """Count the retries the transport reported, show them on the span, hand them on."""
    observe_retries(tool.connection, notes)
    for event in notes:
        if span is not None:
            span.add_event(
                "switchboard.retry", {k: v for k, v in event.items() if isinstance(v, str | int | float)}
            )
        note_call(event)  # whoever listens outside (the run's step) still gets each retry


def instrumented_tool(tool: Tool) -> Tool:
    inner = tool.invoke
    latency = TOOL_CALL_SECONDS.labels(tool.connection, tool.operation)

    async def call(arguments: dict[str, Any], idempotency_key: str | None, span: Span | None) -> Any:
        started = time.perf_counter()
        notes: list[dict[str, Any]] = []
        try:
            with noting_calls() as notes:
                return await inner(arguments, idempotency_key)
        except BaseException as exc:
            TOOL_ERRORS.labels(tool.connection, tool.operation, error_type(exc)).inc()
            raise
        finally:
            latency.observe(time.perf_counter() - started)
            if notes:
                _retried(tool, notes, span)

    async def invoke(arguments: dict[str, Any], idempotency_key: str | None) -> Any:
        if tracing.TRACER is None:
            return await call(arguments, idempotency_key, None)
        with _span(f"execute_tool {tool.name}", "internal", _tool_attributes(tool, idempotency_key)) as span:
            return await call(arguments, idempotency_key, span)

    return replace(tool, invoke=invoke)


def instrumented_catalogue(
    load: Callable[[], Catalogue | Awaitable[Catalogue]],
) -> Callable[[], Awaitable[Catalogue]]:
    """The catalogue `load` gives, with every tool instrumented (rebuilt only when it changes)."""
    cache: dict[str, Catalogue | None] = {"source": None, "wrapped": None}

    async def instrumented() -> Catalogue:
        source = load()
        if inspect.isawaitable(source):
            source = await source
        if cache["source"] is not source or cache["wrapped"] is None:
            cache["source"], cache["wrapped"] = source, _wrap(source)
        wrapped = cache["wrapped"]
        assert wrapped is not None
        return wrapped

    return instrumented


def _wrap(source: Catalogue) -> Catalogue:
    tools = getattr(source, "_tools", None)
    if not isinstance(tools, dict):
        return source  # a catalogue of another shape: leave it as it is
    wrapped = copy.copy(source)
    wrapped._tools = {name: instrumented_tool(t) for name, t in tools.items()}
    return wrapped


# -- run advances ----------------------------------------------------------------

Pipeline = Callable[[Any], Awaitable[dict[str, Any] | None]]


def _outcome(exc: BaseException) -> tuple[str, bool]:
    """What an exception out of a pipeline means for the run, and whether that is an error."""
    name = type(exc).__name__
    if name == "Suspend":
        return "waiting", False
    if name in ("RunFailed", "ModelError"):
        return "failed", True
    if name == "Transient":
        return "requeued", True
    if name == "LeaseLost":
        return "lost", False
    return name, True


def traced_pipeline(kind: str, pipeline: Pipeline, provider: str) -> Pipeline:
    async def advance(ctx: Any) -> dict[str, Any] | None:
        run = ctx.run
        started = time.perf_counter()
        totals = _Totals()
        totals_token = _TOTALS.set(totals)
        outcome = "finished"
        try:
            with bound_run(run.id, kind), _advance_span(kind, run, provider, totals) as span:
                try:
                    return await pipeline(ctx)
                except BaseException as exc:
                    outcome = _outcome(exc)[0]
                    raise
                finally:
                    if span is not None:
                        span.set_attribute("switchboard.run.outcome", outcome)
        finally:
            _TOTALS.reset(totals_token)
            RUN_ADVANCES.labels(kind, outcome).inc()
            RUN_ADVANCE_SECONDS.labels(kind).observe(time.perf_counter() - started)

    return advance


@contextmanager
def _advance_span(kind: str, run: Any, provider: str, totals: _Totals) -> Iterator[Span | None]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": provider,
        "gen_ai.agent.name": kind,
        "switchboard.run.kind": kind,
        "switchboard.run.retries": getattr(run, "retries", 0),
        "switchboard.run.steps_before": len(getattr(run, "steps", ())),
    }
    with _span(f"invoke_agent {kind}", "internal", attrs, lambda exc: _outcome(exc)[1]) as span:
        try:
            yield span
        finally:
            if span is not None:
                span.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": totals.input_tokens,
                        "gen_ai.usage.output_tokens": totals.output_tokens,
                        "switchboard.cost_usd": totals.cost_usd,
                    }
                )


def instrument(orchestrator: Orchestrator, *, otlp_endpoint: str | None = None) -> Orchestrator:
    """Wrap an orchestrator's model, catalogue and pipelines; turn on tracing if configured."""
    tracing.configure_tracing(otlp_endpoint)
    orchestrator.model = traced_model(orchestrator.model)
    orchestrator.catalogue = instrumented_catalogue(orchestrator.catalogue)
    provider = provider_and_model(orchestrator.model.name)[0]
    orchestrator.pipelines = {
        kind: traced_pipeline(kind, p, provider) for kind, p in orchestrator.pipelines.items()
    }
    return orchestrator
