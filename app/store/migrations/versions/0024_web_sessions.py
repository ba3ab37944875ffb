"""a web sign-in is a token of its own, tied to the API token it was made with

The web UI's cookie held the API token itself, and signing out only cleared the cookie. A
sign-in now makes a short-lived token (`session_of` names the API token it stands for): the
cookie holds that one, signing out ends it on the server, and revoking the API token ends it too.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("session_of", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("session_of")
