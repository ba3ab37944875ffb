"""A PostgreSQL schema of its own for one measurement, so benches never touch each other's rows
nor the tests', and leave nothing behind."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import quote

PREFIX = "bench_"


@contextlib.contextmanager
def schema(base: str) -> Iterator[str]:
    """A fresh schema on the server at `base`: yields a URL whose search_path is it; dropped after."""
    from sqlalchemy import create_engine, text

    from app.store.db import normalize_url

    url = normalize_url(base)
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
