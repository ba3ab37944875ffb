"""Prometheus metrics: HTTP traffic, plus queue and run gauges read at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select

from app.store.db import Database
from app.store.tables import Action, Run

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
    with db.session() as s:
        RUNS.clear()
        for kind, status, n in s.execute(
            select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status)
        ):
            RUNS.labels(kind, status).set(n)
        ACTIONS.clear()
        for status, n in s.execute(select(Action.status, func.count()).group_by(Action.status)):
            ACTIONS.labels(status).set(n)
        inp, out, cost = s.execute(
            select(
                func.coalesce(func.sum(Run.input_tokens), 0),
                func.coalesce(func.sum(Run.output_tokens), 0),
                func.coalesce(func.sum(Run.cost_usd), 0.0),
            )
        ).one()
        TOKENS.labels("input").set(inp)
        TOKENS.labels("output").set(out)
        COST.set(cost)
