"""API tokens and roles. Only a hash of each token is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import aliased

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
    session_id: str | None = None  # signed in on the web: the session's own token (start_session)

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


# Every request asks this: the statement is built once and read as plain columns. A web
# sign-in's token is read with the API token it stands for (`_OF`), which must still hold.
_OF = aliased(ApiToken)
_BY_HASH = (
    select(
        ApiToken.id,
        ApiToken.name,
        ApiToken.role,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        ApiToken.session_of,
        _OF.revoked_at.label("of_revoked_at"),
        _OF.expires_at.label("of_expires_at"),
        _OF.last_used_at.label("of_last_used_at"),
    )
    .outerjoin(_OF, _OF.id == ApiToken.session_of)
    .where(ApiToken.token_hash == bindparam("hash"))
)


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
    now = utcnow()
    if row is None or not _holds(row.revoked_at, row.expires_at, now):
        return None, False
    if row.session_of is None:
        stale = row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60
        return Principal(name=row.name, role=row.role, token_id=row.id), stale
    if not _holds(row.of_revoked_at, row.of_expires_at, now):
        return None, False  # the API token it was made with was revoked or ran out: so does it
    # A web session acts as its API token: approvals record that token (revoking it voids them),
    # and that token's last use is what is kept.
    last = row.of_last_used_at
    stale = last is None or (now - last).total_seconds() > 60
    return Principal(name=row.name, role=row.role, token_id=row.session_of, session_id=row.id), stale


def _holds(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (expires_at is None or expires_at >= now)


def start_session(db: Database, who: Principal, *, hours: float) -> str:
    """A web sign-in: a token of `hours` for `who` (signed in with their API token), so the
    browser never holds the API token itself. Returns the session's token."""
    if who.token_id is None or who.session_id is not None:
        # Never from a session's own token: a copied cookie would sign in afresh, and that
        # session would outlive its person's sign-out.
        raise Invalid("a web session is made from an API token, not from another session's token")
    token = "sbs_" + secrets.token_urlsafe(32)
    with db.session() as s:
        row = ApiToken(
            name=who.name,
            role=who.role,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(hours=hours),
            session_of=who.token_id,
        )
        s.add(row)
        s.flush()
        audit(s, who.name, "web.signed_in", "token", who.token_id, {"session": row.id})
    return token


def end_session(db: Database, token: str) -> None:
    """Sign out: the session's token stops working now (it runs out rather than being revoked,
    so what its person approved with it still counts). A token that is not a web session's (an
    API token a browser was given) is left alone: signing out of a page does not revoke it."""
    with db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.session_of is None:
            return
        now = utcnow()
        if row.expires_at is None or row.expires_at > now:
            row.expires_at = now
            audit(s, row.name, "web.signed_out", "token", row.session_of, {"session": row.id})


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
        # API tokens; web sessions are theirs, and end with them
        rows = s.scalars(
            select(ApiToken).where(ApiToken.session_of.is_(None)).order_by(ApiToken.created_at)
        ).all()
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
