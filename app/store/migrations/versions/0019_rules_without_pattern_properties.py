"""standing rules whose arguments schema used patternProperties are revoked

A rule's arguments schema must name every argument it lets through (`additionalProperties:
false` and a bounded schema per property: app/services/rules.check_arguments_schema). Arguments
matched by `patternProperties` are not "additional", so a pattern such as ".*" let any argument
through, unbounded, and the check did not look at it. Rules are now refused such a schema when
made; this revokes the ones made before (an admin makes them again with each argument named).
Each is an audit row, chained in this transaction, naming the patterns.

Revision ID: 0019
Revises: 0018
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.store import audit_chain
from app.store.db import Work

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ACTOR = "migration:0019"
REASON = (
    "its arguments schema used patternProperties, which let arguments the rule does not name "
    "through unbounded; make it again naming each argument in properties"
)

rules = sa.table(
    "standing_rules",
    sa.column("id", sa.String()),
    sa.column("tool", sa.String()),
    sa.column("arguments_schema", sa.JSON()),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    revoked = 0
    for rule_id, tool, schema in conn.execute(
        sa.select(rules.c.id, rules.c.tool, rules.c.arguments_schema)
        .where(rules.c.revoked_at.is_(None))
        .order_by(rules.c.id)
    ).all():
        if not isinstance(schema, dict) or "patternProperties" not in schema:
            continue
        conn.execute(rules.update().where(rules.c.id == rule_id).values(revoked_at=datetime.now(UTC)))
        patterns = sorted(str(p) for p in (schema.get("patternProperties") or {}))
        audit_chain.stage(
            work,
            ACTOR,
            "rule.revoked",
            "rule",
            rule_id,
            {"tool": tool, "reason": REASON, "patterns": patterns},
        )
        revoked += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if revoked:
        log.warning(
            "0019: revoked %d standing rule(s) whose arguments schema used patternProperties", revoked
        )


def downgrade() -> None:
    """Nothing to undo: such a rule let through arguments it did not name, and the audit rows are
    part of the chain, which only grows."""
