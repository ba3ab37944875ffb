"""OpenTelemetry traces, exported over OTLP (HTTP/protobuf) only where configured.

Configured means the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` …, read by the SDK itself) or
`SWITCHBOARD_OTLP_ENDPOINT`. Otherwise no SDK is imported, `TRACER` stays None and the
wrappers in app/observability/instrument.py skip span work entirely.

Every advance of a run is a root span whose trace id *is* the run id (run ids are
128-bit hex), so all advances of one run, on whichever worker, land in one trace.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.observability.context import RUN_ID

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger("switchboard.tracing")

# The tracer spans are made with; None when tracing is off (the default).
TRACER: Tracer | None = None
_PROVIDER: TracerProvider | None = None


def otlp_traces_endpoint(setting: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """Where spans go, or None when nothing is configured (or the SDK is turned off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if setting:
        return setting.rstrip("/") + "/v1/traces"
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return None


def tracer_provider(processor: SpanProcessor, env: Mapping[str, str] = os.environ) -> TracerProvider:
    """A provider whose root spans inside a run take the run id as their trace id."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RunTraceIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            run_id = RUN_ID.get()
            if run_id is not None and len(run_id) == 32:
                try:
                    value = int(run_id, 16)
                except ValueError:
                    value = 0
                if value:
                    return value
            return super().generate_trace_id()

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "switchboard"})
    provider = TracerProvider(resource=resource, id_generator=RunTraceIds())
    provider.add_span_processor(processor)
    return provider


def use_provider(provider: TracerProvider | None) -> None:
    """Make spans with this provider from now on (None: tracing off)."""
    global TRACER, _PROVIDER
    _PROVIDER = provider
    TRACER = provider.get_tracer("switchboard", "0.1.0") if provider is not None else None


def configure_tracing(setting: str | None = None, env: Mapping[str, str] = os.environ) -> bool:
    """Export spans over OTLP/HTTP when configured; once per process. True when tracing is on."""
    if _PROVIDER is not None:
        return True
    endpoint = otlp_traces_endpoint(setting, env)
    if endpoint is None:
        return False
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip() != "http/protobuf":
        log.warning("OTLP protocol %s is not supported here; exporting over http/protobuf", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = tracer_provider(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)), env)
    use_provider(provider)
    atexit.register(provider.shutdown)
    log.info("exporting traces to %s", endpoint)
    return True


def shutdown() -> None:
    """Flush what is buffered and stop tracing (tests; exit does this by itself)."""
    provider: Any = _PROVIDER
    use_provider(None)
    if provider is not None:
        provider.shutdown()
