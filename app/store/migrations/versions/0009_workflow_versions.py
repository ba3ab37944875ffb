"""workflows: versions of one workflow share a family; schedules remember their last slot

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workflows") as batch_op:
        batch_op.add_column(sa.Column("family_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("schedule_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_workflows_family_id", ["family_id"])
        batch_op.create_index("ix_workflows_schedule_next_at", ["schedule_next_at"])


def downgrade() -> None:
    with op.batch_alter_table("workflows") as batch_op:
        batch_op.drop_index("ix_workflows_schedule_next_at")
        batch_op.drop_index("ix_workflows_family_id")
        batch_op.drop_column("schedule_next_at")
        batch_op.drop_column("version")
        batch_op.drop_column("family_id")
