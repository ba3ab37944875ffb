"""A queued-run notice names the schema of the run it announces. NOTIFY channels belong to the
whole database, so deployments (or tests) that share one database in schemas of their own
heard each other's runs and woke for nothing; the listener now keeps to its own schema's.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _notify(payload: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION switchboard_run_queued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('switchboard_runs', {payload});
            RETURN NULL;
        END
        $$
        """
    )


def upgrade() -> None:
    _notify("TG_TABLE_SCHEMA")


def downgrade() -> None:
    _notify("''")
