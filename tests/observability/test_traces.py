"""A span per run advance, model call and tool call, with GenAI attributes, tokens and cost."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.base import ModelResponse, Usage
from app.llm.scripted import ScriptedModel, text, tool_use
from app.observability.instrument import instrument
from app.services import approvals
from app.services.auth import Principal
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from connectors.base import ConnectorError
from connectors.http import RetryPolicy, build_client
from tests.agent.fakes import FakeSystem
from tests.agent.test_run_loop import loop_pipeline
from tests.observability.conftest import sample
from tests.support.runs import new_run
from tools.base import Catalogue, Tool

APPROVER = Principal(name="pat", role="approver")


def orchestrator(db: Database, model: Any, catalogue: Catalogue) -> Orchestrator:
    return instrument(
        Orchestrator(SqlRunStore(db), model, lambda: catalogue, lambda: Policy(), {"test": loop_pipeline})
    )


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


async def test_spans_of_a_run_across_two_advances_share_the_run_as_trace(
    db: Database, spans: InMemorySpanExporter
) -> None:
    system = FakeSystem()
    priced = ModelResponse(
        content="Order 7 has shipped; I told the customer.",
        model="anthropic:claude-sonnet-4-5",
        usage=Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=500),
    )
    model = ScriptedModel(
        [
            tool_use("shop__lookup", {"order_id": 7}, call_id="call_read"),
            tool_use(
                "shop__send_message", {"to": "ann@example.com", "body": "Shipped."}, call_id="call_send"
            ),
            priced,
        ]
    )
    orch = orchestrator(db, model, system.catalogue())
    run_id = new_run(db)
    cost_before = sample("switchboard_model_call_cost_usd_total", model="anthropic:claude-sonnet-4-5")
    await orch.drain("w1")
    assert run_view(db, run_id)["status"] == "waiting_approval"
    [action] = run_view(db, run_id)["actions"]
    approvals.approve(db, action["id"], APPROVER, system.catalogue)
    await orch.drain("w1")
    assert run_view(db, run_id)["status"] == "succeeded"

    found = by_name(spans)
    advances = found["invoke_agent test"]
    assert len(advances) == 2
    # one trace per run: its id is the run id, whichever advance (or worker) made the span
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {int(run_id, 16)}
    first, second = sorted(advances, key=lambda s: s.start_time)
    assert first.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert first.attributes["gen_ai.agent.name"] == "test"
    assert first.attributes["gen_ai.provider.name"] == "switchboard.scripted"
    assert first.attributes["switchboard.run.id"] == run_id
    assert first.attributes["switchboard.run.outcome"] == "waiting"
    assert first.status.status_code != StatusCode.ERROR  # waiting for a person is not a failure
    assert second.attributes["switchboard.run.outcome"] == "finished"
    # the second advance paid for the priced model call
    assert second.attributes["gen_ai.usage.input_tokens"] == 1500
    assert second.attributes["gen_ai.usage.output_tokens"] == 200
    assert second.attributes["switchboard.cost_usd"] > 0

    chats = sorted(found["chat scripted"], key=lambda s: s.start_time)
    assert len(chats) == 3  # two calls, then one after approval: replayed calls are not calls
    chat, _, priced_span = chats
    assert chat.kind == SpanKind.INTERNAL
    assert chat.parent is not None and chat.parent.span_id == first.context.span_id
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "scripted"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 10
    assert chat.attributes["gen_ai.usage.output_tokens"] == 5
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert chat.attributes["switchboard.prompt"] == "test@v1"
    assert priced_span.parent is not None and priced_span.parent.span_id == second.context.span_id
    assert priced_span.attributes["gen_ai.response.model"] == "claude-sonnet-4-5"
    assert priced_span.attributes["switchboard.cost_usd"] > 0
    assert sample("switchboard_model_call_cost_usd_total", model="anthropic:claude-sonnet-4-5") > cost_before

    [read] = found["execute_tool shop__lookup"]
    assert read.attributes["gen_ai.operation.name"] == "execute_tool"
    assert read.attributes["gen_ai.tool.name"] == "shop__lookup"
    assert read.attributes["gen_ai.tool.call.id"] == "call_read"
    assert read.attributes["switchboard.connection"] == "shop"
    assert read.attributes["switchboard.run.id"] == run_id
    assert read.parent is not None and read.parent.span_id == first.context.span_id
    [write] = found["execute_tool shop__send_message"]
    assert write.attributes["gen_ai.tool.call.id"] == "call_send"
    assert write.attributes["switchboard.action.id"] == action["id"]
    assert write.attributes["switchboard.tool.effect"] == "write"
    assert write.parent is not None and write.parent.span_id == second.context.span_id


def _tool(name: str, invoke: Any) -> Tool:
    return Tool(
        name=f"desk__{name}",
        connection="desk",
        operation=name,
        description=name,
        input_schema={"type": "object"},
        effect="read",
        idempotency="none",
        invoke=invoke,
    )


async def test_a_failing_tool_call_is_an_error_span_and_counted(
    db: Database, spans: InMemorySpanExporter
) -> None:
    async def broken(arguments: dict[str, Any], key: str | None) -> Any:
        raise ConnectorError("desk answered 404: no such ticket", status=404)

    model = ScriptedModel([tool_use("desk__ticket", {}, call_id="c1"), text("No such ticket.")])
    orch = orchestrator(db, model, Catalogue([_tool("ticket", broken)]))
    before = sample(
        "switchboard_tool_call_errors_total", connection="desk", operation="ticket", error_type="404"
    )
    new_run(db)
    await orch.drain("w1")
    [span] = by_name(spans)["execute_tool desk__ticket"]
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "404"
    after = sample(
        "switchboard_tool_call_errors_total", connection="desk", operation="ticket", error_type="404"
    )
    assert after == before + 1


async def test_retried_429s_show_on_the_span_in_the_counters_and_in_the_step(
    db: Database, spans: InMemorySpanExporter
) -> None:
    answers = iter([429, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"})
        return httpx.Response(200, json={"id": 5, "status": "open"})

    async def no_sleep(seconds: float) -> None:
        return None

    client = build_client(
        "https://desk.example.com", transport=httpx.MockTransport(handler), retry=RetryPolicy(sleep=no_sleep)
    )

    async def read_ticket(arguments: dict[str, Any], key: str | None) -> Any:
        response = await client.get("/tickets/5")
        return response.json()

    model = ScriptedModel([tool_use("desk__ticket", {}, call_id="c1"), text("It is open.")])
    orch = orchestrator(db, model, Catalogue([_tool("ticket", read_ticket)]))
    retries = sample("switchboard_connection_retries_total", connection="desk", reason="rate_limited")
    waited = sample("switchboard_connection_rate_limit_wait_seconds_total", connection="desk")
    run_id = new_run(db)
    await orch.drain("w1")

    assert (
        sample("switchboard_connection_retries_total", connection="desk", reason="rate_limited")
        == retries + 2
    )
    assert sample("switchboard_connection_rate_limit_wait_seconds_total", connection="desk") == waited + 4
    [span] = by_name(spans)["execute_tool desk__ticket"]
    events = [e for e in span.events if e.name == "switchboard.retry"]
    assert [e.attributes["status"] for e in events] == [429, 429]
    # the run's own record still carries each retry (the span did not swallow them)
    [step] = [s for s in run_view(db, run_id)["steps"] if s["kind"] == "tool_call"]
    assert [r["status"] for r in step["data"]["retries"]] == [429, 429]
    await client.aclose()


async def test_without_tracing_no_span_is_made_but_counters_are_kept(db: Database) -> None:
    from app.observability import tracing

    assert tracing.TRACER is None
    system = FakeSystem()
    model = ScriptedModel([tool_use("shop__lookup", {"order_id": 7}), text("Shipped.")])
    orch = orchestrator(db, model, system.catalogue())
    calls = sample("switchboard_model_calls_total", model="scripted", outcome="ok")
    finished = sample("switchboard_run_advances_total", kind="test", outcome="finished")
    new_run(db)
    await orch.drain("w1")
    assert sample("switchboard_model_calls_total", model="scripted", outcome="ok") == calls + 2
    assert sample("switchboard_run_advances_total", kind="test", outcome="finished") == finished + 1
    assert system.reads == [{"order_id": 7}]


async def test_a_streamed_model_call_is_one_span_with_its_usage(
    db: Database, spans: InMemorySpanExporter
) -> None:
    model = ScriptedModel([text("Order 7 has shipped, it should arrive tomorrow.")])
    orch = orchestrator(db, model, Catalogue())
    run_id = new_run(db)
    deltas: list[str] = []
    assert await orch.advance_now(run_id, "w1", on_delta=deltas.append) == "succeeded"
    assert "".join(deltas) == "Order 7 has shipped, it should arrive tomorrow."
    [chat] = by_name(spans)["chat scripted"]
    assert chat.attributes["gen_ai.usage.output_tokens"] == 5
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)


async def test_a_failing_model_call_fails_its_span_and_the_advance(
    db: Database, spans: InMemorySpanExporter
) -> None:
    orch = orchestrator(db, ScriptedModel(), Catalogue())  # nothing scripted: the call raises
    before = sample("switchboard_model_calls_total", model="scripted", outcome="ScriptExhausted")
    run_id = new_run(db)
    await orch.drain("w1")
    assert run_view(db, run_id)["status"] == "failed"
    found = by_name(spans)
    [chat] = found["chat scripted"]
    assert chat.status.status_code == StatusCode.ERROR
    assert chat.attributes["error.type"] == "ScriptExhausted"
    [advance] = found["invoke_agent test"]
    assert advance.status.status_code == StatusCode.ERROR
    assert advance.attributes["error.type"] == "ScriptExhausted"
    assert sample("switchboard_model_calls_total", model="scripted", outcome="ScriptExhausted") == before + 1
