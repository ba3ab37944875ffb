"""Ids as people type them: any unique prefix, and the shortest prefix that stays unique.

Ids are 32 hex characters; a terminal shows them cut, so a person may give any
prefix that names exactly one row, as with git's commit ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.tables import Action, ApiToken, Run

MIN_SHOWN = 8
# What entry points name by a word, so they need not know the tables.
TABLES: dict[str, Any] = {"action": Action, "run": Run, "token": ApiToken}


def _table(model: Any) -> Any:
    return TABLES[model] if isinstance(model, str) else model


def require_tables(db: Database) -> None:
    """Raise now if the database has no tables yet (a missing `switchboard db upgrade`).

    A connection dropped or refused under the check (the database restarting, a backend
    terminated, even while the first connection is being set up) is tried again for about
    ten seconds: a worker should not exit for what its loop would ride out. A missing table,
    database or role is not a dropped connection and is raised at once.
    """
    import time

    from sqlalchemy.exc import DBAPIError, OperationalError

    attempts = 8
    for attempt in range(attempts):
        try:
            with db.read() as s:
                s.execute(select(Run.id).limit(1))
            return
        except DBAPIError as exc:
            passing = exc.connection_invalidated or isinstance(exc, OperationalError)
            if not passing or _misconfigured(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.2 * 2**attempt))


def _misconfigured(exc: Exception) -> bool:
    """A missing table (SQLite says so with an OperationalError too), database or role: no
    retry brings it back, so it is raised at once."""
    text = str(exc)
    return "no such table" in text or "does not exist" in text


def unique_id(db: Database, model: Any, prefix: str, noun: str) -> str:
    """The one id of `model` (a table, or its name in TABLES) starting with `prefix`; NotFound or
    Invalid (ambiguous) otherwise."""
    model = _table(model)
    text = prefix.strip().lower()
    if not text:
        raise Invalid(
            f"give {'an' if noun[:1] in 'aeiou' else 'a'} {noun} id (or the start of one)", field="id"
        )
    if any(ch in text for ch in "%_\\"):
        raise NotFound(f"no {noun} {prefix}")
    with db.session() as s:
        exact = s.scalar(select(model.id).where(model.id == text))
        if exact is not None:
            return str(exact)
        found = list(s.scalars(select(model.id).where(model.id.like(f"{text}%")).limit(6)))
    if not found:
        raise NotFound(f"no {noun} {prefix}")
    if len(found) > 1:
        more = "" if len(found) < 6 else ", …"
        raise Invalid(
            f"{prefix} is ambiguous: {len(found) if len(found) < 6 else 'several'} {noun}s start with it "
            f"({', '.join(shortest_unique(found).values())}{more}); give more characters",
            field="id",
        )
    return str(found[0])


def shortest_unique(ids: Iterable[str], minimum: int = MIN_SHOWN) -> dict[str, str]:
    """For each id, its shortest prefix (at least `minimum` long) that no other id shares."""
    ids = list(dict.fromkeys(ids))
    ordered = sorted(ids)
    out: dict[str, str] = {}
    for i, full in enumerate(ordered):
        need = minimum
        for other in (ordered[i - 1] if i else None, ordered[i + 1] if i + 1 < len(ordered) else None):
            if other is None:
                continue
            common = 0
            while common < min(len(full), len(other)) and full[common] == other[common]:
                common += 1
            need = max(need, common + 1)
        out[full] = full[: min(need, len(full))]
    return {i: out[i] for i in ids}


def display_ids(db: Database, model: Any, ids: list[str], minimum: int = MIN_SHOWN) -> dict[str, str]:
    """Short forms of `ids` that stay unique among every row of `model`, not only those shown."""
    if not ids:
        return {}
    model = _table(model)

    heads = sorted({i[:minimum] for i in ids})
    with db.session() as s:
        near = list(s.scalars(select(model.id).where(func.substr(model.id, 1, minimum).in_(heads))))
    short = shortest_unique([*ids, *near], minimum)
    return {i: short[i] for i in ids}
