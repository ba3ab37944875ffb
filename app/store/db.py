"""Engine, sessions and migrations. SQLite by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.config import check_database_url
from app.observability.metrics import SQLITE_WRITER_WAIT_SECONDS
from app.store import audit_chain
from app.text import stored_json

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a unit of work waits for this process's other SQLite writers before it goes ahead
# and leaves the waiting to SQLite (as it would with no lock at all): never a deadlock.
WRITER_WAIT_SECONDS = 30.0
# SQLite's wait for a writer of another process: polled (see `_begin_immediate`) for this
# long, then left to SQLite's busy handler for its timeout, whose error names the lock.
BUSY_POLL_SECONDS = 5.0
BUSY_TIMEOUT_MS = 30_000
_POLL_FIRST, _POLL_MOST = 0.0005, 0.005
_clock = time.perf_counter  # the writer turn's wait is timed with it (a test gives its own)
# A pooled PostgreSQL connection idle longer than this is pinged before use (_ping_when_idle).
PING_IDLE_SECONDS = 1.0


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """`pool_size`: connections kept open (a worker's runs in flight each need one at a time)."""
    url = normalize_url(url)
    check_database_url(url)
    kwargs: dict[str, Any] = {"future": True, "json_serializer": stored_json}
    if pool_size is not None and ":memory:" not in url and url != "sqlite://":
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = max(10, pool_size // 2)
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while a worker writes; busy_timeout makes
            # concurrent writers from several processes wait instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    else:
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it has been idle a while, as `pool_pre_ping`
    does before every use: a connection used within PING_IDLE_SECONDS was alive then, and the
    ping (a round trip) would double the trips of a short read. A dead one is replaced before
    the caller sees it; one that died in that last second fails its statement, which every
    caller already meets as a transient database error."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.pop("idle_from", None)
        if idle_from is None or time.monotonic() - idle_from < PING_IDLE_SECONDS:
            return  # just opened, or just used
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection was found closed: {exc}") from exc


def sqlite_begin(conn: Connection, *, read_only: bool = False) -> None:
    """Begin SQLite's transaction on `conn` (the driver runs in autocommit and leaves it to us).

    BEGIN IMMEDIATE takes the write lock up front, so two processes cannot both read-then-write
    the same row (claims, decisions); reads begin deferred: under WAL they never wait for a
    writer. Called by Database where a unit of work begins, not from an engine "begin" event:
    any engine event makes SQLAlchemy dispatch its execute events around every statement."""
    if not read_only:
        _begin_immediate(conn)
        return
    raw: Any = conn.connection.driver_connection
    try:  # on the driver's connection: SQLAlchemy's work around a statement costs more than BEGIN
        raw.execute("BEGIN")
    except sqlite3.Error:
        conn.exec_driver_sql("BEGIN")  # meets the error again, raised wrapped as every database error is


def _session_begins(*, read_only: bool) -> Callable[[Session, Any, Connection], None]:
    """A Session's "after_begin" hook: SQLite's transaction begins with the Session's outermost
    one; a savepoint (`begin_nested`, told here too) is SQLAlchemy's SAVEPOINT inside it."""

    def begin(_session: Session, transaction: Any, conn: Connection) -> None:
        if not transaction.nested:
            sqlite_begin(conn, read_only=read_only)

    return begin


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "database is locked" in str(exc)


def _begin_immediate(conn: Any) -> None:
    """Take SQLite's write lock, waiting for a writer of another process by polling it often.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... up to 100 ms between tries, so a write
    that finds the lock taken waits on average half a sleep longer than the lock is held: the
    tail of an API write while a worker commits. Polled here at 0.5-5 ms for BUSY_POLL_SECONDS;
    then SQLite's handler waits what is left of BUSY_TIMEOUT_MS. Any error but a busy lock,
    and the last one, is raised by SQLAlchemy's own BEGIN, wrapped as every database error is."""
    raw = conn.connection.dbapi_connection
    started = time.monotonic()
    try:
        raw.execute("PRAGMA busy_timeout=0")
        wait = _POLL_FIRST
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() - started >= BUSY_POLL_SECONDS:
                    break
            else:
                with suppress(sqlite3.Error):
                    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                return
            _pause(wait)
            wait = min(wait * 2, _POLL_MOST)
        left = max(1, BUSY_TIMEOUT_MS - round((time.monotonic() - started) * 1000))
        raw.execute(f"PRAGMA busy_timeout={left}")
    except sqlite3.Error:
        pass  # the BEGIN below meets it again and raises it wrapped
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        with suppress(sqlite3.Error):
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # alembic takes a while to import; only migrations need it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


class Database:
    """One engine and its session factory; `session()` is a unit of work."""

    def __init__(self, url: str, *, pool_size: int | None = None):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        reads: dict[str, Any] = {}
        if self.engine.dialect.name == "postgresql":
            # Under READ COMMITTED every statement takes its own snapshot, in a transaction or
            # not, so a read-only unit loses nothing in autocommit and saves its BEGIN and
            # ROLLBACK, two of the three round trips of a one-query read.
            reads["isolation_level"] = "AUTOCOMMIT"
        self._read_engine = self.engine.execution_options(**reads)
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False)
        self._sqlite = self.engine.dialect.name == "sqlite"
        if self._sqlite:  # a Session begins SQLite's transaction when it begins its own
            event.listen(self._factory, "after_begin", _session_begins(read_only=False))
            event.listen(self._reader, "after_begin", _session_begins(read_only=True))
        audit_chain.install(self._factory)
        self._writers = _Writers() if self.engine.dialect.name == "sqlite" else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def upgrade(self) -> None:
        upgrade(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._writers.turn() if self._writers is not None else nullcontext():
            s = self._factory()
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise
            finally:
                s.close()

    @contextmanager
    def transaction(self) -> Iterator[Work]:
        """A unit of work on a plain Connection, for the run store's hot paths: what a Session
        adds (identity map, flush, its events) costs more there than the statements do. Audit
        rows staged on it are sealed into the chain at commit, as a session's are."""
        turn = self._writers.turn() if self._writers is not None else nullcontext()
        with turn, self.engine.connect() as conn:
            work = Work(conn, postgres=self.is_postgres, sqlite=self._sqlite)
            work.begin()
            try:
                yield work
            except BaseException:
                conn.rollback()
                raise
            work.commit(then_begin=False)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """`read()` on a plain Connection, for the hot reads that only run Core statements (a run
        loaded to advance it, the gate's rules): no Session to set up and tear down."""
        with self._read_engine.connect() as conn:
            conn.begin()
            if self._sqlite:
                sqlite_begin(conn, read_only=True)
            try:
                yield conn
            finally:
                conn.rollback()  # ends the transaction; the rows read stay readable

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that only reads (lists, views, counts). On SQLite it does not take the
        write lock, so readers neither queue behind each other nor behind a worker's writes."""
        s = self._reader()
        try:
            yield s
        finally:
            s.close()  # ends the transaction; what was read stays readable, detached

    def dispose(self) -> None:
        self.engine.dispose()


class Work:
    """One transaction on a Connection. `connection()` and `info` are a Session's own names, so
    a helper that only runs statements and stages audit rows (see app.store.runs) takes either."""

    def __init__(self, conn: Connection, *, postgres: bool, sqlite: bool = False):
        self.conn = conn
        self.postgres = postgres
        self.sqlite = sqlite
        self.info: dict[str, Any] = {}
        self.after_commit: list[Callable[[], None]] = []  # run once the commit succeeded

    def connection(self) -> Connection:
        return self.conn

    def flush(self) -> None:
        """Nothing is held back on a Connection: every statement has already run."""

    def commit(self, *, then_begin: bool = True) -> None:
        """Commit what was done so far and go on in a new transaction (as a Session's commit):
        for a decision that must keep one change even though it then refuses the rest.

        What waits for the commit runs once it succeeded and before anything else of this
        process writes (SQLite's writers still wait their turn); never after a failed one."""
        done, self.after_commit = self.after_commit, []
        try:
            audit_chain.seal_staged(self)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        for callback in done:
            callback()
        if then_begin:
            self.begin()

    def begin(self) -> None:
        self.conn.begin()
        if self.sqlite:
            sqlite_begin(self.conn)


class _Writers:
    """SQLite has one writer at a time. Units of work of one process take turns here, where the
    next one starts as soon as the last commits, instead of in SQLite's busy handler, which
    sleeps between tries (up to 100 ms a sleep) and gave a burst of concurrent writes a tail
    of a second. Writers in other processes still meet in SQLite.

    Reentrant, so a unit of work opened inside another on the same thread does what it did
    without the lock (SQLite decides); one that waits past WRITER_WAIT_SECONDS goes ahead."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        started = _clock()
        held = self._lock.acquire(timeout=WRITER_WAIT_SECONDS)
        try:
            SQLITE_WRITER_WAIT_SECONDS.observe(_clock() - started)
            yield
        finally:
            if held:
                self._lock.release()
