"""the audit log is read by subject: an index on it

A write that may have run before asks the audit log when its first attempt went out (no attempt
was earlier, so a connector looking for its earlier write starts there), and histories are read
by the record they concern. Without an index each such read scanned the whole log.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_type", "subject_id", "event"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
