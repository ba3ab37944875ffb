"""A reply approved ahead is not approved in the name of someone who may no longer approve.

On a new ticket's card the approver may approve "the ticket and its reply" at once: the reply's
text is recorded (`followups.approve_ahead`, audit `action.reply_approved_ahead`), and when the
run later proposes that reply on the created ticket, `followups.ReplyFollowUp` approves it
through `approvals.approve` in that person's name, with the role the audit entry recorded
(`Principal(entry.actor, entry.data["role"])`).

That later approval is made when the run gets there, which may be much later. The token the
approver approved ahead with is recorded, and the approval is applied only while that token
stands; once it is revoked (they left, or the token leaked), the reply waits in the queue for a
person. Likewise a first approval of two, given with a token revoked before the second came,
no longer counts.
"""

from __future__ import annotations

from pathlib import Path

from app.llm.scripted import ScriptedModel
from app.services import approvals, auth, followups, intake
from app.services.views import run_view
from tests.services.test_followups import REPLY, TICKET, script
from tests.support.app import container


async def test_a_reply_approved_ahead_waits_once_its_approver_was_revoked(
    db_url: str, tmp_path: Path
) -> None:
    c = container(db_url, tmp_path, ScriptedModel(script(REPLY)))
    token_id, token = auth.create_token(c.db, "pat", "approver", actor="admin")
    pat = auth.authenticate(c.db, token)
    assert pat is not None
    run_id = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=TICKET, source="api", actor="api-client"
    )[0]
    await c.orchestrator.drain("w")
    [create] = run_view(c.db, run_id)["actions"]
    assert create["operation"] == "create_ticket" and create["status"] == "pending"

    # Pat approves "the ticket and its reply" (as the web form does: approve, then approve_ahead).
    approvals.approve(c.db, create["id"], pat, c.pool.catalogue)
    followups.approve_ahead(c.db, create["id"], pat, REPLY)

    # Before a worker gets to the run, Pat's token is revoked.
    auth.revoke_token(c.db, token_id, actor="admin")
    assert auth.authenticate(c.db, token) is None

    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    reply = next(a for a in view["actions"] if a["operation"] == "add_comment")
    await c.pool.aclose()
    assert reply["status"] == "pending", (
        f"the public reply was approved in the name of {reply['decided_by']}, whose token was revoked "
        f"before the approval was made: status {reply['status']}"
    )


async def test_a_revoked_approvers_first_approval_does_not_count_towards_two(db_url: str) -> None:
    """Pat records the first of two approvals a refund above the threshold needs, then Pat's token
    is revoked (Pat left; the token leaked). A decision not yet complete is in flight: Pat's part
    in it no longer counts, so Lee's approval leaves the refund waiting for another approver."""
    from app.store.db import Database
    from tests.services.test_edit_reassessed import LEE, approve, proposed

    db = Database(db_url)
    db.upgrade()
    token_id, token = auth.create_token(db, "pat", "approver", actor="admin")
    pat = auth.authenticate(db, token)
    assert pat is not None
    system, action = await proposed(db, ("pay__create_refund", {"charge_id": "ch_1", "amount": 12_000}))
    assert action["required_approvals"] == 2  # above the threshold of 5,000

    first = approve(db, action, pat)
    assert first["status"] == "pending" and [a["by"] for a in first["approvals"]] == ["pat"]
    auth.revoke_token(db, token_id, actor="admin")

    second = approve(db, action, LEE)
    await action["_orch"].drain("w")
    assert second["status"] == "pending" and system.writes == [], (
        f"a refund needing two approvers ran on pat's approval, given with a token revoked before the "
        f"decision was complete, and lee's: status {second['status']}, writes {system.writes}"
    )
