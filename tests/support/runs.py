"""Runs made straight in the database, for tests of what sits on the SQL store."""

from __future__ import annotations

from typing import Any

from app.services.views import run_view
from app.store.db import Database
from app.store.tables import Run


def new_run(
    db: Database, message: str = "where is order 7?", created_by: str = "api-client", **extra: Any
) -> str:
    """A queued run of kind "test" (the loop pipeline's), as intake would leave it."""
    with db.session() as s:
        run = Run(kind="test", input={"message": message, **extra}, created_by=created_by)
        s.add(run)
        s.flush()
        return run.id


def status(db: Database, run_id: str) -> str:
    return str(run_view(db, run_id)["status"])
