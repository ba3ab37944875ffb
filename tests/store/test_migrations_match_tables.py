"""The migrations build exactly the schema the tables declare: a column, index or constraint
changed in one place and not the other shows here, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.store.db import Database
from app.store.tables import Base


def test_the_migrated_schema_is_the_declared_one(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
