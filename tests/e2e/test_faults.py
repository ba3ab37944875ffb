"""Faults under load, end to end: real `switchboard worker` processes, tickets arriving and a
person approving writes as they appear, while something breaks.

- workers killed with SIGKILL again and again, new ones started;
- the workers' PostgreSQL connections terminated while they work;
- the help desk down (503, then refusing connections) for a window, then back;
- the model provider answering 429 with retry-after for a window, then normally (through
  the real OpenAI SDK adapter against a loopback server).

After each, every run has finished or waits visibly for a person (a pending decision, or a
failed write with its error), and every approved write was applied by the help desk exactly
once, counted from the simulator's own record of what it received (by idempotency key).

Outage windows are short here so CI stays bounded; SWITCHBOARD_FAULT_WINDOW=60 runs them for a
full minute. The waits in between are shortened through settings (lease, poll, the longest
backoff, the connection's retry and circuit-breaker settings), never by retrying less.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update

from app.store.db import normalize_url
from app.store.tables import Connection
from connectors.helpdesk.simulator import create_app
from tests.e2e.test_crash_recovery import Rig
from tests.support.faults import Outcome, Traffic, window
from tests.support.loopback import LoopbackServer
from tests.support.model_server import TriageModelServer
from tests.support.processes import kill, wait_for

pytestmark = pytest.mark.e2e

WINDOW = window(10)  # seconds an outage lasts
# Passing faults are retried after 1, 2, 2, 2 … seconds instead of 1, 2, 4 … 300: the waits
# shrink with the window, so the same number of passes still outlasts it.
FAST = {
    "SWITCHBOARD_LEASE_SECONDS": "3",
    "SWITCHBOARD_POLL_SECONDS": "0.2",
    "SWITCHBOARD_BACKOFF_MAX_SECONDS": f"{max(2.0, WINDOW / 5):g}",
    "SWITCHBOARD_SWEEP_SECONDS": "2",
}


class HelpDesk:
    """The help desk simulator on a fixed loopback port, which can go away and come back."""

    def __init__(self) -> None:
        self.app = create_app()
        self.server = LoopbackServer(self.app).start()
        self.port = self.server.port
        self.url = self.server.url

    def refuse_connections(self) -> None:
        self.server.stop()

    def back(self) -> None:
        self.server = LoopbackServer(self.app, port=self.port).start()

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def helpdesk() -> Iterator[HelpDesk]:
    h = HelpDesk()
    yield h
    h.close()


@pytest.fixture
def model() -> Iterator[tuple[TriageModelServer, str]]:
    server = TriageModelServer(latency=0.2)
    with LoopbackServer(server.app) as loopback:
        yield server, loopback.url


@pytest.fixture
def rig(
    db_url: str, tmp_path: Path, helpdesk: HelpDesk, model: tuple[TriageModelServer, str]
) -> Iterator[Rig]:
    r = Rig(db_url, tmp_path, helpdesk.url)
    r.env.update(FAST)
    # A hosted model through the OpenAI adapter (a loopback server): quick to start, slow to answer.
    r.env.update(
        {
            "SWITCHBOARD_MODEL": "openai:triage-bot",
            "OPENAI_BASE_URL": f"{model[1]}/v1",
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
        }
    )
    # The connection's own retries and circuit breaker, shortened for the test's outage window.
    with r.c.db.session() as s:
        s.execute(
            update(Connection)
            .where(Connection.name == "helpdesk")
            .values(config={"circuit_reset_seconds": 2, "retry_backoff_seconds": 0.2})
        )
    yield r
    r.close()


def assert_sound(out: Outcome, *, all_succeeded: bool) -> None:
    statuses = sorted(r["status"] for r in out.runs.values())
    print(f"\nruns: {statuses}; approved writes: {len(out.approved())}; applied: {sum(out.applied.values())}")
    assert out.unsettled() == [], [(k, out.runs[k]) for k in out.unsettled()]
    assert out.problems() == []
    if all_succeeded:
        assert statuses == ["succeeded"] * len(statuses), [r["error"] for r in out.runs.values()]
        assert out.approved(), "no write was approved; the test proved nothing"
        assert all(a["status"] == "succeeded" for a in out.approved().values())


def test_workers_killed_under_load(rig: Rig, helpdesk: HelpDesk) -> None:
    """Three workers; every second and a half one of them is killed with SIGKILL and a new one started."""
    workers = [rig.worker() for _ in range(3)]
    traffic = Traffic(rig, helpdesk.app, tickets=8, every=0.6).start()
    rng = random.Random(13)
    kills = 0
    try:
        end = time.monotonic() + 9
        while time.monotonic() < end:
            time.sleep(1.5)
            victim = workers.pop(rng.randrange(len(workers)))
            kill(victim, signal.SIGKILL)
            kills += 1
            workers.append(rig.worker())
        out = traffic.settle(timeout=90)
    finally:
        traffic.stop()
    print(f"\nkills: {kills}; approvals: {traffic.approvals}")
    assert_sound(out, all_succeeded=True)


def test_helpdesk_down_for_a_window(rig: Rig, helpdesk: HelpDesk) -> None:
    """503 for the first half of the window, connections refused for the second half, then back.

    Runs reading meet the outage and are retried with backoff; approved writes meeting it are
    retried with the same key and, if the outage outlasts their attempts, wait for a person
    (needs_attention, with the error). Once the help desk is back the person retries those,
    and every run finishes with each write applied once.
    """
    outage = WINDOW
    for _ in range(2):
        rig.worker()
    traffic = Traffic(rig, helpdesk.app, tickets=6, every=1.5).start()
    try:
        # once writes are being approved: some runs are mid-read, some parked, some writes executing
        wait_for("the first approval", lambda: traffic.approvals, timeout=60)
        rig.faults(outage_seconds=outage / 2, status=503)
        time.sleep(outage / 2)
        helpdesk.refuse_connections()
        time.sleep(outage / 2)
        helpdesk.back()
        during = traffic.settle(timeout=60, done=("succeeded", "needs_attention"))
        assert during.unsettled() == [], [(k, during.runs[k]) for k in during.unsettled()]
        retried = traffic.retry_failed()
        out = traffic.settle(timeout=60)
    finally:
        traffic.stop()
    print(f"\nwrites retried by a person after the outage: {retried}; runs sent back: {traffic.retried()}")
    assert helpdesk.app.state.faults.snapshot()["injected"] > 0, "the outage was never met"
    assert traffic.retried() > 0, "no run met the outage"
    assert_sound(out, all_succeeded=True)


# The model's rate limit meets the orchestrator, not the database (the requeue it leads to is the
# same store call as a connector outage's, run on both databases above): SQLite keeps CI short.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_model_rate_limited_for_a_window(
    rig: Rig, helpdesk: HelpDesk, model: tuple[TriageModelServer, str]
) -> None:
    """The model provider answers 429 (retry-after: 1) to everything for the window; the SDK's
    own retries give up within it, so runs go back to the queue with backoff until it passes."""
    server = model[0]
    for _ in range(2):
        rig.worker()
    traffic = Traffic(rig, helpdesk.app, tickets=6, every=1.0).start()
    try:
        wait_for("the workers to call the model", lambda: server.served >= 2, timeout=60)
        server.rate_limit(WINDOW, retry_after=1)
        out = traffic.settle(timeout=WINDOW + 60)
    finally:
        traffic.stop()
    print(
        f"\nmodel requests refused: {server.refused}; served: {server.served}; runs sent back: {traffic.retried()}"
    )
    assert server.refused > 0, "the rate limit was never met"
    assert traffic.retried() > 0, "no run went back to the queue for the rate limit"
    assert_sound(out, all_succeeded=True)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_database_connections_terminated_under_load(db_url: str, rig: Rig, helpdesk: HelpDesk) -> None:
    """pg_terminate_backend on every connection of the workers three times a second, and on each
    busy one as soon as it shows, while runs triage and writes execute: idle ones are replaced by
    the pool, busy ones fail mid-transaction."""
    name = f"sb-worker-{uuid.uuid4().hex[:8]}"
    rig.env["DATABASE_URL"] = f"{db_url}&application_name={name}"
    for _ in range(2):
        rig.worker()
    traffic = Traffic(rig, helpdesk.app, tickets=10, every=0.6).start()
    stop = threading.Event()
    cut: list[str | None] = []  # the state each terminated connection was in

    def terminate() -> None:
        # Every connection three times a second; in between, busy ones as soon as they show:
        # the store's transactions last a few milliseconds, so a slower look sees only idle ones.
        engine = create_engine(normalize_url(db_url))
        everyone = text(
            "SELECT pg_terminate_backend(pid), state FROM pg_stat_activity WHERE application_name = :name"
        )
        busy_only = text(
            "SELECT pg_terminate_backend(pid), state FROM pg_stat_activity "
            "WHERE application_name = :name AND state <> 'idle'"
        )
        with engine.connect() as conn:
            last_sweep = 0.0
            while not stop.is_set():
                sweep = time.monotonic() - last_sweep >= 0.3
                rows = conn.execute(everyone if sweep else busy_only, {"name": name}).all()
                conn.commit()
                last_sweep = time.monotonic() if sweep else last_sweep
                cut.extend(state for ok, state in rows if ok)
                stop.wait(0.005)
        engine.dispose()

    # This test is about runs in flight (a worker's start-up check has its own few retries),
    # so the cutting starts once runs are moving.
    wait_for("the workers at work", lambda: traffic.approvals, timeout=60)
    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        time.sleep(10)
        stop.set()
        killer.join()
        out = traffic.settle(timeout=90)
    finally:
        stop.set()
        killer.join()
        traffic.stop()
    busy = [state for state in cut if state != "idle"]
    print(f"\nconnections terminated: {len(cut)}, {len(busy)} of them busy; approvals: {traffic.approvals}")
    assert busy, "no busy connection was terminated; the test proved nothing"
    assert_sound(out, all_succeeded=True)
