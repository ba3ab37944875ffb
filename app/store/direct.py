"""Core statements run on the database driver directly (sqlite3, psycopg), for the hot paths.

SQLAlchemy's work around each statement (its execution context, the result's set-up from the
cursor's description) costs several times what SQLite takes to run a statement by its primary
key: most of the framework's cost per ticket on SQLite, and a sixth of it on PostgreSQL. Here a
statement is compiled once per dialect and set of parameter names, by SQLAlchemy itself, and
then sent to the driver with each value bound by its column's own type and each value read back
by it (its result processor chosen, as SQLAlchemy chooses it, by the type the cursor reports),
so rows are stored and read exactly as SQLAlchemy stores and reads them. Anything this does not
cover (another driver, a statement with IN lists, Python-side defaults or escaped names, a batch
SQLAlchemy would fold into one INSERT, a connection outside a transaction or with execute or
error events listened to, a statement not marked `prepared`) is executed by SQLAlchemy as
before: `execute` is a drop-in for `Connection.execute`.
"""

from __future__ import annotations

import keyword
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.exc import (
    DBAPIError,
    InvalidRequestError,
    MultipleResultsFound,
    NoResultFound,
    StatementError,
)
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.util import is_exit_exception

_CACHE_MOST = 1024  # compiled forms kept per dialect: a few dozen statements, each with a few key sets
DRIVERS = frozenset({"pysqlite", "psycopg"})  # SQLAlchemy's names of the drivers this runs on
_UNSUITED = object()
S = TypeVar("S", bound=ClauseElement)


class Rows:
    """The part of SQLAlchemy's Result the store uses: rows with attributes and `_mapping`."""

    def __init__(self, rows: list[Any], rowcount: int):
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                f"expected one row, found {len(self._rows)}"
            )
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> _Scalars:
        return _Scalars(r[0] for r in self._rows)


class _Scalars(list[Any]):
    """`Result.scalars()`: the first column of each row, iterable or `all()`."""

    def all(self) -> list[Any]:
        return list(self)


class _Compiled:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, compiled: Any, dialect: Any):
        self.sql: str = compiled.string
        self.dialect = dialect
        processors = compiled._bind_processors
        # sqlite3 takes values by position (qmark), psycopg by name (pyformat)
        self.named = not compiled.positional
        names = (
            compiled.positiontup if compiled.positional else list(dict.fromkeys(compiled.bind_names.values()))
        )
        self.names = tuple(names)
        self.binds = [(name, processors.get(name)) for name in names]
        self.defaults = compiled.construct_params({}, _check=False)  # literals in the statement
        self.required = frozenset(n for n in names if compiled.binds[n].required)
        columns = compiled._result_columns
        self.row = None
        self.types = [c.type for c in columns]
        self.results: list[Any] | None = None  # chosen by the first cursor's types, as SQLAlchemy does
        if columns:
            self.row = _row_class([c.keyname for c in columns])

    def values(self, params: Mapping[str, Any]) -> Any:
        out = []
        for name, process in self.binds:
            if name in params:
                value = params[name]
            elif name in self.required:  # as SQLAlchemy says it: never a NULL in its place
                raise InvalidRequestError(f"A value is required for bind parameter {name!r}", code="cd3x")
            else:
                value = self.defaults[name]
            out.append(process(value) if process is not None else value)
        return dict(zip(self.names, out, strict=True)) if self.named else tuple(out)

    def rows(self, fetched: list[Any], description: Sequence[Any]) -> list[Any]:
        assert self.row is not None
        results = self.results
        if results is None:  # what a column reads back may depend on the type the driver says it is
            results = self.results = [
                t._cached_result_processor(self.dialect, d[1])
                for t, d in zip(self.types, description, strict=True)
            ]
        make = self.row._make
        if not any(results):
            return [make(r) for r in fetched]
        return [make(v if p is None else p(v) for p, v in zip(results, r, strict=True)) for r in fetched]


def _row_class(names: list[str]) -> Any:
    fields = namedtuple("Row", names)  # type: ignore[misc]  # names checked by _suited

    class Row(fields):  # type: ignore[valid-type, misc]
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(self._asdict())

    return Row


def _suited(compiled: Any) -> bool:
    """Whether the driver can be given this compiled form as it is (see the module's note)."""
    if compiled.positional and compiled.positiontup is None:
        return False
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.postfetch_lastrowid:
        return False
    if compiled.post_compile_params or compiled.literal_execute_params or compiled.escaped_bind_names:
        return False
    if getattr(compiled, "_numeric_binds", False) or compiled.effective_returning:
        return False
    if compiled.for_executemany and compiled._insertmanyvalues is not None:
        return False  # SQLAlchemy would send the batch as one INSERT of many VALUES
    names = [c.keyname for c in compiled._result_columns or []]
    return len(set(names)) == len(names) and all(
        isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_")
        for n in names
    )


_PREPARED: dict[int, ClauseElement] = {}


def prepared(stmt: S) -> S:
    """Mark a statement built once (a module's constant) as one `execute` may run on the driver.
    A statement built per call is left to SQLAlchemy, whose cache knows it by its structure."""
    _PREPARED[id(stmt)] = stmt  # kept: its id is never another statement's
    return stmt


