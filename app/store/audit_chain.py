"""The audit log as a hash chain: an edited, inserted or deleted row shows.

Each row gets `chain_seq` (its place in the chain) and `hash` = SHA-256 of the
previous row's hash and the row's own canonical content. Rows are sealed at
commit, under one lock taken last in the transaction (PostgreSQL: an advisory
lock; SQLite already has a single writer), so the chain follows commit order,
concurrent writers never fork it, and the lock can never sit in a deadlock
cycle with the row locks taken earlier. `verify` walks the chain; the head
(sequence and hash) printed by `switchboard audit verify` or written by
`export` anchors it, so even a rewrite of the whole chain is caught by
comparing heads.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sqlalchemy import BigInteger, Connection, Table, column, event, insert, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.store.direct import execute, on_driver, prepared
from app.store.tables import AuditEntry, utcnow
from app.text import stored_json

GENESIS = "0" * 64
# Any fixed 64-bit number; names the chain's lock among the database's advisory locks.
_PG_LOCK = 0x5357_4254_4155_4454 & 0x7FFF_FFFF_FFFF_FFFF
_PENDING = "audit_unsealed"
_STAGED = "audit_staged"
_COLUMNS = (
    "id",
    "at",
    "actor",
    "event",
    "subject_type",
    "subject_id",
    "data",
    "chain_seq",
    "prev_hash",
    "hash",
)


class UnitOfWork(Protocol):
    """What staging and sealing need of a transaction: a Session or app.store.db.Work."""

    @property
    def info(self) -> dict[Any, Any]: ...

    def connection(self) -> Connection: ...

    def flush(self) -> None: ...


def _iso(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(entry: Any) -> bytes:
    """What a row's hash covers: everything in it but the chain columns, as canonical JSON.
    `entry`: an AuditEntry or any row with its columns as attributes (migrations use plain rows)."""
    body = {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "event": entry.event,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "data": json.loads(stored_json(entry.data or {}, default=str)),  # as stored: no NUL
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, entry: Any) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(entry)).hexdigest()


# The chain's statements, built once: they run in every committing transaction, and
# building a select costs more than SQLite takes to answer it.
_HEAD = text(
    "SELECT chain_seq, hash FROM audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
)
# SQLite's, sent to the driver as they are (app.store.direct.on_driver): they run in every
# committing transaction, and SQLAlchemy's work around a statement costs more than SQLite's.
_HEAD_AND_TOP_SQL = (
    "SELECT (SELECT max(id) FROM audit_log), chain_seq, hash FROM audit_log "
    "WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
)
_TOP_SQL = "SELECT max(id) FROM audit_log"
_SQLITE_INSERT = f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# The new rows' ids and then the chain's lock, in one statement (drawing from a sequence never
# waits, so the lock is still the last this transaction takes). The head is read after it, in a
# statement of its own: READ COMMITTED takes a statement's snapshot before the statement runs.
_PG_IDS_THEN_LOCK = text(
    "SELECT array(SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) FROM generate_series(1, :n)), "
    "pg_advisory_xact_lock(:k)"
)
_INSERT = insert(cast(Table, AuditEntry.__table__))
# PostgreSQL seals in one statement (migration 0016's function): ids drawn first, then the lock,
# the head, the hashes and the INSERT on the server, so the chain's lock is held for that statement
# and the COMMIT only, not for round trips the sealing thread has to wait its turn between.
# The ids, and whether the function is there (a database not yet at 0016 seals as before).
_PG_IDS = text(
    "SELECT array(SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) FROM generate_series(1, :n)), "
    "to_regprocedure('switchboard_seal_audit(bigint, bigint[], timestamptz[], text[], text[], text[], "
    "text[], text[], bytea[])') IS NOT NULL"
)
_PG_SEAL = text(
    "SELECT switchboard_seal_audit(:k, CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[]), "
    "CAST(:actors AS text[]), CAST(:events AS text[]), CAST(:subject_types AS text[]), "
    "CAST(:subject_ids AS text[]), CAST(:datas AS text[]), CAST(:bodies AS bytea[]))"
)
# Migration 0020's function draws the ids too: one round trip. Python sends what each hash covers
# as the bytes before the id and after it (`_around_id`).
_PG_SEAL_ROWS_SIGNATURE = (
    "switchboard_seal_audit_rows(bigint, timestamptz[], text[], text[], text[], text[], text[], "
    "bytea[], bytea[])"
)
_PG_HAS_SEAL_ROWS = text(f"SELECT to_regprocedure('{_PG_SEAL_ROWS_SIGNATURE}') IS NOT NULL")
_PG_SEAL_ROWS = prepared(
    text(
        "SELECT switchboard_seal_audit_rows(:k, CAST(:ats AS timestamptz[]), "
        "CAST(:actors AS text[]), CAST(:events AS text[]), CAST(:subject_types AS text[]), "
        "CAST(:subject_ids AS text[]), CAST(:datas AS text[]), CAST(:heads AS bytea[]), "
        "CAST(:tails AS bytea[])) AS sealed"
    ).columns(column("sealed", BigInteger))
)
# An id no row has, put where the id goes and cut out again; in canonical JSON (keys sorted) the
# row's own id is followed by its subject_id, and no string value can hold an unescaped quote.
_NO_ID = 2**63 - 2
_ID_MARK = b'"id":%d,"subject_id":' % _NO_ID


def _head(session: UnitOfWork) -> tuple[int, str]:
    row = session.connection().execute(_HEAD).first()
    return (int(row[0] or 0), str(row[1])) if row is not None else (0, GENESIS)


def stage(
    session: UnitOfWork,
    actor: str,
    event: str,
    subject_type: str | None,
    subject_id: str | None,
    data: dict[str, Any],
) -> None:
    """An audit row for this transaction, written chained with one INSERT when it commits.

    Plain values rather than an ORM object: the unit of work costs more than the row."""
    row = SimpleNamespace(
        id=None,
        at=utcnow(),
        actor=actor,
        event=event,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        staged_in=_innermost(session),
    )
    session.info.setdefault(_STAGED, []).append(row)


def _collect(session: Session, flush_context: Any) -> None:
    new = [o for o in session.new if isinstance(o, AuditEntry)]
    if new:
        session.info.setdefault(_PENDING, []).extend(new)


def _head_and_ids(session: UnitOfWork, n: int) -> tuple[tuple[int, str], list[int]]:
    """SQLite: the chain's head and ids for `n` rows not yet inserted, read in one statement, so
    the rows are inserted chained (one batched INSERT, no UPDATE); its single writer (BEGIN
    IMMEDIATE holds the lock) takes the next ids after the largest. PostgreSQL draws them from
    the column's own sequence (`_PG_IDS_THEN_LOCK`)."""
    conn = session.connection()
    rows, _ = on_driver(conn, _HEAD_AND_TOP_SQL)
    if rows:
        top, seq, last = rows[0]
        head = (int(seq or 0), str(last))
    else:  # an empty chain: no head row to join
        [(top,)], _ = on_driver(conn, _TOP_SQL)
        head = (0, GENESIS)
    start = int(top or 0)
    return head, list(range(start + 1, start + n + 1))


