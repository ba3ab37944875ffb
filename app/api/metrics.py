"""Prometheus metrics: HTTP traffic, this process's counters, and gauges read at scrape time.

The counters of model calls, tool calls, retries and run advances are kept where they
happen (app/observability/metrics.py, one registry). The gauges here come from the
database when `/metrics` is scraped, in a handful of aggregate queries whose cost does
not grow with the rows they count beyond an index scan: runs by status, the queue and
its oldest runnable run, pending approvals and the oldest, credentials' expiry.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.observability.metrics import REGISTRY
from app.store.db import Database
from app.store.tables import Action, Connection, Run, utcnow

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


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def refresh(db: Database) -> None:
    now = utcnow()
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
        _queue(s, now)
        pending, oldest = s.execute(
            select(func.count(), func.min(Action.created_at)).where(Action.status == "pending")
        ).one()
        APPROVALS_PENDING.set(pending)
        APPROVALS_AGE.set(_age(now, oldest))
        _connections(s, now)


def _queue(s: Session, now: datetime) -> None:
    runnable = or_(Run.not_before.is_(None), Run.not_before <= now)
    # A run that waited out a backoff has waited in the queue since its not_before.
    since = case(
        (and_(Run.not_before.is_not(None), Run.not_before > Run.updated_at), Run.not_before),
        else_=Run.updated_at,
    )
    ready, waiting, oldest = s.execute(
        select(
            func.count(case((runnable, 1))),
            func.count(case((~runnable, 1))),
            func.min(case((runnable, since))),
        ).where(Run.status == "queued")
    ).one()
    QUEUE_DEPTH.labels("runnable").set(ready)
    QUEUE_DEPTH.labels("backoff").set(waiting)
    QUEUE_AGE.set(_age(now, oldest))


def _connections(s: Session, now: datetime) -> None:
    CREDENTIAL_EXPIRY.clear()
    CONNECTION_UP.clear()
    rows = s.execute(select(Connection.name, Connection.status, Connection.token_expires_at))
    for name, status, expires in rows:
        if expires is not None:
            CREDENTIAL_EXPIRY.labels(name).set((expires - now).total_seconds())
        if status in ("ok", "error"):
            CONNECTION_UP.labels(name).set(1 if status == "ok" else 0)
