"""The audit log's hash chain: intact after normal work, and every kind of tampering is named."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from typer.testing import CliRunner

from app.cli.main import app
from app.services import audit as audit_service
from app.services.errors import Invalid
from app.store import audit_chain
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import AuditEntry


def write(db: Database, n: int, actor: str = "ann") -> None:
    for i in range(n):
        with db.session() as s:
            audit(s, actor, "test.event", "run", f"r{i}", {"i": i, "note": "naïve ✓"})


def chain(db: Database) -> audit_chain.Report:
    return audit_service.verify(db)


def test_rows_are_chained_in_commit_order_and_verify(db: Database) -> None:
    write(db, 5)
    with db.session() as s:  # two rows in one transaction, then a rolled-back one
        audit(s, "bob", "a", None, None, {})
        audit(s, "bob", "b", None, None, {})
    with pytest.raises(RuntimeError), db.session() as s:
        audit(s, "eve", "never", None, None, {})
        s.flush()
        raise RuntimeError("rolled back")
    report = chain(db)
    assert report.ok, report.problems
    assert report.rows == 7 and report.head_seq == 7
    with db.session() as s:
        seqs = s.scalars(select(AuditEntry.chain_seq).order_by(AuditEntry.id)).all()
    assert seqs == list(range(1, 8))


def test_an_edited_row_is_named(db: Database) -> None:
    write(db, 4)
    with db.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.chain_seq == 2).values(actor="mallory"))
    report = chain(db)
    assert [(p.where, p.what.split(" (")[0]) for p in report.problems] == [
        ("seq 2", "content changed since it was written")
    ]


def test_a_deleted_row_is_named(db: Database) -> None:
    write(db, 4)
    with db.engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.chain_seq == 3))
    report = chain(db)
    assert any(p.where == "seq 3" and "missing" in p.what for p in report.problems)


def test_an_inserted_row_is_named(db: Database) -> None:
    write(db, 3)
    with db.engine.begin() as conn:  # behind Switchboard's back: no chain fields
        conn.execute(insert(AuditEntry).values(actor="mallory", event="action.approved", data={}))
    report = chain(db)
    assert any(p.what.startswith("is not in the chain") for p in report.problems)


@pytest.mark.parametrize("forged_seq", [0, -1])
def test_a_row_given_a_place_before_the_chain_is_named(db: Database, forged_seq: int) -> None:
    """A row forged with chain_seq 0 or below is neither walked nor NULL: it must still be named,
    anchor or not, since every other reader of the log (workflow history, alerts) sees it."""
    write(db, 3)
    head = chain(db)
    with db.engine.begin() as conn:
        conn.execute(
            insert(AuditEntry).values(
                actor="mallory",
                event="workflow.activated",
                data={},
                chain_seq=forged_seq,
                prev_hash=audit_chain.GENESIS,
                hash="f" * 64,
            )
        )
    report = audit_service.verify(db, (head.head_seq, head.head_hash))
    assert [p.what for p in report.problems] == ["is not in the chain (inserted outside Switchboard)"]


def test_a_rewritten_chain_is_caught_by_its_anchor(db: Database) -> None:
    write(db, 3)
    anchor = (chain(db).head_seq, chain(db).head_hash)
    with db.engine.begin() as conn:  # rewrite the whole chain consistently with an edited row
        conn.execute(update(AuditEntry).where(AuditEntry.chain_seq == 1).values(actor="mallory"))
    with db.session() as s:
        prev = audit_chain.GENESIS
        for e in s.scalars(select(AuditEntry).order_by(AuditEntry.chain_seq)).all():
            e.prev_hash, e.hash = prev, audit_chain.link(prev, e)
            prev = e.hash
    assert chain(db).ok  # a consistent rewrite fools the chain alone...
    report = audit_service.verify(db, anchor)
    assert any("rewritten" in p.what for p in report.problems)  # ...not the anchored head


def test_concurrent_writers_never_fork_the_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            write(db, 15, actor=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = chain(db)
    assert report.ok and report.rows == 60, report.problems


def test_a_row_whose_data_holds_a_nul_verifies_as_stored(db: Database) -> None:
    """The database keeps JSON without NUL or lone surrogates (a path httpx decoded from `%00`
    can carry one): the hash covers what is stored, so verify holds, on both sealing paths."""
    with db.transaction() as w:
        audit(
            w, "ann", "connection.retried", "connection", "c1", {"path": "/tickets/T-1\x00", "odd": "\ud800x"}
        )
    with db.session() as s:
        audit(s, "ann", "connection.retried", "connection", "c2", {"path": "/x\x00y"})
    report = chain(db)
    assert report.ok and report.rows == 2, report.problems
    with db.read() as s:
        assert s.scalars(select(AuditEntry.data).order_by(AuditEntry.chain_seq)).all() == [
            {"path": "/tickets/T-1", "odd": "?x"},  # a lone surrogate is replaced, as stored_json does
            {"path": "/xy"},
        ]


def test_rows_whose_values_look_like_the_id_verify(db: Database) -> None:
    """On PostgreSQL the server draws each id and puts it into what the hash covers: data and a
    subject id that hold an `"id":` of their own (even the number used to find the place) do not
    move it."""
    odd = {"id": audit_chain._NO_ID, "subject_id": "x", "nested": {"id": 1, "subject_id": '"id":3,'}}
    with db.transaction() as w:
        audit(w, "ann", "e1", "run", '"id":9223372036854775806,"subject_id":', odd)
        audit(w, "ann", "e2", None, None, {})
    with db.transaction() as w:
        audit(w, "bob", "e3", "run", "r3", {"ids": [1, 2]})
    report = chain(db)
    assert report.ok and report.rows == 3, report.problems
    with db.read() as s:
        rows = s.execute(select(AuditEntry.id, AuditEntry.chain_seq).order_by(AuditEntry.chain_seq)).all()
    assert [r.id for r in rows] == sorted(r.id for r in rows)  # ids rise in chain order


def test_a_database_not_yet_at_0020_seals_as_before(db_url: str) -> None:
    """Migration 0019 and any database between 0016 and 0020 seal with 0016's function."""
    from app.store.db import upgrade

    upgrade(db_url, "0019")
    older = Database(db_url)
    with older.transaction() as w:
        audit(w, "ann", "before", "run", "r1", {"i": 1})
    older.upgrade()
    with older.transaction() as w:
        audit(w, "ann", "after", "run", "r2", {"i": 2})
    report = chain(older)
    assert report.ok and report.rows == 2, report.problems
    older.dispose()


