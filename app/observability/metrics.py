"""Counters of what this process did: model calls, tool calls, retries, run advances.

They live in the one registry `/metrics` serves (app/api/metrics.py adds the gauges it
reads from the database at scrape time). A separate worker process serves its own on
SWITCHBOARD_METRICS_PORT, since counters are per process.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from connectors.limits import ConcurrencyLimit

log = logging.getLogger("switchboard.metrics")

REGISTRY = CollectorRegistry()

# Seconds: from a few milliseconds (a simulator on loopback) to a slow system behind retries.
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

TOOL_CALL_SECONDS = Histogram(
    "switchboard_tool_call_seconds",
    "Tool call latency (a connector operation, retries and waits included)",
    ["connection", "operation"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
TOOL_ERRORS = Counter(
    "switchboard_tool_call_errors_total",
    "Tool calls that failed, by connection, operation and error type (a status code or exception)",
    ["connection", "operation", "error_type"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "switchboard_connection_retries_total",
    "Calls to a connected system that were retried, by reason (rate_limited, unavailable, network)",
    ["connection", "reason"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "switchboard_connection_rate_limit_wait_seconds_total",
    "Seconds spent waiting before retrying calls a system refused with 429",
    ["connection"],
    registry=REGISTRY,
)
MODEL_CALLS = Counter(
    "switchboard_model_calls_total",
    "Model calls by model and outcome (ok or an error type)",
    ["model", "outcome"],
    registry=REGISTRY,
)
MODEL_SECONDS = Histogram(
    "switchboard_model_call_seconds",
    "Model call latency",
    ["model"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "switchboard_model_call_tokens_total",
    "Tokens by model and type (input, output, cache_read, cache_write)",
    ["model", "type"],
    registry=REGISTRY,
)
MODEL_COST = Counter(
    "switchboard_model_call_cost_usd_total",
    "Model cost in US dollars at list prices, by model",
    ["model"],
    registry=REGISTRY,
)
# Seconds: a store call is a fraction of a millisecond on an idle database and tens of them when
# its writers queue (SQLite's one writer) or its connections wait for a CPU.
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

STORE_CALL_SECONDS = Histogram(
    "switchboard_store_call_seconds",
    "Time a run waited on one call to its store (claims, steps, status), from the loop handing it "
    "to a store thread until the answer is back: a free thread, SQLite's writer turn, the database",
    ["call"],
    buckets=_STORE_BUCKETS,
    registry=REGISTRY,
)
SQLITE_WRITER_WAIT_SECONDS = Histogram(
    "switchboard_sqlite_writer_wait_seconds",
    "Time a unit of work waited for this process's other SQLite writers before it began",
    buckets=_STORE_BUCKETS,
    registry=REGISTRY,
)

RUN_ADVANCES = Counter(
    "switchboard_run_advances_total",
    "Run advances by kind and outcome (finished, waiting, failed, or an error type)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
RUN_ADVANCE_SECONDS = Histogram(
    "switchboard_run_advance_seconds",
    "Time one advance of a run took (until it finished, parked or failed)",
    ["kind"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)


def retry_reason(event: dict[str, Any]) -> str:
    """The kind of a retry the transport reported: rate_limited (429), unavailable (5xx), network."""
    status = event.get("status")
    if status == 429:
        return "rate_limited"
    if isinstance(status, int):
        return "unavailable"
    return "network"


def observe_retries(connection: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        reason = retry_reason(event)
        RETRIES.labels(connection, reason).inc()
        wait = event.get("wait_seconds")
        if reason == "rate_limited" and isinstance(wait, int | float):
            RATE_LIMIT_WAIT.labels(connection).inc(wait)


def serve_metrics(port: int | None, addr: str = "0.0.0.0") -> bool:
    """Serve this process's counters on their own port (a worker has no HTTP API)."""
    if not port:
        return False
    start_http_server(port, addr=addr, registry=REGISTRY)
    log.info("metrics on :%d/metrics", port)
    return True


class LimitCollector(Collector):
    """Calls in flight and waits on each concurrency limit of this process (per model provider,
    per connection), read from the limits themselves when scraped; same-named limits add up."""

    def collect(self) -> Any:
        totals: dict[str, dict[str, float]] = {}
        for limit in list(ConcurrencyLimit.live):
            t = totals.setdefault(
                limit.name, {"slots": 0, "in_flight": 0, "waiting": 0, "waits": 0, "seconds": 0}
            )
            t["slots"] += limit.limit or 0
            t["in_flight"] += limit.in_flight
            t["waiting"] += limit.waiting
            t["waits"] += limit.waits
            t["seconds"] += limit.waited_seconds
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "slots": GaugeMetricFamily(
                "switchboard_concurrency_limit_slots", "Calls allowed at once (0: no limit)", labels=["limit"]
            ),
            "in_flight": GaugeMetricFamily(
                "switchboard_concurrency_limit_in_flight", "Calls holding a slot now", labels=["limit"]
            ),
            "waiting": GaugeMetricFamily(
                "switchboard_concurrency_limit_waiting", "Calls waiting for a free slot now", labels=["limit"]
            ),
            "waits": CounterMetricFamily(
                "switchboard_concurrency_limit_waits",
                "Calls that had to wait for a free slot",
                labels=["limit"],
            ),
            "seconds": CounterMetricFamily(
                "switchboard_concurrency_limit_wait_seconds",
                "Seconds calls spent waiting for a free slot",
                labels=["limit"],
            ),
        }
        for name, t in sorted(totals.items()):
            for key, family in families.items():
                family.add_metric([name], t[key])
        yield from families.values()


REGISTRY.register(LimitCollector())
