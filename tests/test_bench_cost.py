"""The cost bench's Switchboard flow runs on SQLite and, given a URL, on PostgreSQL in a schema
of its own that it drops after: each ticket ends with its write executed, and the figures say
what each database could measure."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.store.db import normalize_url
from bench import cost, pg
from tests.conftest import PG_URL


def test_the_switchboard_flow_on_sqlite_counts_its_statements(tmp_path: Path) -> None:
    figures = cost.child("switchboard", 2, tmp_path)
    assert figures["audit_rows"] > 0 and figures["step_bytes"] > 0
    assert figures["commits"] >= 1 and figures["statements"] > figures["commits"]
    # every ticket commits alike, and nothing the bench reads after the clock stops is counted
    assert figures["commits"] == int(figures["commits"])
    assert figures["cpu_ms"] > 0 and figures["db_bytes"] > 0


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_the_switchboard_flow_on_postgres_leaves_no_schema_behind(tmp_path: Path) -> None:
    def schemas() -> set[str]:
        engine = create_engine(normalize_url(str(PG_URL)))
        with engine.connect() as c:
            names = {r[0] for r in c.execute(text("SELECT nspname FROM pg_namespace"))}
        engine.dispose()
        return {n for n in names if n.startswith(pg.PREFIX)}

    before = schemas()
    figures = cost.child("switchboard", 2, tmp_path, str(PG_URL))
    assert figures["audit_rows"] > 0 and figures["step_bytes"] > 0
    assert "statements" not in figures and "db_bytes" not in figures  # SQLite's own measures
    assert schemas() == before


def test_a_postgres_url_is_for_switchboard_only(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="bare runs on SQLite only"):
        cost.child("bare", 2, tmp_path, "postgresql://nowhere/db")
