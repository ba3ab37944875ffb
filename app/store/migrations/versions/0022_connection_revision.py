"""a connection has a revision, so running processes see it changed

Workers and the API keep each connection's connector (its client, credentials, limits) while they
run. A connection edited or removed and added again elsewhere (the CLI, another API process) must
not go on being called as it was: each process compares the revision it built from with the row's.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("revision")
