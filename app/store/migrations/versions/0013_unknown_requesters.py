"""writes whose requester nobody recorded need two different approvers

Four eyes keeps whoever asked for a write from approving it, by their name. Data written
before requesters were kept has no name to hold:

- an item a person posted by hand (API, CLI, web UI) before runs kept `posted_by`: the gate
  named nobody as the requester of the refunds and final submissions proposed from it, so
  whoever posted it may approve them (from the CLI the person was never known: it posted as
  "cli");
- an MCP client's write from before requests were filed as the owner of the client's token:
  the run and its action name the placeholder "mcp-client", and the person who asked may
  approve their own request.

Nothing recovers who asked. So each such run is marked (`input.requester_unknown`, which
app.agent.run.requester_unknown reads: "poster" or "creator") and the gate wants two different
approvers for the writes that person asked for: those proposed from now on, and any an
approver edits. Each such action still pending is raised to two approvals now, with the gate's
reason added where the approver reads it.

What qualifies, from what the old code left:
- an item posted by hand: its receipt (the `ticket.received` / `record.received` audit row of
  the item's first run) names the channel it came through (`via`; before `via` was written,
  `source` was the channel) and that is one of intake's channels a person posts through (api,
  cli, ui). Every run of the item is marked unless its input has `posted_by` (the new code's
  runs) or it is a refund request its poster made under their own name (requests were always
  held against their creator). Items that systems delivered (webhooks, pulls from a
  connection, workflows, the demo's seed) and their actions are untouched.
- an MCP request: a run of kind mcp_call created by "mcp-client" whose `mcp.write_requested`
  audit row names no role (the proposer has recorded the role since it files requests as the
  token's owner, so a person whose token is named "mcp-client" is not caught).
- a pending action of a marked run needing fewer than two approvals: of an MCP request, any;
  of an item posted by hand, one whose recorded effects move money or are final, or were never
  recorded (they count as doing anything, as the queue's bulk approval counts them), unless it
  is held against the poster by name already. A draft of a submission that may become final
  (dispute evidence with submit=false) is not final as it stands; an edit that makes it one is
  re-assessed by the gate, which reads the mark.

Each change is an audit row, chained as the application chains its own
(app.store.audit_chain.seal_staged) in this migration's transaction: after its UPDATEs (so on
SQLite the write lock is held already) and, on PostgreSQL, under the chain's advisory lock,
taken last. The rows follow the chain's head and `switchboard audit verify` holds.

Revision ID: 0013
Revises: 0012
"""

import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.store import audit_chain
from app.store.db import Work

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ACTOR = "migration:0013"
# The run input's mark and its scopes, as app.agent.run.REQUESTER_UNKNOWN reads them.
MARK = "requester_unknown"
POSTER, CREATOR = "poster", "creator"
# Intake's channels through which a person posts an item (app.services.intake.BY_PERSON).
PERSON_CHANNELS = ("api", "cli", "ui")
RECEIPTS = ("ticket.received", "record.received")
# What the CLI posted a file's tickets as, and the MCP proposer filed every request as.
CLI, MCP_PLACEHOLDER = "cli", "mcp-client"
# As app.agent.policy.UNKNOWN_REQUESTER words it, so an edit's re-assessment says the same.
REASON = (
    "who asked for this write was never recorded: two different approvers, so whoever asked "
    "cannot approve it alone"
)
CHUNK = 500

# A marked run: (run id, its input, scope, what the audit row says, the poster's name if known).
Marked = tuple[str, dict[str, Any], str, dict[str, Any], str | None]

audit_log = sa.table(
    "audit_log",
    sa.column("actor", sa.String()),
    sa.column("event", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.String()),
    sa.column("data", sa.JSON()),
)
runs = sa.table(
    "runs",
    sa.column("id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("item_id", sa.String()),
    sa.column("input", sa.JSON()),
    sa.column("created_by", sa.String()),
)
actions = sa.table(
    "actions",
    sa.column("id", sa.String()),
    sa.column("run_id", sa.String()),
    sa.column("tool", sa.String()),
    sa.column("status", sa.String()),
    sa.column("effects", sa.JSON()),
    sa.column("reasons", sa.JSON()),
    sa.column("requested_by", sa.String()),
    sa.column("required_approvals", sa.Integer()),
)


def upgrade() -> None:
    conn = op.get_bind()
    work = Work(conn, postgres=conn.dialect.name == "postgresql")
    posters: dict[str, str | None] = {}  # every run posted by hand, marked now or before
    marked = 0
    for run_id, run_input, scope, detail, poster in itertools.chain(
        _posted_by_hand(conn, posters), _mcp_placeholders(conn)
    ):
        conn.execute(runs.update().where(runs.c.id == run_id).values(input={**run_input, MARK: scope}))
        audit_chain.stage(work, ACTOR, "run.requester_unknown", "run", run_id, {"scope": scope, **detail})
        posters[run_id] = poster
        marked += 1
    raised = 0
    for action_id, run_id, tool, effects, reasons, requested_by, required, scope in conn.execute(
        sa.select(
            actions.c.id,
            actions.c.run_id,
            actions.c.tool,
            actions.c.effects,
            actions.c.reasons,
            actions.c.requested_by,
            actions.c.required_approvals,
            runs.c.input[MARK].as_string(),
        )
        .join(runs, runs.c.id == actions.c.run_id)
        .where(
            actions.c.status == "pending",
            sa.func.coalesce(actions.c.required_approvals, 1) < 2,
            runs.c.input[MARK].as_string().is_not(None),
        )
        .order_by(actions.c.id)
    ).all():
        if scope == POSTER and not _commits_for_good(effects):
            continue
        if scope == POSTER and requested_by is not None and requested_by == posters.get(run_id):
            continue  # proposed after the gate held a run's creator, who posted it, for every write
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
            {"run_id": run_id, "tool": tool, "required": {"from": required or 1, "to": 2}, "reason": REASON},
        )
        raised += 1
    audit_chain.seal_staged(work)  # last: the chain's lock is the last lock this transaction takes
    if marked or raised:
        log.info(
            "0013: %d run(s) whose requester nobody recorded; %d pending action(s) now need two approvers",
            marked,
            raised,
        )


