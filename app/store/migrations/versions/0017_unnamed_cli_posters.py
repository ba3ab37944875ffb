"""items triaged from the CLI with no token named nobody: their money writes need two approvers

`switchboard triage FILE` with no token anywhere posted its tickets as `cli`, and runs kept
`posted_by: "cli"`. Four eyes holds a name against the poster, and no person is named `cli`,
so whoever ran the command could approve the refunds, final submissions and payees proposed
from their own tickets. Intake now marks such runs as 0013 marks runs whose poster nobody
recorded (`input.requester_unknown = "poster"`); this brings the runs written before it to the
same rule:

- every run whose input says `posted_by: "cli"` and carries no mark is marked "poster" (a
  person whose API token is named `cli` is caught too: two approvers is the safe side);
- each of their actions still pending that moves money, is final or sets a payee (by its
  recorded effects; effects never recorded count), and needs fewer than two approvals, is
  raised to two, with the gate's reason added where the approver reads it.

Each change is an audit row, chained in this transaction as 0013's are.

Revision ID: 0017
Revises: 0016
"""

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.store import audit_chain
from app.store.db import Work

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ACTOR = "migration:0017"
MARK, POSTER = "requester_unknown", "poster"  # as app.agent.run.REQUESTER_UNKNOWN reads it
UNNAMED = "cli"  # app.services.intake.UNNAMED_POSTER
# As app.agent.policy words it, so an edit's re-assessment says the same.
REASON = (
    "who asked for this write was never recorded: two different approvers, so whoever asked "
    "cannot approve it alone"
)

runs = sa.table("runs", sa.column("id", sa.String()), sa.column("input", sa.JSON()))
actions = sa.table(
    "actions",
    sa.column("id", sa.String()),
    sa.column("run_id", sa.String()),
    sa.column("tool", sa.String()),
    sa.column("status", sa.String()),
    sa.column("effects", sa.JSON()),
    sa.column("reasons", sa.JSON()),
    sa.column("required_approvals", sa.Integer()),
)


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    marked: list[str] = []
    for run_id, run_input in conn.execute(
        sa.select(runs.c.id, runs.c.input)
        .where(runs.c.input["posted_by"].as_string() == UNNAMED)
        .order_by(runs.c.id)
    ).all():
        run_input = run_input if isinstance(run_input, dict) else {}
        if MARK in run_input:
            continue
        conn.execute(runs.update().where(runs.c.id == run_id).values(input={**run_input, MARK: POSTER}))
        audit_chain.stage(
            work, ACTOR, "run.requester_unknown", "run", run_id, {"scope": POSTER, "posted_by": UNNAMED}
        )
        marked.append(run_id)
    raised = 0
    for start in range(0, len(marked), 500):
        for action_id, run_id, tool, effects, reasons, required in conn.execute(
            sa.select(
                actions.c.id,
                actions.c.run_id,
                actions.c.tool,
                actions.c.effects,
                actions.c.reasons,
                actions.c.required_approvals,
            )
            .where(
                actions.c.run_id.in_(marked[start : start + 500]),
                actions.c.status == "pending",
                sa.func.coalesce(actions.c.required_approvals, 1) < 2,
            )
            .order_by(actions.c.id)
        ).all():
            if not _commits_for_good(effects):
                continue
            conn.execute(
                actions.update()
                .where(actions.c.id == action_id)
                .values(required_approvals=2, reasons=[*(reasons or []), REASON])
            )
            audit_chain.stage(
                work,
                ACTOR,
                "action.approvals_raised",
                "action",
                action_id,
                {
                    "run_id": run_id,
                    "tool": tool,
                    "required": {"from": required or 1, "to": 2},
                    "reason": REASON,
                },
            )
            raised += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if marked or raised:
        log.info(
            "0017: %d run(s) posted as 'cli'; %d pending action(s) now need two approvers",
            len(marked),
            raised,
        )


def _commits_for_good(effects: Any) -> bool:
    """Whether the recorded effects move money, are final or set a payee; none recorded counts."""
    if not isinstance(effects, dict) or not effects:
        return True
    return effects.get("money") is not None or bool(effects.get("final")) or effects.get("payee") is not None


def downgrade() -> None:
    """Nothing to undo: the marks and second approvals keep a poster nobody can name from
    approving their own request, and their audit rows are part of the chain, which only grows."""
