"""indexes for the approvals and runs lists: keyset pages on (created_at, id), by status or not

Revision ID: 0010
Revises: 0009
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (status, created_at, id) serves what (status, created_at) did, and the lists' tie-break too.
    op.drop_index("ix_actions_status_created", table_name="actions")
    op.create_index("ix_actions_status_created_id", "actions", ["status", "created_at", "id"])
    op.create_index("ix_actions_created_id", "actions", ["created_at", "id"])
    op.create_index("ix_runs_status_created_id", "runs", ["status", "created_at", "id"])
    op.create_index("ix_runs_created_id", "runs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_created_id", table_name="runs")
    op.drop_index("ix_runs_status_created_id", table_name="runs")
    op.drop_index("ix_actions_created_id", table_name="actions")
    op.drop_index("ix_actions_status_created_id", table_name="actions")
    op.create_index("ix_actions_status_created", "actions", ["status", "created_at"])
