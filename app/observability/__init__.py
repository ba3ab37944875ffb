"""Watching Switchboard run: traces (OpenTelemetry, GenAI conventions), counters, logs with run ids.

`context` holds the run id and tool call being worked on (standard library only, so any
layer may set them); `instrument` wraps an orchestrator's model, tools and pipelines;
`tracing` exports spans over OTLP where configured; `metrics` keeps this process's counters;
`logs` writes text or JSON lines.
"""
