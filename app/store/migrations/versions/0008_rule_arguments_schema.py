"""standing_rules: the JSON Schema bounding the arguments a rule allows

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("standing_rules") as batch_op:
        batch_op.add_column(sa.Column("arguments_schema", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("standing_rules") as batch_op:
        batch_op.drop_column("arguments_schema")
