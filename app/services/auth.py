"""API tokens and roles. Only a hash of each token is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import ApiToken, utcnow

ROLES = ("viewer", "operator", "approver", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token_id: str | None = None

    def can(self, role: str) -> bool:
        """Roles are ordered: each can do what the ones below it can."""
        return _RANK[self.role] >= _RANK[role]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    db: Database, name: str, role: str, *, actor: str = "cli", expires_at: datetime | None = None
) -> tuple[str, str]:
    """Returns (token id, the token itself). The token is shown once and never stored."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    if not name.strip():
        raise Invalid("name must not be empty", field="name")
    token = "sb_" + secrets.token_urlsafe(32)
    with db.session() as s:
        row = ApiToken(name=name.strip(), role=role, token_hash=hash_token(token), expires_at=expires_at)
        s.add(row)
        s.flush()
        audit(s, actor, "token.created", "token", row.id, {"name": row.name, "role": role})
        return row.id, token


# Every request asks this: the statement is built once and read as plain columns.
_BY_HASH = select(
    ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at
).where(ApiToken.token_hash == bindparam("hash"))


def authenticate(db: Database, token: str) -> Principal | None:
    """Every request passes here, so it only reads; `last_used_at` is written at most once a minute."""
    who, stale = identify(db, token)
    if who is not None and stale:
        touch(db, who)
    return who


def identify(db: Database, token: str) -> tuple[Principal | None, bool]:
    """`authenticate`'s read: who the token is (None: unknown, revoked or expired), and whether
    its `last_used_at` is over a minute old (then `touch` it)."""
    with db.reading() as conn:
        row = conn.execute(_BY_HASH, {"hash": hash_token(token)}).first()
    if row is None or row.revoked_at is not None:
        return None, False
    now = utcnow()
    if row.expires_at is not None and row.expires_at < now:
        return None, False
    stale = row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60
    return Principal(name=row.name, role=row.role, token_id=row.id), stale


_REVOKED_OF = select(ApiToken.id).where(
    ApiToken.id.in_(bindparam("ids", expanding=True)), ApiToken.revoked_at.is_not(None)
)


def revoked_of(conn: Connection, token_ids: Iterable[str]) -> set[str]:
    """Which of these tokens were revoked since: a decision given with one of them no longer
    stands for a decision still in the making (its approver left, or the token leaked)."""
    ids = sorted({t for t in token_ids if t})
    return {str(r.id) for r in conn.execute(_REVOKED_OF, {"ids": ids})} if ids else set()


def touch(db: Database, who: Principal) -> None:
    """Record that `who`'s token was used just now."""
    with db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == who.token_id).values(last_used_at=utcnow()))


def list_tokens(db: Database) -> list[dict[str, object]]:
    with db.session() as s:
        rows = s.scalars(select(ApiToken).order_by(ApiToken.created_at)).all()
        return [
            {
                "id": r.id,
                "name": r.name,
                "role": r.role,
                "created_at": r.created_at,
                "last_used_at": r.last_used_at,
                "revoked": r.revoked_at is not None,
            }
            for r in rows
        ]


def revoke_token(db: Database, token_id: str, *, actor: str) -> None:
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token {token_id}")
        row.revoked_at = row.revoked_at or utcnow()
        audit(s, actor, "token.revoked", "token", token_id, {})