def _insert(uow: UnitOfWork, entries: list[Any], postgres: bool) -> None:
    """Insert sealed rows: on SQLite through the driver, each value bound by its column's own
    type (as SQLAlchemy would store it: the same text for times and JSON)."""
    if postgres:
        uow.connection().execute(_INSERT, [{c: getattr(e, c) for c in _COLUMNS} for e in entries])
        return
    binds = _sqlite_binds(uow.connection().dialect)
    rows = [tuple(b(getattr(e, c)) if b else getattr(e, c) for c, b in binds) for e in entries]
    on_driver(uow.connection(), _SQLITE_INSERT, rows, many=True)


# per dialect (an engine's: its JSON serializer is the engine's), kept no longer than the engine
_BINDS: weakref.WeakKeyDictionary[Any, list[tuple[str, Any]]] = weakref.WeakKeyDictionary()


def _sqlite_binds(dialect: Any) -> list[tuple[str, Any]]:
    """Each column's bind processor on this dialect (None where the driver takes the value)."""
    found = _BINDS.get(dialect)
    if found is None:
        table = cast(Table, AuditEntry.__table__)
        found = [(c, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in _COLUMNS]
        _BINDS[dialect] = found
    return found


def _seal(session: Session) -> None:
    fresh = [o for o in session.new if isinstance(o, AuditEntry)]
    staged: list[Any] = session.info.pop(_STAGED, [])
    if not session.info.get(_PENDING) and not fresh and not staged:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    with session.no_autoflush:
        _chain(session, [*fresh, *staged], session.info.pop(_PENDING, []), postgres)
        if staged:
            _insert(session, staged, postgres)
    session.flush()
    session.info.pop(_PENDING, None)


def seal_staged(work: Any) -> None:
    """Seal the rows staged on a unit of work that is not a Session (app.store.db.Work) and
    insert them: what `_seal` does at a session's commit, with nothing flushed to collect."""
    staged: list[Any] = work.info.pop(_STAGED, [])
    if not staged:
        return
    if work.postgres:
        _seal_on_server(work, staged)
        return
    _chain(work, staged, [], work.postgres)
    _insert(work, staged, work.postgres)


def _around_id(entry: Any) -> tuple[bytes, bytes]:
    """What the row's hash covers, as the bytes before its id and the bytes after it."""
    entry.id = _NO_ID
    head, mark, tail = canonical(entry).rpartition(_ID_MARK)
    entry.id = None
    if not mark:  # canonical() changed shape: the function would hash something else
        raise AssertionError("an audit row's canonical form has no id followed by its subject_id")
    return head + b'"id":', b',"subject_id":' + tail


def _seals_in_one_trip(conn: Connection) -> bool:
    """Whether migration 0020's function is there; remembered per database connection once it is."""
    info = conn.connection.info
    if not info.get(_PG_SEAL_ROWS_SIGNATURE):
        info[_PG_SEAL_ROWS_SIGNATURE] = bool(conn.scalar(_PG_HAS_SEAL_ROWS))
    return bool(info[_PG_SEAL_ROWS_SIGNATURE])


def _seal_on_server(work: UnitOfWork, staged: list[Any]) -> None:
    """PostgreSQL: write what each hash covers and let the server number, chain and insert the
    rows under the chain's lock in one statement (`switchboard_seal_audit_rows`)."""
    conn = work.connection()
    if _seals_in_one_trip(conn):
        for entry in staged:
            entry.at = entry.at or utcnow()
        parts = [_around_id(e) for e in staged]
        heads, tails = [head for head, _ in parts], [tail for _, tail in parts]
        execute(conn, _PG_SEAL_ROWS, {**_columns(staged), "heads": heads, "tails": tails})
        return
    # a database between 0016 and 0020: ids drawn first, then 0016's function seals
    ids, on_server = conn.execute(_PG_IDS, {"n": len(staged)}).one()
    for entry, new_id in zip(staged, ids, strict=True):
        entry.id = int(new_id)
        entry.at = entry.at or utcnow()
    if not on_server:  # not yet migrated (0016): sealed from here, as sessions' rows are
        _chain(work, staged, [], postgres=True)  # draws ids of its own: a sequence's gaps are harmless
        _insert(work, staged, postgres=True)
        return
    ids = [e.id for e in staged]
    conn.execute(_PG_SEAL, {**_columns(staged), "ids": ids, "bodies": [canonical(e) for e in staged]})


def _columns(staged: list[Any]) -> dict[str, Any]:
    """The rows' columns as the sealing functions take them: one array each, and the lock."""
    return {
        "k": _PG_LOCK,
        "ats": [e.at for e in staged],
        "actors": [e.actor for e in staged],
        "events": [e.event for e in staged],
        "subject_types": [e.subject_type for e in staged],
        "subject_ids": [e.subject_id for e in staged],
        "datas": [stored_json(e.data or {}) for e in staged],
    }


def _chain(uow: UnitOfWork, unnumbered: list[Any], numbered: list[Any], postgres: bool) -> None:
    """Give `unnumbered` rows their ids, then link every row after the chain's head, by id."""
    if postgres:  # ids first: the lock is the last one this transaction takes
        row = uow.connection().execute(_PG_IDS_THEN_LOCK, {"n": len(unnumbered), "k": _PG_LOCK}).one()
        ids = [int(i) for i in row[0]]
        seq, prev = _head(uow)
    else:
        (seq, prev), ids = _head_and_ids(uow, len(unnumbered))
    for entry, new_id in zip(unnumbered, ids, strict=True):
        entry.id = new_id
        entry.at = entry.at or utcnow()  # hashed as stored
    for entry in sorted([*numbered, *unnumbered], key=lambda e: e.id):
        seq += 1
        entry.chain_seq = seq
        entry.prev_hash = prev
        entry.hash = prev = link(prev, entry)


def _innermost(session: Any) -> Any:
    """The transaction a row is staged in: the innermost savepoint, else the session's own,
    begun here if nothing has begun it yet (a Session begins on first use; a row staged before
    any statement must still be forgotten by a rollback). None on a plain unit of work."""
    nested = getattr(session, "get_nested_transaction", None)
    if nested is None:
        return None
    return nested() or session.get_transaction() or session.begin()


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _forget(session: Session, previous_transaction: Any) -> None:
    """A rollback takes back the rows staged in what it rolled back: a savepoint's rows only
    (the ones staged before it commit with the outer transaction), everything otherwise. A failed
    flush rolls back a sub-transaction of its own, which takes the savepoint it is in with it
    (or the whole transaction when it is in none)."""
    scope = previous_transaction
    while not scope.nested and scope.parent is not None:
        scope = scope.parent
    if scope.nested:
        staged = session.info.get(_STAGED, [])
        staged[:] = [row for row in staged if not _within(row.staged_in, scope)]
        pending = session.info.get(_PENDING, [])
        pending[:] = [entry for entry in pending if entry in session]  # the savepoint's are expunged
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_STAGED, None)


