"""Spans really leave the process: OTLP over HTTP/protobuf to a receiver on loopback."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.llm.scripted import ScriptedModel, text
from app.observability import tracing
from app.observability.instrument import instrument
from app.store.db import Database
from tests.observability.test_traces import orchestrator
from tests.support.runs import new_run
from tools.base import Catalogue


class Receiver:
    """A collector's trace endpoint: keeps each export request it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.path, headers, message))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[Any]:
        return [
            span
            for _, _, message in self.requests
            for resource in message.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        tracing.shutdown()
        r.server.shutdown()
        r.server.server_close()


def test_nothing_configured_means_no_exporter() -> None:
    assert tracing.otlp_traces_endpoint(None, {}) is None
    assert tracing.configure_tracing(None, {}) is False
    assert tracing.TRACER is None


def test_the_standard_variables_decide_where_spans_go() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert tracing.otlp_traces_endpoint(None, env) == "http://collector:4318/v1/traces"
    signal = {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom"}
    assert tracing.otlp_traces_endpoint(None, signal) == "http://traces:4318/custom"
    assert tracing.otlp_traces_endpoint("http://mine:4318", {}) == "http://mine:4318/v1/traces"
    assert tracing.otlp_traces_endpoint(None, {**env, "OTEL_SDK_DISABLED": "true"}) is None
    assert tracing.otlp_traces_endpoint(None, {**env, "OTEL_TRACES_EXPORTER": "none"}) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_spans_are_exported_over_otlp_http(
    db: Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=ops")  # read by the exporter itself
    env = {"OTEL_SERVICE_NAME": "switchboard-test"}
    assert tracing.configure_tracing(receiver.url, env) is True
    model = ScriptedModel([text("Hello.")])
    orch = orchestrator(db, model, Catalogue())
    run_id = new_run(db)
    await orch.drain("w1")
    tracing.shutdown()  # flushes the batch

    assert receiver.requests, "no export request reached the receiver"
    path, headers, message = receiver.requests[0]
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-team"] == "ops"
    resource = {a.key: a.value.string_value for a in message.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "switchboard-test"
    names = {s.name for s in receiver.spans()}
    assert names == {"invoke_agent test", "chat scripted"}
    assert {s.trace_id.hex() for s in receiver.spans()} == {run_id}
    chat = next(s for s in receiver.spans() if s.name == "chat scripted")
    attrs = {a.key: a.value for a in chat.attributes}
    assert attrs["gen_ai.operation.name"].string_value == "chat"
    assert attrs["gen_ai.usage.output_tokens"].int_value == 5
    assert attrs["switchboard.run.id"].string_value == run_id


def test_instrument_turns_tracing_on_only_when_configured(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    instrument(orchestrator(db, ScriptedModel(), Catalogue()))
    assert tracing.TRACER is None
