"""A rule-approved write whose first attempt failed retryably is not sent again under its
standing rule once that rule is revoked.

A write whose attempt met a retryable fault (a 503, a timeout) stays `executing` and the next pass
resumes it. When the standing rule that approved it was revoked meanwhile, the resumed write does
not go out unasked: it is recorded as failed (its attempt may have landed), for a person to retry
with the same key or dismiss, and the system receives nothing after the revocation.
"""

from __future__ import annotations

from typing import Any

from app.services import approvals, rules
from app.services.approvals import rule_admission
from app.store.db import Database
from app.store.runs import SqlRunStore
from connectors.base import ConnectorError
from tests.services.rule_races.test_revoked_rule_write import ADMIN, THRESHOLD, ruled_refund
from tests.services.test_edit_reassessed import Payments


class UnavailableOnce(Payments):
    """The payments system answers the first refund with a 503 (nothing done), then works."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def write(self, args: dict[str, Any], key: str | None) -> Any:
        if self.refused == 0:
            self.refused += 1
            raise ConnectorError("payments answered 503 Service Unavailable", status=503, retryable=True)
        return await super().write(args, key)


async def test_a_resumed_rule_write_does_not_go_out_after_its_rule_was_revoked(db: Database) -> None:
    system = UnavailableOnce()
    rule, orch, run_id = ruled_refund(db, system, SqlRunStore(db, admission=rule_admission(THRESHOLD)))

    assert await orch.run_once("w1") == run_id  # the rule approves; the refund's attempt meets a 503
    [action] = [a for a in approvals.list_actions(db, status=None) if a["run_id"] == run_id]
    assert action["status"] == "executing" and str(action["decided_by"]).startswith("rule:"), action
    assert system.refused == 1 and system.writes == []

    rules.revoke_rule(db, rule["id"], ADMIN)  # the admin withdraws the rule's approval

    await orch.drain("w2")
    after = approvals.get_action(db, action["id"])
    assert system.writes == [], (
        f"standing rule {rule['id']} was revoked while its write waited to be resumed, and the "
        f"resumed write was sent anyway: {system.writes} (action {after['status']}, decided_by "
        f"{after['decided_by']})"
    )