def install(factory: sessionmaker[Session]) -> None:
    """Seal every audit row written through sessions of `factory` when they commit."""
    event.listen(factory, "after_flush", _collect)
    event.listen(factory, "before_commit", _seal)
    event.listen(factory, "after_soft_rollback", _forget)


@dataclass
class Problem:
    where: str  # "seq 12" or "id 40"
    what: str


@dataclass
class Report:
    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def walk(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    """Chained rows in chain order, a batch at a time."""
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.chain_seq > last).order_by(AuditEntry.chain_seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].chain_seq or 0)
        session.expunge_all()


def verify(session: Session, *, anchor: tuple[int, str] | None = None) -> Report:
    """Walk the chain and say where it breaks; `anchor` (seq, hash) must still be in it."""
    report = Report()
    prev_seq, prev_hash = 0, GENESIS
    anchored = anchor is None
    for entry in walk(session):
        seq = int(entry.chain_seq or 0)
        report.rows += 1
        if seq != prev_seq + 1:
            report.problems.append(
                Problem(
                    f"seq {prev_seq + 1}", f"{seq - prev_seq - 1} row(s) missing before seq {seq} (deleted)"
                )
            )
        elif entry.prev_hash != prev_hash:
            report.problems.append(
                Problem(f"seq {seq}", "does not follow the row before it (inserted or reordered)")
            )
        expected = link(entry.prev_hash or "", entry)
        if entry.hash != expected:
            report.problems.append(
                Problem(f"seq {seq}", f"content changed since it was written (id {entry.id})")
            )
        if anchor is not None and seq == anchor[0]:
            anchored = entry.hash == anchor[1]
            if not anchored:
                report.problems.append(
                    Problem(f"seq {seq}", "differs from the anchored head: the chain was rewritten")
                )
                anchored = True
        prev_seq, prev_hash = seq, entry.hash or ""
    if anchor is not None and not anchored:
        report.problems.append(
            Problem(f"seq {anchor[0]}", "the anchored head is no longer in the chain (truncated)")
        )
    # Outside the chain: never sealed (NULL), or given a place before its first row, which the
    # walk (chain_seq > 0) never reaches; every other reader of the log still sees such a row.
    outside = or_(AuditEntry.chain_seq.is_(None), AuditEntry.chain_seq < 1)
    loose = session.scalars(select(AuditEntry.id).where(outside).order_by(AuditEntry.id).limit(20)).all()
    for row_id in loose:
        report.problems.append(Problem(f"id {row_id}", "is not in the chain (inserted outside Switchboard)"))
    report.head_seq, report.head_hash = prev_seq, prev_hash
    return report


def as_record(entry: AuditEntry) -> dict[str, Any]:
    """One exported line: the row with its chain fields, enough to re-verify it elsewhere."""
    return {
        "seq": entry.chain_seq,
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "event": entry.event,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
