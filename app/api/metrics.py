"""Prometheus metrics: HTTP traffic, this process's counters, and gauges read at scrape time.

The counters of model calls, tool calls, retries and run advances are kept where they
happen (app/observability/metrics.py, one registry). The gauges here come from the
database when `/metrics` is scraped (app/services/monitoring.py), in a handful of aggregate queries whose cost does
not grow with the rows they count beyond an index scan: runs by status, the queue and
its oldest runnable run, pending approvals and the oldest, credentials' expiry.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import HTTPException
from prometheus_client import Counter, Gauge, Histogram

from app.observability.metrics import REGISTRY
from app.services import monitoring

if TYPE_CHECKING:
    from app.services.dashboard import Database

__all__ = ["REGISTRY", "observe_request", "refresh"]

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
QUEUE_DEPTH = Gauge(
    "switchboard_queue_depth",
    "Queued runs: runnable now, or waiting out a backoff",
    ["state"],
    registry=REGISTRY,
)
QUEUE_AGE = Gauge(
    "switchboard_queue_oldest_age_seconds",
    "How long the oldest runnable queued run has waited (0 when none waits)",
    registry=REGISTRY,
)
APPROVALS_PENDING = Gauge(
    "switchboard_approvals_pending", "Actions waiting for a decision", registry=REGISTRY
)
APPROVALS_AGE = Gauge(
    "switchboard_approvals_oldest_age_seconds",
    "How long the oldest pending action has waited for a decision (0 when none waits)",
    registry=REGISTRY,
)
CREDENTIAL_EXPIRY = Gauge(
    "switchboard_credential_expiry_seconds",
    "Seconds until a connection's credential expires (negative: expired)",
    ["connection"],
    registry=REGISTRY,
)
CONNECTION_UP = Gauge(
    "switchboard_connection_healthy",
    "1 when a connection's last check or call went well, 0 when it failed",
    ["connection"],
    registry=REGISTRY,
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def check_scraper(token: str | None, authorization: str | None) -> None:
    """A scrape may read /metrics: anyone's when no token is configured, else only one that
    sends it as a bearer token (compared in constant time); a 401 otherwise."""
    token = (token or "").strip()  # as a scraper's is read: a stray newline would match nothing
    if not token:
        return
    scheme, _, sent = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        raise HTTPException(
            401,
            "/metrics needs the scrape token: send 'Authorization: Bearer SWITCHBOARD_METRICS_TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def refresh(db: Database) -> None:
    figures = monitoring.scrape(db)
    RUNS.clear()
    for kind, status, n in figures.runs:
        RUNS.labels(kind, status).set(n)
    ACTIONS.clear()
    for status, n in figures.actions.items():
        ACTIONS.labels(status).set(n)
    TOKENS.labels("input").set(figures.input_tokens)
    TOKENS.labels("output").set(figures.output_tokens)
    COST.set(figures.cost_usd)
    QUEUE_DEPTH.labels("runnable").set(figures.queue_ready)
    QUEUE_DEPTH.labels("backoff").set(figures.queue_waiting)
    QUEUE_AGE.set(figures.queue_age)
    APPROVALS_PENDING.set(figures.approvals_pending)
    APPROVALS_AGE.set(figures.approvals_age)
    CREDENTIAL_EXPIRY.clear()
    for name, seconds in figures.credential_expiry.items():
        CREDENTIAL_EXPIRY.labels(name).set(seconds)
    CONNECTION_UP.clear()
    for name, up in figures.connection_up.items():
        CONNECTION_UP.labels(name).set(up)
