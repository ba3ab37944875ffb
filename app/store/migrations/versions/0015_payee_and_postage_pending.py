"""pending vendors and labels proposed before their declarations changed meet the gate as now

Two writes declare more than they did: the ERP's `create_vendor` sets a payee (where money is
paid, its bank account), and the warehouse's `buy_label` spends postage the carrier prices only
when the label is bought. The gate reads declarations when it proposes a write, so actions still
pending from before keep what the old declarations gave them: no requester for the person who
posted the item by hand, one approver, and for a label no word of the money. Each is brought to
what the gate gives such a write now:

- the person who posted the item (`posted_by` in the run's input) is the write's requester,
  so they cannot approve it (four eyes), where no requester is recorded;
- a run whose poster nobody recorded (marked by 0013 as "poster") needs two approvers for it;
- a label needs two approvers and is high risk: its amount is unknown, which the gate counts
  as above any threshold.

Writes are found by their connection's kind (`erp`, `warehouse`) and operation, as the
connector names them; each change is an audit row, chained as 0013's are.

Revision ID: 0015
Revises: 0014
"""

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.store import audit_chain
from app.store.db import Work

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ACTOR = "migration:0015"
PAYEE, POSTAGE = ("erp", "create_vendor"), ("warehouse", "buy_label")
POSTER_UNKNOWN = ("requester_unknown", "poster")  # 0013's mark
# As app.agent.policy words them, so the queue reads the same as for a write proposed now.
PAYEE_REASON = "creates or changes a payee: where money is paid from now on"
POSTAGE_REASON = "moves money that the system prices only when the write is made: how much is unknown"
TWO_REASON = "who asked for this write was never recorded: two different approvers, so whoever asked cannot approve it alone"
UNKNOWN_AMOUNT_REASON = "the amount is unknown, so counted as above the threshold: two different approvers"

runs = sa.table("runs", sa.column("id", sa.String()), sa.column("input", sa.JSON()))
connections = sa.table("connections", sa.column("name", sa.String()), sa.column("kind", sa.String()))
actions = sa.table(
    "actions",
    sa.column("id", sa.String()),
    sa.column("run_id", sa.String()),
    sa.column("tool", sa.String()),
    sa.column("connection", sa.String()),
    sa.column("operation", sa.String()),
    sa.column("status", sa.String()),
    sa.column("risk", sa.String()),
    sa.column("reasons", sa.JSON()),
    sa.column("requested_by", sa.String()),
    sa.column("required_approvals", sa.Integer()),
)


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    found = conn.execute(
        sa.select(
            actions.c.id,
            actions.c.run_id,
            actions.c.tool,
            connections.c.kind,
            actions.c.operation,
            actions.c.risk,
            actions.c.reasons,
            actions.c.requested_by,
            actions.c.required_approvals,
            runs.c.input,
        )
        .join(connections, connections.c.name == actions.c.connection)
        .join(runs, runs.c.id == actions.c.run_id)
        .where(
            actions.c.status == "pending",
            sa.or_(
                sa.and_(connections.c.kind == PAYEE[0], actions.c.operation == PAYEE[1]),
                sa.and_(connections.c.kind == POSTAGE[0], actions.c.operation == POSTAGE[1]),
            ),
        )
        .order_by(actions.c.id)
    ).all()
    changed = 0
    for action_id, run_id, tool, kind, operation, risk, reasons, requested_by, required, run_input in found:
        values = _brought_up(
            (kind, operation), risk, list(reasons or []), requested_by, required or 1, _dict(run_input)
        )
        if not values:
            continue
        conn.execute(actions.update().where(actions.c.id == action_id).values(**values))
        before = {"risk": risk, "requested_by": requested_by, "required_approvals": required or 1}
        audit_chain.stage(
            work,
            ACTOR,
            "action.reassessed",
            "action",
            action_id,
            {
                "run_id": run_id,
                "tool": tool,
                "from": {k: before[k] for k in values if k in before},
                "to": {k: v for k, v in values.items() if k != "reasons"},
            },
        )
        changed += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if changed:
        log.info("0015: %d pending vendor or label action(s) brought to the gate's current rules", changed)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _brought_up(
    write: tuple[str, str],
    risk: str | None,
    reasons: list[str],
    requested_by: str | None,
    required: int,
    run_input: dict[str, Any],
) -> dict[str, Any]:
    """The columns to change for one pending action; empty when it already meets the rules."""
    values: dict[str, Any] = {}
    added = [PAYEE_REASON] if write == PAYEE else [POSTAGE_REASON]
    poster = run_input.get("posted_by")
    if requested_by is None and isinstance(poster, str) and poster:
        values["requested_by"] = poster
    want = required
    if run_input.get(POSTER_UNKNOWN[0]) == POSTER_UNKNOWN[1]:
        want = max(want, 2)
        added.append(TWO_REASON)
    if write == POSTAGE:
        want = max(want, 2)
        added.append(UNKNOWN_AMOUNT_REASON)
        if risk != "high":
            values["risk"] = "high"
    elif risk not in ("medium", "high"):
        values["risk"] = "medium"
    if want != required:
        values["required_approvals"] = want
    if values:
        values["reasons"] = reasons + [r for r in added if r not in reasons]
    return values


def downgrade() -> None:
    """Nothing to undo: the requirements raised here are those the gate now sets, and the audit
    rows that recorded them are part of the chain, which only grows."""
