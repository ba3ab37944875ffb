"""A booking that failed after it may have landed holds back the second copy of its invoice.

A booking whose ERP call timed out on every attempt ends `failed` ("check erp, then retry or
dismiss"), though the entry may be (here: is) in the ERP. The duplicate-booking check counts such
a booking as it counts approved, sent and done ones (`approvals.MOVED`), so the other copy's
approval is refused until a person settles the first.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text
from app.services import approvals
from app.services.approvals import rule_admission
from app.services.auth import Principal
from app.services.errors import Conflict
from app.store.db import Database
from app.store.runs import SqlRunStore
from connectors.base import ConnectorError
from tests.services.rule_races.test_bookings_by_rule import Erp, _copies, book, make_pipeline

# The standing rules' check as the composition root wires it (app.main.Container.store).
ADMIT = rule_admission(500_000)

PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")


class SlowErp(Erp):
    """Posts the entry (once per idempotency key), but its answer never arrives in time."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = True

    async def post(self, args: dict[str, Any], key: str | None) -> Any:
        if key not in {p["key"] for p in self.posted}:
            self.posted.append({**args, "key": key})
        if self.slow:
            raise ConnectorError("erp did not answer within 30 s", retryable=True)
        return {"EntryId": f"E{len(self.posted)}"}


def test_a_copy_is_not_approved_while_the_first_booking_failed_after_it_may_have_landed(
    migrated_url: str,
) -> None:
    db = Database(migrated_url)
    erp = SlowErp()
    cat = erp.catalogue()
    policy = Policy(two_approvers_above=500_000)
    _copies(db, 2)
    barrier = threading.Barrier(2)

    def triage(i: int) -> None:  # both copies side by side, on two workers
        wdb = Database(migrated_url)
        orch = Orchestrator(
            SqlRunStore(wdb, admission=ADMIT),
            ScriptedModel([book()]),
            lambda: cat,
            lambda: policy,
            {"record": make_pipeline(wdb, barrier)},
        )
        asyncio.run(orch.run_once(f"w{i}"))
        wdb.dispose()

    threads = [threading.Thread(target=triage, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    first, second = sorted(approvals.list_actions(db), key=lambda a: a["created_at"])
    approvals.approve(db, first["id"], PAT, lambda: cat, policy=lambda: policy)

    orch = Orchestrator(
        SqlRunStore(db, admission=ADMIT),
        ScriptedModel(fallback=text("booked")),
        lambda: cat,
        lambda: policy,
        {"record": make_pipeline(db, None)},
        backoff_max=0.01,
    )
    deadline = time.monotonic() + 15
    while approvals.get_action(db, first["id"])["status"] != "failed" and time.monotonic() < deadline:
        asyncio.run(orch.drain("w"))
        time.sleep(0.02)
    failed = approvals.get_action(db, first["id"])
    assert failed["status"] == "failed" and len(erp.posted) == 1  # in the ERP, though it "failed"

    erp.slow = False
    with pytest.raises(Conflict):
        approvals.approve(db, second["id"], LEE, lambda: cat, policy=lambda: policy)
        asyncio.run(orch.drain("w"))
    assert len(erp.posted) == 1, f"invoice INV-2026-11 is in the ERP {len(erp.posted)} times"
