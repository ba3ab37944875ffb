"""audit_log: a hash chain over every row (chain_seq, prev_hash, hash); existing rows chained in id order

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.store.tables
from app.store.audit_chain import GENESIS, link

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", app.store.tables.UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("event", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("chain_seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("chain_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_audit_log_chain_seq", ["chain_seq"])
    conn = op.get_bind()
    prev, seq = GENESIS, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).all():
        seq += 1
        digest = link(prev, row)
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == row.id)
            .values(chain_seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_constraint("uq_audit_log_chain_seq", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("chain_seq")
