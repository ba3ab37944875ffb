"""Spans into memory, read back as the SDK would export them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.observability import tracing
from app.observability.metrics import REGISTRY


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_provider(tracing.tracer_provider(SimpleSpanProcessor(exporter)))
    try:
        yield exporter
    finally:
        tracing.shutdown()


def sample(name: str, **labels: str) -> float:
    """A counter's value now (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
