"""PostgreSQL tells idle workers when a run is queued: a trigger on runs sends NOTIFY on
the switchboard_runs channel, delivered when the transaction commits, so a worker in another
process claims the run at once instead of at its next poll (app/store/signals.py listens).
SQLite has no such signal; its workers poll.

Revision ID: 0012
Revises: 0011
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION switchboard_run_queued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('switchboard_runs', '');
            RETURN NULL;
        END
        $$
        """
    )
    # Every way a run becomes queued (intake, a decision, a retry, a requeue after a fault) is an
    # INSERT or a SET of its status: one trigger covers them all, with no code path to forget.
    op.execute(
        """
        CREATE TRIGGER runs_queued_notify AFTER INSERT OR UPDATE OF status ON runs
        FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION switchboard_run_queued()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS runs_queued_notify ON runs")
    op.execute("DROP FUNCTION IF EXISTS switchboard_run_queued()")
