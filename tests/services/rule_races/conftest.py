"""Races between workers and people: each test on SQLite and on PostgreSQL, several threads."""

from __future__ import annotations

import pytest

from app.store.db import Database


@pytest.fixture
def migrated_url(db: Database) -> str:
    """A migrated database's URL: each worker and person of a test opens its own connections."""
    return db.url
