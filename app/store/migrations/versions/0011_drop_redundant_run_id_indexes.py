"""drop the run_id indexes the unique constraints already give: steps (run_id, seq) and
actions (run_id, tool_call_id) lead with run_id, so every lookup by run uses those, and each
insert wrote one index more than it needed

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_steps_run_id", table_name="steps")
    op.drop_index("ix_actions_run_id", table_name="actions")


def downgrade() -> None:
    op.create_index("ix_actions_run_id", "actions", ["run_id"])
    op.create_index("ix_steps_run_id", "steps", ["run_id"])
