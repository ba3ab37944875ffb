"""Wake-ups across processes: PostgreSQL's LISTEN/NOTIFY for runs that are ready to claim.

A trigger (migration 0012) sends a notice on CHANNEL whenever a run is queued, but for the runs
their creator advances at once (a chat turn, a workflow's draft, an MCP client's write). NOTIFY
is delivered when the transaction commits, so a listener never hears of a run it cannot see yet.
`listen_for_queued` keeps one connection listening and calls `wake()` for each notice about
its own schema (a notice names the schema of its run, migration 0014: channels belong to the
whole database, which several deployments may share in schemas of their own). The
worker's poll stays the fallback: a notice sent while the listener reconnects is found by the
next poll, and a wake-up on reconnecting covers the gap. SQLite has no such signal: there it
returns at once and workers poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger("switchboard.signals")

CHANNEL = "switchboard_runs"
LISTENER_NAME = "switchboard-listener"  # its application_name, as operators see it in pg_stat_activity
RETRY_FIRST, RETRY_MOST = 0.5, 10.0
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
