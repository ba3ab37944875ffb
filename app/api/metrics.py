"""Prometheus metrics: HTTP traffic, plus queue and run gauges read at scrape time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.services import dashboard

if TYPE_CHECKING:
    from app.services.dashboard import Database

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "switchboard_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram("switchboard_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY)
RUNS = Gauge("switchboard_runs", "Runs by kind and status", ["kind", "status"], registry=REGISTRY)
ACTIONS = Gauge("switchboard_actions", "Actions by status", ["status"], registry=REGISTRY)
TOKENS = Gauge("switchboard_model_tokens", "Model tokens used, all runs", ["direction"], registry=REGISTRY)
AUTH_FAILURES = Counter(
    "switchboard_auth_failures_total",
    "Requests refused for a missing, unknown or expired token or a bad webhook signature",
    ["surface"],
    registry=REGISTRY,
)
COST = Gauge("switchboard_model_cost_usd", "Model cost in USD, all runs", registry=REGISTRY)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def refresh(db: Database) -> None:
    totals = dashboard.run_totals(db)
    by_status = dashboard.actions_by_status(db)
    RUNS.clear()
    for kind, status, n in totals["runs"]:
        RUNS.labels(kind, status).set(n)
    ACTIONS.clear()
    for status, n in by_status.items():
        ACTIONS.labels(status).set(n)
    TOKENS.labels("input").set(totals["input_tokens"])
    TOKENS.labels("output").set(totals["output_tokens"])
    COST.set(totals["cost_usd"])
