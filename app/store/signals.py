"""Wake-ups across processes: PostgreSQL's LISTEN/NOTIFY for runs that are ready to claim.

A trigger (migration 0012) sends a notice on CHANNEL whenever a run is queued, but for the runs
their creator advances at once (a chat turn, a workflow's draft, an MCP client's write). NOTIFY
is delivered when the transaction commits, so a listener never hears of a run it cannot see yet.
`listen_for_queued` keeps one connection listening and calls `wake()` for each notice about
its own schema (a notice names the schema of its run, migration 0014: channels belong to the
whole database, which several deployments may share in schemas of their own). The
worker's poll stays the fallback: a notice sent while the listener reconnects is found by the
next poll, and a wake-up on reconnecting covers the gap.

SQLite has no such signal. There `watch_for_queued` looks at the database's commit counter
(`PRAGMA data_version`, which moves whenever another connection, of any process, commits) every
WATCH_SECONDS, and only when it moved asks whether a run is queued: a worker in a process of its
own claims a ticket the API took, or a write a person approved, within tens of milliseconds, not
at its next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger("switchboard.signals")

CHANNEL = "switchboard_runs"
LISTENER_NAME = "switchboard-listener"  # its application_name, as operators see it in pg_stat_activity
RETRY_FIRST, RETRY_MOST = 0.5, 10.0
# How often a SQLite worker looks at the commit counter: a pragma read from memory when idle.
WATCH_SECONDS = 0.025
# Run kinds their creator advances in place at once (Orchestrator.advance_now): not announced
# when created, so no worker races the creator for them (a chat turn advanced elsewhere streams no
# live text), but announced when queued again (after an approval). Migration 0012's trigger
# spares the same kinds on PostgreSQL.
IN_PLACE_KINDS = ("chat", "workflow_draft", "mcp_call")
# A connection dropped silently (a NAT or firewall forgetting it) never says so: the listener
# asks the server something this often while no notice comes, and reconnects if it gets no answer.
HEARTBEAT_SECONDS = 30.0


def libpq_url(url: str) -> str:
    """The database URL as libpq reads it (SQLAlchemy's names its driver: postgresql+psycopg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# The schema that holds the runs table this connection sees (its search_path may name others
# first, or ones that do not exist), spelled as the trigger's TG_TABLE_SCHEMA: unquoted.
RUNS_SCHEMA = (
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('runs')"
)


async def _schema(conn: Any) -> str | None:
    cur = await conn.execute(RUNS_SCHEMA)
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def listen_for_queued(url: str, wake: Callable[[], None]) -> None:
    """Until cancelled: listen on CHANNEL and call `wake()` for each notice, reconnecting with a
    growing pause when the connection fails or stops answering. Returns at once for a database
    that is not PostgreSQL."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    import psycopg

    pause = RETRY_FIRST
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_url(url), autocommit=True, application_name=LISTENER_NAME
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                ours = await _schema(conn)
                pause = RETRY_FIRST
                wake()  # runs queued while nobody listened
                while True:
                    async for notice in conn.notifies(timeout=HEARTBEAT_SECONDS):
                        if notice.payload == ours:  # a database not yet at 0014: polls alone
                            wake()
                    await asyncio.wait_for(conn.execute("SELECT 1"), HEARTBEAT_SECONDS)
        except Exception as exc:  # never the worker's end: it polls while this reconnects
            log.warning("listening for queued runs failed (%s); polling until it reconnects", exc)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_MOST)


async def watch_for_queued(
    url: str,
    wake: Callable[[], None],
    *,
    every: float | None = None,
    wanted: Callable[[], bool] = lambda: True,
) -> None:
    """Until cancelled (SQLite): call `wake()` when another connection has committed since the
    last look and a queued run is there to claim; once at the start, for runs queued before.
    Looks only while `wanted()` (the worker waits with a free slot): a busy worker's own commits
    move the counter all the time, and it claims again as soon as a slot frees anyway.
    Returns at once for another database, or one in memory (one process: its own Wakeup says).
    A failed look is logged and tried again: the worker's poll covers the gap."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    watcher = _Watcher(url)
    loop = asyncio.get_running_loop()
    # One thread of its own: looks, a reset and the close run one after another, so the close
    # waits for a look a cancel left running instead of closing the connection under it.
    thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-watch")
    try:
        while True:
            try:
                if wanted() and await loop.run_in_executor(thread, watcher.queued_since):
                    wake()
            except Exception as exc:  # never the worker's end: it polls meanwhile
                log.warning("watching for queued runs failed (%s); polling meanwhile", exc)
                await loop.run_in_executor(thread, watcher.reset)
            await asyncio.sleep(WATCH_SECONDS if every is None else every)
    finally:
        closed = loop.run_in_executor(thread, watcher.close)
        thread.shutdown(wait=False)
        await closed


class _Watcher:
    """One connection kept for the commit counter, which is its connection's own."""

    def __init__(self, url: str):
        from app.store.db import make_engine

        self.engine = make_engine(url)
        self.conn: Any = None
        self.version: int | None = None

    def queued_since(self) -> bool:
        """Whether the counter moved since the last look and a run is queued now."""
        from sqlalchemy import and_, or_, select

        from app.store.tables import Run, utcnow

        if self.conn is None:
            self.conn = self.engine.connect()
        version = self.conn.exec_driver_sql("PRAGMA data_version").scalar()
        if version == self.version:
            return False
        self.version = version
        queued = select(Run.id).where(
            Run.status == "queued",
            or_(Run.not_before.is_(None), Run.not_before <= utcnow()),
            or_(Run.attempts > 0, and_(*(Run.kind != kind for kind in IN_PLACE_KINDS))),
        )
        try:
            return self.conn.execute(queued.limit(1)).first() is not None
        finally:
            self.conn.rollback()  # SQLAlchemy's own end of it: SQLite began nothing

    def reset(self) -> None:
        """After a failed look: a new connection, and the next look asks whatever the counter says."""
        self.close()
        self.version = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.engine.dispose()