def _compiled(conn: Connection, stmt: ClauseElement, keys: tuple[str, ...], many: bool) -> Any:
    if _PREPARED.get(id(stmt)) is not stmt or isinstance(stmt, TextClause):
        return _UNSUITED  # a text() without .columns(): its rows are only known from the cursor
    dialect = conn.dialect
    cache: dict[Any, Any] = dialect.__dict__.setdefault("_switchboard_direct", {})
    key = (id(stmt), keys, many)
    form = cache.get(key)
    if form is None:
        if getattr(stmt, "_propagate_attrs", None):  # an ORM statement: the Session's to run
            form = _UNSUITED
        else:
            compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
            form = _Compiled(compiled, dialect) if _suited(compiled) else _UNSUITED
        if len(cache) >= _CACHE_MOST:
            cache.clear()
        cache[key] = form
    return form


def execute(conn: Connection, stmt: Any, params: Any = None) -> Any:
    """`conn.execute(stmt, params)`, on the driver where it can be (see the module's note)."""
    if (
        conn.dialect.driver not in DRIVERS
        or not conn.in_transaction()
        or not isinstance(stmt, ClauseElement)
        or _watched(conn)
    ):
        return conn.execute(stmt, params)
    statement: Any = stmt
    many = isinstance(params, list | tuple)
    batch: Sequence[Mapping[str, Any]] = params if many else [params or {}]
    if not batch:
        return conn.execute(statement, params)
    form = _compiled(conn, stmt, tuple(sorted(batch[0])), many)
    if form is _UNSUITED or (many and any(p.keys() != batch[0].keys() for p in batch)):
        return conn.execute(statement, params)
    try:
        values = [form.values(p) for p in batch]
    except Exception as exc:  # a value missing, or one its column's type cannot bind: as SQLAlchemy says it
        what = f"({type(exc).__module__}.{type(exc).__name__}) {exc.args[0] if exc.args else exc}"
        raise StatementError(what, form.sql, params, exc, code=getattr(exc, "code", None)) from exc
    fetched, rowcount, description = _on_driver(conn, form.sql, values if many else values[0], many)
    return Rows(form.rows(fetched, description) if form.row is not None and fetched else [], rowcount)


_HARMLESS_OPTIONS = frozenset({"isolation_level"})  # applied to the connection, not a statement
_WATCHING = ("before_execute", "after_execute", "before_cursor_execute", "after_cursor_execute")


def _watched(conn: Connection) -> bool:
    """Whether SQLAlchemy must run the statement: someone watches each statement (tracing, a
    test's fault) or the dialect's part of it (`do_execute`, `handle_error`, which may run it or
    reclassify its error), or an execution option changes it (a schema_translate_map). A read
    engine's own `engine_connect` event and its isolation level see nothing of a statement."""
    if conn.dialect._has_events:
        return True
    if conn._execution_options and not conn._execution_options.keys() <= _HARMLESS_OPTIONS:
        return True
    if not (conn._has_events or conn.engine._has_events):
        return False
    watches = conn.dispatch
    return any(getattr(watches, name) for name in _WATCHING)


def on_driver(conn: Connection, sql: str, values: Any = (), *, many: bool = False) -> tuple[list[Any], int]:
    """Run `sql` on the driver in `conn`'s transaction: (the rows it returns, its rowcount).
    A driver error is raised as SQLAlchemy raises it (OperationalError, IntegrityError...), and a
    lost connection is invalidated and said to be, so callers' checks of a passing fault hold."""
    rows, rowcount, _ = _on_driver(conn, sql, values, many)
    return rows, rowcount


def _on_driver(conn: Connection, sql: str, values: Any, many: bool) -> tuple[list[Any], int, Any]:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = None
    try:
        cursor = raw.cursor()
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
        description = cursor.description  # None where the statement returns no rows
        return (list(cursor.fetchall()) if description is not None else []), cursor.rowcount, description
    except BaseException as exc:
        _failed(conn, exc, sql, values, many, raw, cursor)
        raise
    finally:
        if cursor is not None:
            with suppress(dbapi_error):
                cursor.close()


def _failed(
    conn: Connection, exc: BaseException, sql: str, values: Any, many: bool, raw: Any, cursor: Any
) -> None:
    """What SQLAlchemy does with an error raised while the driver ran a statement: an exit
    (KeyboardInterrupt, a cancelled task) leaves the connection in an unknown state, so it is
    invalidated and the exit goes on; a driver error is raised as SQLAlchemy's class, and on a
    lost connection the pool's older connections are invalidated too (they most likely went with
    the server); anything else is the caller's own error, raised as it is."""
    if is_exit_exception(exc):
        conn.invalidate(exc)
        return
    dialect = conn.dialect
    if not isinstance(exc, dialect.loaded_dbapi.Error):
        return
    lost = dialect.is_disconnect(cast(Any, exc), raw, cursor)
    error = DBAPIError.instance(
        sql,
        values,
        cast(Exception, exc),
        dialect.loaded_dbapi.Error,
        hide_parameters=conn.engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=many,
    )
    if lost:
        conn.engine.pool._invalidate(conn.connection, exc)
        conn.invalidate(exc)
    raise error from exc


def scalar(conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> Any:
    """`conn.scalar(stmt, params)`, on the driver where it can be."""
    return execute(conn, stmt, params).scalar()
