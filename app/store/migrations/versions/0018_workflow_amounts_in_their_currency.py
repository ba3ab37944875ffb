"""workflows drafted before the `major` filter write payment amounts in their currency's units

The local engine drafted the dispute and refund summaries as `'%.2f' % ((event.amount or 0) /
100)`, so a ¥5,000 dispute opened a ticket "for 50.00 JPY" and 5.120 KWD read as 51.20. Drafts
now use `event.amount | major(event.currency)`. Workflows saved before kept the old expression
and go on writing wrong amounts into tickets and chat messages.

This rewrites exactly the two expressions the engine wrote, wherever they stand in a workflow's
spec (every version and status: a draft or an old version may be activated later). For a
currency with two decimals (USD, EUR, and any the table does not single out) the new one writes
the same text as the old; for JPY and KWD it writes the right amount. A template a person wrote
or edited differently is left as it is. Each workflow changed is an audit row naming the
expressions replaced, chained in this transaction.

Revision ID: 0018
Revises: 0017
"""

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.store import audit_chain
from app.store.db import Work

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ACTOR = "migration:0018"
# What app/llm/local/workflows.py wrote before, and what it writes now: character for character.
REWRITES = {
    "{{ '%.2f' % ((event.amount or 0) / 100) }}": "{{ event.amount | major(event.currency) }}",
    "{{ '%.2f' % ((event.amount_refunded or 0) / 100) }}": (
        "{{ event.amount_refunded | major(event.currency) }}"
    ),
}

workflows = sa.table(
    "workflows", sa.column("id", sa.String()), sa.column("name", sa.String()), sa.column("spec", sa.JSON())
)


def rewritten(value: Any, found: set[str]) -> Any:
    """`value` with the old expressions replaced in every string in it; `found` collects them."""
    if isinstance(value, str):
        for old, new in REWRITES.items():
            if old in value:
                found.add(old)
                value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: rewritten(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [rewritten(v, found) for v in value]
    return value


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    changed = 0
    for workflow_id, name, spec in conn.execute(
        sa.select(workflows.c.id, workflows.c.name, workflows.c.spec).order_by(workflows.c.id)
    ).all():
        found: set[str] = set()
        new_spec = rewritten(spec, found)
        if not found:
            continue
        conn.execute(workflows.update().where(workflows.c.id == workflow_id).values(spec=new_spec))
        audit_chain.stage(
            work,
            ACTOR,
            "workflow.amounts_in_currency",
            "workflow",
            workflow_id,
            {"name": name, "replaced": {old: REWRITES[old] for old in sorted(found)}},
        )
        changed += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if changed:
        log.info("0018: %d workflow(s) now write payment amounts in their currency's units", changed)


def downgrade() -> None:
    """Nothing to undo: the old expressions wrote wrong amounts, and the audit rows are part of
    the chain, which only grows."""