def _write_in_transactions(url: str, actor: str, n: int) -> None:
    """A worker process's hot path: audit rows staged on plain transactions (the run store's)."""
    db = Database(url)
    try:
        for i in range(n):
            with db.transaction() as w:
                for j in range(1 + i % 2):
                    audit(w, actor, "test.step", "run", f"{actor}-{i}", {"i": i, "j": j, "note": "naïve ✓"})
    finally:
        db.dispose()


def test_writers_in_several_processes_never_fork_the_chain(db: Database) -> None:
    """Three processes seal their rows at once, on the run store's path (on PostgreSQL, by the
    server in one statement): one chain, every row in it, and what each hash covers is what
    was stored."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_in_transactions, args=(db.url, f"p{k}", 20)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    report = chain(db)
    assert report.ok and report.rows == 3 * 30, report.problems
    with db.read() as s:
        seqs = s.scalars(select(AuditEntry.chain_seq).order_by(AuditEntry.chain_seq)).all()
    assert seqs == list(range(1, 91))


def test_rows_written_before_the_chain_existed_are_chained_by_the_migration(db_url: str) -> None:
    from app.store.db import upgrade

    upgrade(db_url, "0005")
    raw = Database(db_url)
    with raw.engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text("INSERT INTO audit_log (at, actor, event, data) VALUES (:at, 'old', 'e', :d)"),
                {"at": f"2026-01-0{i + 1} 10:00:00.000000", "d": json.dumps({"i": i})},
            )
    raw.upgrade()
    report = chain(raw)
    assert report.ok and report.rows == 3, report.problems
    with raw.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.hash.is_(None))) == 0
    raw.dispose()


def test_cli_verify_and_export(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url)
    write(db, 3)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "audit chain intact: 3 rows; head 3:" in ok.stdout
    head = ok.stdout.strip().rsplit("head ", 1)[1]
    out = tmp_path / "audit.jsonl"
    assert runner.invoke(app, ["audit", "export", "--out", str(out)]).exit_code == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["seq"] for x in lines[:-1]] == [1, 2, 3] and lines[-1] == {
        "head": {"seq": 3, "hash": head.split(":")[1]}
    }
    assert lines[0]["data"]["note"] == "naïve ✓"
    with db.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.chain_seq == 2).values(event="action.approved"))
    broken = runner.invoke(app, ["audit", "verify", "--anchor", head])
    assert broken.exit_code == 1 and "BROKEN seq 2: content changed" in broken.stdout
    bad = runner.invoke(app, ["audit", "verify", "--anchor", "nonsense"])
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.stderr


def test_anchor_parsing_names_the_problem() -> None:
    with pytest.raises(Invalid, match="SEQ:HASH"):
        audit_service.parse_anchor("12:abc")
    with pytest.raises(Invalid, match="SEQ:HASH"):  # a digit to str.isdigit(), not to int()
        audit_service.parse_anchor("\u00b2:" + "a" * 64)
    assert audit_service.parse_anchor("3:" + "a" * 64) == (3, "a" * 64)


def test_sealed_rows_are_stored_as_sqlalchemy_stores_them(db: Database) -> None:
    """SQLite's sealed rows go to the driver directly: their times and JSON are the same text
    SQLAlchemy writes for the table (an ORM row beside them), so they read back and verify."""
    data = {"note": "naïve ✓", "n": 1.5, "nested": {"list": [1, None, True]}}
    with db.transaction() as w:
        audit(w, "ann", "sealed.on.work", "run", "r1", data)
    with db.session() as s:
        audit(s, "ann", "sealed.on.session", "run", "r2", data)
        s.add(AuditEntry(actor="ann", event="orm.row", subject_type="run", subject_id="r3", data=data))
    report = chain(db)
    assert report.ok and report.rows == 3, report.problems
    with db.engine.connect() as conn:
        columns = (
            "typeof(at), length(at), data"
            if db.engine.dialect.name == "sqlite"
            else "pg_typeof(at)::text, 0, data::text"
        )
        stored = conn.execute(text(f"SELECT event, {columns} FROM audit_log")).all()
    assert sorted(r[0] for r in stored) == ["orm.row", "sealed.on.session", "sealed.on.work"]
    orm = next(r for r in stored if r[0] == "orm.row")
    assert {(r[1], r[2], r[3]) for r in stored} == {(orm[1], orm[2], orm[3])}
    with db.read() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.chain_seq)).all()
    assert [r.data for r in rows] == [data] * 3
    assert all(r.at is not None and r.at.year >= 2026 for r in rows)
