"""Shared fixtures. Store-backed tests run on SQLite and, where TEST_DATABASE_URL
is set (CI sets it), on PostgreSQL too, each test in a schema of its own."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from app.store.db import Database, normalize_url

# pytest-xdist's workers are handed the controller's terminal size as COLUMNS and LINES, which a
# rich Console made at import would keep: the CLI's tables would be cut to 80 columns in one run
# and not in another. Tests that care about the width set their own.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

PG_URL = os.environ.get("TEST_DATABASE_URL")

# As a deployment sets them: a key for stored credentials, and (the simulators answer on loopback)
# private network reach. The tests of what happens without them remove them.
os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "switchboard-test-suite-secret-key")
os.environ.setdefault("SWITCHBOARD_ALLOW_PRIVATE_NETWORK", "1")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """Commands run in-process (`worker`, `serve`) set up logging for the whole process; put it
    back, so one test's log lines do not end up in the next command's captured output."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _dispose_databases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every database a test opened (a container, a command run in-process) when it ends.

    A pool left to the garbage collector keeps its PostgreSQL connections open until a cycle
    collection happens to run, and a server with the default 100 connections runs out mid-suite."""
    opened: list[Database] = []
    init = Database.__init__

    def tracked(self: Database, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    monkeypatch.setattr(Database, "__init__", tracked)
    yield
    for database in opened:
        database.dispose()


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    """The URL of a schema of its own on TEST_DATABASE_URL's server, dropped afterwards."""
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    base = normalize_url(PG_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A migrated database on PostgreSQL only, for what exists there alone (LISTEN/NOTIFY)."""
    with _postgres_schema() as url:
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


# Files that start servers, browsers or worker processes are collected first. The two test
# processes take whole files in turn (`make unit`), so the long files overlap each other
# from the start instead of running one by one at the end while the other process idles.
_LONG_FIRST = ("tests/e2e/", "tests/web/", "tests/newcomer/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(_LONG_FIRST) if item.nodeid.startswith(p)), len(_LONG_FIRST))

    items.sort(key=rank)  # stable: each file's tests keep their order
