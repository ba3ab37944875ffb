"""One invoice, two copies (or two entries in one run), booked once under a standing rule.

Copies of one invoice delivered at the same instant are triaged side by side: each run's
duplicate check (Switchboard's own bookings, `booked.own_invoice_duplicates`) is read before
the other proposed anything, so neither finds the other. A person's approval catches the second
(`approvals._no_second_booking`, under a lock); a standing rule's approval is held to the same
check when its write is about to go out (`approvals.rule_admission`), so the second booking
waits for a person instead of reaching the ERP.

The rule is an admissible one (`rules.check_arguments_schema` accepts it): "the monthly rent
invoice of 300.00 from V1004 may be booked to 6100/2000 without asking".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.agent.run import RunContext
from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text
from app.services import approvals, booked, bookings, rules
from app.services.approvals import rule_admission
from app.services.finance import gate_findings
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from connectors.base import Effects
from connectors.erp.client import JOURNAL_MONEY
from tools.base import Catalogue, Tool

# The standing rules' check as the composition root wires it (app.main.Container.store).
ADMIT = rule_admission(500_000)

INVOICE = {
    "kind": "invoice",
    "vendor_id": "V1004",
    "invoice_number": "INV-2026-11",
    "amount": "300.00",
    "date": "2026-11-01",
}
LINES = [{"account": "6100", "debit": 300.0}, {"account": "2000", "credit": 300.0}]
ENTRY = {"date": "2026-11-01", "memo": "INV-2026-11", "lines": LINES}
RULE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "memo": {"type": "string", "pattern": r"^INV-\d{4}-\d{2}$"},
        "lines": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "enum": LINES,
                "properties": {
                    "account": {"enum": ["6100", "2000"]},
                    "debit": {"enum": [300.0]},
                    "credit": {"enum": [300.0]},
                },
            },
        },
    },
}


class Erp:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    async def post(self, args: dict[str, Any], key: str | None) -> Any:
        self.posted.append({**args, "key": key})
        return {"EntryId": f"E{len(self.posted)}"}

    def catalogue(self) -> Catalogue:
        schema = {
            "type": "object",
            "properties": {
                "date": {"type": "string"},
                "memo": {"type": "string"},
                "lines": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["date", "memo", "lines"],
        }
        return Catalogue(
            [
                Tool(
                    "erp__post_journal_entry",
                    "erp",
                    "post_journal_entry",
                    "",
                    schema,
                    "write",
                    "key",
                    self.post,
                    Effects(money=JOURNAL_MONEY, final=True),
                )
            ]
        )


def make_pipeline(db: Database, barrier: threading.Barrier | None):
    async def pipeline(ctx: RunContext) -> dict[str, Any]:
        rec = dict(ctx.run.input["record"])
        # What the finance pipeline knows: the record's values (as the ERP states them) ...
        ctx.know(record_amount=30_000, record_values=[rec["invoice_number"], rec["date"], rec["vendor_id"]])
        # ... and its duplicate check against Switchboard's own bookings, pending ones included.
        if (done := ctx.recorded("read:own")) is None:
            own = await ctx.io(bookings.own_bookings, db, ctx.run.id)
            await ctx.record("read:own", "note", {"own": own})
            if barrier is not None:  # the other copy is triaged at this same moment
                with contextlib.suppress(threading.BrokenBarrierError):
                    await ctx.io(barrier.wait, 5)
        else:
            own = done.data["own"]
        found = booked.own_invoice_duplicates(rec, own, set())
        ctx.know(findings=gate_findings(rec, found))
        final = await ctx.agent_loop(
            "act",
            ModelRequest(system="", messages=[Message(role="user", content="book it")]),
            list(ctx.catalogue),
        )
        return {"summary": final.content}

    return pipeline


def book() -> ModelResponse:
    call = ToolCall(id="b1", name="erp__post_journal_entry", arguments=ENTRY)
    return ModelResponse(tool_calls=[call], stop_reason="tool_use")


def rent_rule() -> StandingRule:
    rules.check_arguments_schema(RULE_SCHEMA)  # a rule an admin could make
    return StandingRule(
        tool="erp__post_journal_entry",
        approved_by="controller",
        id="rent",
        max_risk="medium",
        max_amount=30_000,
        arguments_schema=RULE_SCHEMA,
    )


def _copies(db: Database, n: int) -> None:
    with db.session() as s:
        for _ in range(n):
            s.add(Run(kind="record", input={"record": dict(INVOICE), "delivered": True}))


def test_one_after_the_other_the_rule_books_the_invoice_once(migrated_url: str) -> None:
    """The control: the second copy's own check sees the first booking and it waits for a person."""
    db = Database(migrated_url)
    erp = Erp()
    cat = erp.catalogue()
    policy = Policy(two_approvers_above=500_000, standing_rules=[rent_rule()])
    _copies(db, 1)
    orch = Orchestrator(
        SqlRunStore(db, admission=ADMIT),
        ScriptedModel([book(), text("booked")] * 2),
        lambda: cat,
        lambda: policy,
        {"record": make_pipeline(db, None)},
    )
    asyncio.run(orch.drain("w"))
    _copies(db, 1)
    asyncio.run(orch.drain("w"))
    assert len(erp.posted) == 1
    assert [a["status"] for a in approvals.list_actions(db, status="pending")] == ["pending"]


def test_two_copies_at_once_are_not_both_booked_by_a_standing_rule(migrated_url: str) -> None:
    erp = Erp()
    cat = erp.catalogue()
    policy = Policy(two_approvers_above=500_000, standing_rules=[rent_rule()])
    setup = Database(migrated_url)
    _copies(setup, 2)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        db = Database(migrated_url)
        orch = Orchestrator(
            SqlRunStore(db, admission=ADMIT),
            ScriptedModel([book(), text("booked")]),
            lambda: cat,
            lambda: policy,
            {"record": make_pipeline(db, barrier)},
        )
        try:
            asyncio.run(orch.run_once(f"w{i}"))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=25)
    assert not errors, errors
    decided = [(a["status"], a["decided_by"]) for a in approvals.list_actions(setup, status=None)]
    assert len(erp.posted) <= 1, (
        f"invoice INV-2026-11 posted to the ERP {len(erp.posted)} times, each under the standing rule: "
        f"{decided}"
    )


def test_one_run_booking_one_invoice_twice_is_not_run_twice_by_a_standing_rule(migrated_url: str) -> None:
    """No race: one run's model books the invoice, then books it again (the docstring of
    `approvals._no_second_booking` names this case: "one run may also propose two entries for one
    invoice"). A person approving the second is refused; the standing rule runs both."""
    db = Database(migrated_url)
    erp = Erp()
    cat = erp.catalogue()
    policy = Policy(two_approvers_above=500_000, standing_rules=[rent_rule()])
    _copies(db, 1)
    again = ModelResponse(
        tool_calls=[ToolCall(id="b2", name="erp__post_journal_entry", arguments=ENTRY)],
        stop_reason="tool_use",
    )
    orch = Orchestrator(
        SqlRunStore(db, admission=ADMIT),
        ScriptedModel([book(), again, text("booked")]),
        lambda: cat,
        lambda: policy,
        {"record": make_pipeline(db, None)},
    )
    asyncio.run(orch.drain("w"))
    decided = [(a["status"], a["decided_by"]) for a in approvals.list_actions(db, status=None)]
    assert len(erp.posted) <= 1, (
        f"invoice INV-2026-11 posted to the ERP {len(erp.posted)} times by one run, each under the "
        f"standing rule: {decided}"
    )
