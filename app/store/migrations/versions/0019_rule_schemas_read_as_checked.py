"""standing rules whose arguments schema let arguments through unchecked are revoked

A rule's arguments schema must name every argument it lets through (`additionalProperties:
false` and a bounded schema per property: app/services/rules.check_arguments_schema). Two
kinds of schema passed that check and yet bounded nothing:

- `patternProperties`: arguments a pattern matches are not "additional", so ".*" let any
  argument through, unbounded;
- a dialect or reference keyword below the root: a property's own `"$schema": draft-04` makes
  the validator read it as draft 4, which has no `const`, so `{"const": "..."}` let any value
  through; a `$ref` is read from elsewhere than the property the check looked at.

Rules are now refused such a schema when made; this revokes the ones made before (an admin
makes them again, each argument written out in 2020-12). Each is an audit row, chained in
this transaction, naming what was found.

Revision ID: 0019
Revises: 0018
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
    "its arguments schema let arguments through that the rule's check never bounded "
    "(patternProperties, or a $schema or reference below its root); make it again with each "
    "argument written out in properties"
)
# As app/services/rules.py has them when this was written (a migration keeps its own copy).
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ELSEWHERE = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$dynamicRef",
        "$dynamicAnchor",
        "$anchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "$defs",
        "definitions",
    }
)
DATA = frozenset({"enum", "const", "default", "examples"})

rules = sa.table(
    "standing_rules",
    sa.column("id", sa.String()),
    sa.column("tool", sa.String()),
    sa.column("arguments_schema", sa.JSON()),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)


def found(schema: Any, at: str = "") -> list[str]:
    """Where the schema lets arguments through unchecked: `patternProperties` at its root, and
    dialect or reference keywords anywhere (`$schema` at the root only as 2020-12)."""
    out: list[str] = []
    if isinstance(schema, list):
        for i, x in enumerate(schema):
            out += found(x, f"{at}{i}/")
        return out
    if not isinstance(schema, dict):
        return out
    for key, value in schema.items():
        if at == "" and key == "patternProperties":
            out.append(key)
        elif key in ELSEWHERE and not (at == "" and key == "$schema" and value == DIALECT):
            out.append(f"{at}{key}")
        elif key not in DATA:
            out += found(value, f"{at}{key}/")
    return out


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    revoked = 0
    for rule_id, tool, schema in conn.execute(
        sa.select(rules.c.id, rules.c.tool, rules.c.arguments_schema)
        .where(rules.c.revoked_at.is_(None))
        .order_by(rules.c.id)
    ).all():
        where = found(schema)
        if not where:
            continue
        conn.execute(rules.update().where(rules.c.id == rule_id).values(revoked_at=datetime.now(UTC)))
        audit_chain.stage(
            work, ACTOR, "rule.revoked", "rule", rule_id, {"tool": tool, "reason": REASON, "found": where}
        )
        revoked += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if revoked:
        log.warning("0019: revoked %d standing rule(s) whose arguments schema bounded nothing", revoked)


def downgrade() -> None:
    """Nothing to undo: such a rule let through arguments it did not bound, and the audit rows
    are part of the chain, which only grows."""