def _posted_by_hand(conn: sa.Connection, posters: dict[str, str | None]) -> Iterator[Marked]:
    """Each run of an item a person posted by hand whose poster the gate cannot hold to the
    refunds and final submissions proposed from it. `posters` learns the poster of every run
    posted by hand that is marked already, so that a second upgrade (after a downgrade, which
    keeps the marks) holds its actions as the first did."""
    channel = sa.func.coalesce(audit_log.c.data["via"].as_string(), audit_log.c.data["source"].as_string())
    receipts = conn.execute(
        sa.select(runs.c.item_id, audit_log.c.actor, channel)
        .join(audit_log, sa.and_(audit_log.c.subject_type == "run", audit_log.c.subject_id == runs.c.id))
        .where(audit_log.c.event.in_(RECEIPTS), channel.in_(PERSON_CHANNELS), runs.c.item_id.is_not(None))
    ).all()
    # The poster by name: whoever posted through the API or the web UI; the CLI posted as "cli".
    posted = {item_id: (via, None if via == CLI else actor) for item_id, actor, via in receipts}
    items = sorted(posted)
    for start in range(0, len(items), CHUNK):
        rows = conn.execute(
            sa.select(runs.c.id, runs.c.item_id, runs.c.created_by, runs.c.input)
            .where(runs.c.item_id.in_(items[start : start + CHUNK]))
            .order_by(runs.c.id)
        ).all()
        for run_id, item_id, created_by, run_input in rows:
            via, poster = posted[item_id]
            run_input = run_input if isinstance(run_input, dict) else {}
            if run_input.get(MARK) == POSTER:
                posters[run_id] = poster
                continue  # marked already
            if MARK in run_input or run_input.get("posted_by"):
                continue  # the new code's run, or marked already
            if _request(run_input) and poster is not None and created_by == poster:
                continue  # a refund request is its creator's for every write, and they posted it
            yield run_id, run_input, POSTER, {"via": via}, poster


def _request(run_input: dict[str, Any]) -> bool:
    """A refund request (intake.REQUESTS), as marked, or as recognised before runs were marked."""
    if "delivered" in run_input:
        return not run_input["delivered"]
    record = run_input.get("record")
    return isinstance(record, dict) and record.get("kind") == "refund"


def _mcp_placeholders(conn: sa.Connection) -> Iterator[Marked]:
    """Each MCP request filed as the placeholder rather than as its person."""
    named = sa.exists().where(  # NOT EXISTS, not NOT IN: one NULL subject would match nothing
        audit_log.c.event == "mcp.write_requested",
        audit_log.c.subject_type == "run",
        audit_log.c.subject_id == runs.c.id,
        audit_log.c.data["role"].as_string().is_not(None),
    )
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.input)
        .where(runs.c.kind == "mcp_call", runs.c.created_by == MCP_PLACEHOLDER, ~named)
        .order_by(runs.c.id)
    ).all()
    for run_id, run_input in rows:
        run_input = run_input if isinstance(run_input, dict) else {}
        if MARK not in run_input:
            yield run_id, run_input, CREATOR, {"created_by": MCP_PLACEHOLDER}, None


def _commits_for_good(effects: Any) -> bool:
    """Whether the recorded effects move money or are final; effects never recorded count."""
    if not isinstance(effects, dict) or not effects:
        return True
    return effects.get("money") is not None or bool(effects.get("final"))


def downgrade() -> None:
    """Nothing to undo: the marks and the second approvals are what keep a person nobody can
    name from approving their own request, and the audit rows that recorded them are part of
    the chain, which only grows. At 0012 they stay; that code ignores the mark and still counts
    an action's required approvals."""
