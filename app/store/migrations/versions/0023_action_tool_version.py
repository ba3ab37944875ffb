"""an action keeps the version of the operation it was proposed for

A system may redefine an operation under its name (an MCP server lists a different tool, or the
same one with another description, schema or hints). An approved write runs only against the
version a person approved; proposals made before this revision have none and are not checked.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("tool_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("tool_version")
