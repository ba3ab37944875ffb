"""The start-up table check rides out a dropped connection, and names a missing table at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.services.lookup import require_tables
from app.store.db import Database


class Flaky:
    """A database whose first `failures` reads raise `error`, then read `inner`."""

    def __init__(self, inner: Database, error: Exception, failures: int):
        self.inner, self.error, self.failures, self.calls = inner, error, failures, 0

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        with self.inner.read() as s:
            yield s


def _error(kind: type[Exception], text: str) -> Exception:
    return kind("SELECT runs.id FROM runs LIMIT 1", {}, Exception(text))  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)


def test_a_backend_terminated_while_the_first_connection_is_set_up_is_tried_again(db: Database) -> None:
    # psycopg raises AdminShutdown from the dialect's first queries on a new connection: an
    # OperationalError that SQLAlchemy does not mark as an invalidated connection.
    flaky = Flaky(db, _error(OperationalError, "terminating connection due to administrator command"), 3)
    require_tables(flaky)  # type: ignore[arg-type]
    assert flaky.calls == 4


def test_a_connection_that_keeps_failing_is_raised_after_a_while(db: Database) -> None:
    flaky = Flaky(db, _error(OperationalError, "connection refused"), 100)
    with pytest.raises(OperationalError, match="connection refused"):
        require_tables(flaky)  # type: ignore[arg-type]
    assert flaky.calls == 8


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (OperationalError, "no such table: runs"),
        (ProgrammingError, 'relation "runs" does not exist'),
        (OperationalError, 'database "nope" does not exist'),
    ],
)
def test_a_missing_table_or_database_is_raised_at_once(
    db: Database, kind: type[Exception], text: str
) -> None:
    flaky = Flaky(db, _error(kind, text), 100)
    with pytest.raises(kind):
        require_tables(flaky)  # type: ignore[arg-type]
    assert flaky.calls == 1
