"""SQLite: a worker in a process of its own hears of a run another process queued from the
database's commit counter, not at its next poll, with the exceptions PostgreSQL's notices make
(a run its creator advances at once is announced only when queued again)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import update

from app.store import signals
from app.store.db import Database
from app.store.runs import audit
from app.store.signals import watch_for_queued
from app.store.tables import Run


@pytest.fixture
def elsewhere(sqlite_db: Database) -> Iterator[Database]:
    """The same database as another process (the API, an approver) opens it."""
    other = Database(sqlite_db.url)
    yield other
    other.dispose()


@pytest.fixture
async def woken(sqlite_db: Database) -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    watching = asyncio.create_task(watch_for_queued(sqlite_db.url, event.set, every=0.01))
    await asyncio.sleep(0.05)  # its first look: the counter, and nothing queued
    yield event
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching


def _queue(db: Database, kind: str = "triage") -> str:
    with db.session() as s:
        run = Run(kind=kind, input={})
        s.add(run)
        s.flush()
        return run.id


async def _not_woken(event: asyncio.Event) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(event.wait(), 0.3)


async def test_a_run_queued_by_another_connection_wakes_the_watcher(
    woken: asyncio.Event, elsewhere: Database
) -> None:
    assert not woken.is_set()
    with elsewhere.session() as s:  # a commit that queues nothing
        audit(s, "ann", "test.event", "run", "r0", {})
    await _not_woken(woken)
    _queue(elsewhere)
    await asyncio.wait_for(woken.wait(), 5)


async def test_a_run_its_creator_advances_at_once_is_announced_only_when_queued_again(
    woken: asyncio.Event, elsewhere: Database
) -> None:
    run_id = _queue(elsewhere, kind="chat")  # the API advances it itself, at once
    await _not_woken(woken)
    with elsewhere.session() as s:  # claimed, parked for an approval, then approved
        s.execute(update(Run).where(Run.id == run_id).values(status="waiting_approval", attempts=1))
    await _not_woken(woken)
    with elsewhere.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(status="queued"))
    await asyncio.wait_for(woken.wait(), 5)


async def test_runs_queued_before_the_watch_began_wake_it_at_once(sqlite_db: Database) -> None:
    _queue(sqlite_db)
    event = asyncio.Event()
    watching = asyncio.create_task(watch_for_queued(sqlite_db.url, event.set, every=0.01))
    try:
        await asyncio.wait_for(event.wait(), 5)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def test_postgresql_and_memory_databases_are_not_watched() -> None:
    await asyncio.wait_for(watch_for_queued("postgresql://nobody@127.0.0.1:1/none", lambda: None), 1)
    await asyncio.wait_for(watch_for_queued("sqlite://", lambda: None), 1)
    await asyncio.wait_for(watch_for_queued("sqlite:///:memory:", lambda: None), 1)


async def test_a_failed_look_is_tried_again(
    woken: asyncio.Event,
    elsewhere: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = signals._Watcher.queued_since
    failures = [RuntimeError("disk I/O error")]

    def flaky(self: signals._Watcher) -> bool:
        if failures:
            raise failures.pop()
        return real(self)

    monkeypatch.setattr(signals._Watcher, "queued_since", flaky)
    await asyncio.sleep(0.05)
    assert "watching for queued runs failed (disk I/O error)" in caplog.text
    _queue(elsewhere)
    await asyncio.wait_for(woken.wait(), 5)


async def test_a_worker_with_no_free_slot_is_not_looked_for(sqlite_db: Database, elsewhere: Database) -> None:
    """A busy worker's own commits move the counter all the time; the watch looks only while the
    worker waits with a slot free (`wanted`), and then tells it of what was queued meanwhile."""
    wanted = [False]
    event = asyncio.Event()
    watching = asyncio.create_task(
        watch_for_queued(sqlite_db.url, event.set, every=0.01, wanted=lambda: wanted[0])
    )
    try:
        _queue(elsewhere)
        await _not_woken(event)
        wanted[0] = True
        await asyncio.wait_for(event.wait(), 5)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def test_a_watch_cancelled_mid_look_closes_its_connection_after_the_look(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel ends the wait, not the look running in its thread: the close comes after that
    look, never beside it, and no connection is left open."""
    real, real_close = signals._Watcher.queued_since, signals._Watcher.close
    inside, events, watchers = threading.Event(), [], []

    def slow(self: signals._Watcher) -> bool:
        watchers.append(self)
        inside.set()
        time.sleep(0.3)
        looked = real(self)
        events.append("look done")
        return looked

    def close(self: signals._Watcher) -> None:
        events.append("close start")
        real_close(self)
        events.append("close done")

    monkeypatch.setattr(signals._Watcher, "queued_since", slow)
    monkeypatch.setattr(signals._Watcher, "close", close)
    watching = asyncio.create_task(watch_for_queued(sqlite_db.url, lambda: None, every=0.01))
    await asyncio.to_thread(inside.wait, 5)
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    assert events == ["look done", "close start", "close done"]
    assert watchers[0].conn is None
