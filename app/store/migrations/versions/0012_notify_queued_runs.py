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

IN_PLACE = "'chat', 'workflow_draft', 'mcp_call'"  # run kinds their creator advances at once


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
    # INSERT or a SET of its status: triggers cover them all, with no code path to forget. A run
    # its creator advances in place at once (a chat turn, a workflow's draft, an MCP client's
    # write: Orchestrator.advance_now) is not announced when created, so no worker races the
    # creator for it (a chat turn advanced elsewhere streams no live text); queued again later
    # (after an approval), it is announced as any run.
    op.execute(
        f"""
        CREATE TRIGGER runs_created_queued_notify AFTER INSERT ON runs
        FOR EACH ROW WHEN (NEW.status = 'queued' AND NEW.kind NOT IN ({IN_PLACE}))
        EXECUTE FUNCTION switchboard_run_queued()
        """
    )
    op.execute(
        """
        CREATE TRIGGER runs_queued_notify AFTER UPDATE OF status ON runs
        FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION switchboard_run_queued()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS runs_queued_notify ON runs")
    op.execute("DROP TRIGGER IF EXISTS runs_created_queued_notify ON runs")
    op.execute("DROP FUNCTION IF EXISTS switchboard_run_queued()")
