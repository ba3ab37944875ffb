"""runs: not_before and retries, for requeueing after passing faults

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.store.tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("not_before", app.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retries", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("retries")
        batch.drop_column("not_before")
