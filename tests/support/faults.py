"""Traffic for fault tests: tickets arriving, a person approving writes as they appear, and
the final account checked against what the help desk simulator itself received.

`Traffic` drives a `tests.e2e.test_crash_recovery.Rig` (its database and help desk): a thread
submits tickets one after another and another approves every pending write as soon as it
sees it, the way a busy support team would. `outcome()` then says, per run, whether it
finished or waits visibly for a person, and counts every write the help desk applied by the
idempotency key (the action id) it carried, so a lost or doubled write shows there and not
merely in the store's own view.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.services import approvals, intake
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.store.tables import Action, AuditEntry, Run

APPROVER = Principal("pat", "approver")
FINISHED = ("succeeded", "failed", "cancelled")


def window(default: float) -> float:
    """An outage's length: short in CI, a full minute with SWITCHBOARD_FAULT_WINDOW=60."""
    return float(os.environ.get("SWITCHBOARD_FAULT_WINDOW", default))


@dataclass
class Outcome:
    runs: dict[str, dict[str, Any]]  # run id -> {"status", "error", "actions": [...]}
    applied: Counter[str]  # action id -> times the help desk applied a write carrying it

    def unsettled(self) -> list[str]:
        """Runs neither finished nor visibly waiting for a person (a pending or failed write)."""
        out = []
        for run_id, r in self.runs.items():
            if r["status"] in FINISHED:
                continue
            waiting = {"waiting_approval": "pending", "needs_attention": "failed"}.get(r["status"])
            if waiting is None or not any(
                a["status"] == waiting and (waiting == "pending" or a["error"]) for a in r["actions"]
            ):
                out.append(run_id)
        return out

    def approved(self) -> dict[str, dict[str, Any]]:
        """Every write a person approved (not rejected, not a standing rule's)."""
        return {
            a["id"]: a
            for r in self.runs.values()
            for a in r["actions"]
            if a["decided_by"] and not a["decided_by"].startswith("rule:") and a["status"] != "rejected"
        }

    def problems(self) -> list[str]:
        """Approved writes that succeeded but were not applied exactly once, writes applied twice,
        and writes applied that no action of these runs stands for."""
        approved = self.approved()
        out = []
        for action_id, a in approved.items():
            n = self.applied.get(action_id, 0)
            if a["status"] == "succeeded" and n != 1:
                out.append(f"{a['operation']} {action_id} succeeded but was applied {n} times")
            elif n > 1:
                out.append(f"{a['operation']} {action_id} ({a['status']}) was applied {n} times")
        out += [
            f"an unknown write {k} was applied {n} times"
            for k, n in self.applied.items()
            if k not in approved
        ]
        return out


@dataclass
class Traffic:
    rig: Any  # tests.e2e.test_crash_recovery.Rig
    sim_app: Any
    tickets: int = 12
    every: float = 0.5  # seconds between tickets
    source: str = "faults"
    runs: dict[str, int] = field(default_factory=dict)  # run id -> help-desk ticket id
    approvals: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *, approve: bool = True) -> Traffic:
        self._threads = [threading.Thread(target=self._submit, name="tickets", daemon=True)]
        if approve:
            self._threads.append(threading.Thread(target=self._approve, name="approver", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _submit(self) -> None:
        for i in range(self.tickets):
            if self._stop.is_set():
                return
            ticket_id = 1 + i % 12
            payload = {
                "subject": "Charged twice",
                "body": "I was billed twice this month; please refund one charge.",
                "requester_email": "ann.lee@example.com",
                "external_id": ticket_id,
            }
            run_id, _ = intake.submit(
                self.rig.c.db,
                kind="ticket",
                run_kind="triage",
                payload=payload,
                source=f"{self.source}{i // 12}",
                actor="api",
            )
            self.runs[run_id] = ticket_id
            self._stop.wait(self.every)

    def _approve(self) -> None:
        while not self._stop.is_set():
            for a in self.pending():
                try:
                    approvals.approve(self.rig.c.db, a, APPROVER, self.rig.c.pool.catalogue)
                    self.approvals += 1
                except ServiceError:
                    pass  # decided meanwhile
            self._stop.wait(0.2)

    def pending(self) -> list[str]:
        with self.rig.c.db.session() as s:
            return list(
                s.scalars(
                    select(Action.id).where(Action.run_id.in_(list(self.runs)), Action.status == "pending")
                ).all()
            )

    def retry_failed(self) -> int:
        """What a person does once the system is back: retry every failed write (same key)."""
        with self.rig.c.db.session() as s:
            failed = s.scalars(
                select(Action.id).where(Action.run_id.in_(list(self.runs)), Action.status == "failed")
            ).all()
        for action_id in failed:
            approvals.retry(self.rig.c.db, action_id, APPROVER)
        return len(failed)

    def retried(self) -> int:
        """How many times these runs went back to the queue for a passing fault (the audit says)."""
        with self.rig.c.db.session() as s:
            return len(
                s.scalars(
                    select(AuditEntry.id).where(
                        AuditEntry.event == "run.retry_later", AuditEntry.subject_id.in_(list(self.runs))
                    )
                ).all()
            )

    def outcome(self) -> Outcome:
        with self.rig.c.db.session() as s:
            rows = s.scalars(select(Run).where(Run.id.in_(list(self.runs)))).all()
            runs = {r.id: {"status": r.status, "error": r.error, "actions": []} for r in rows}
            for a in s.scalars(select(Action).where(Action.run_id.in_(list(self.runs)))).all():
                runs[a.run_id]["actions"].append(
                    {
                        "id": a.id,
                        "operation": a.operation,
                        "status": a.status,
                        "error": a.error,
                        "decided_by": a.decided_by,
                    }
                )
        applied: Counter[str] = Counter()
        for ticket_id in set(self.runs.values()):
            for audit in self.sim_app.state.helpdesk.ticket_audits(ticket_id):
                key = audit.get("metadata", {}).get("custom", {}).get("switchboard_action_id")
                if key:
                    applied[key] += 1
        return Outcome(runs, applied)

    def settle(self, timeout: float, *, done: tuple[str, ...] = ("succeeded",)) -> Outcome:
        """Wait until every submitted run is in `done` (or time runs out); the last outcome either way."""
        start = time.monotonic()
        while True:
            out = self.outcome()
            complete = len(out.runs) == self.tickets
            if (complete and all(r["status"] in done for r in out.runs.values())) or (
                time.monotonic() > start + timeout
            ):
                print(f"\nsettled in {time.monotonic() - start:.1f}s")
                return out
            if os.environ.get("SWITCHBOARD_FAULT_TRACE"):
                print(f"{time.monotonic() - start:5.1f}s", Counter(r["status"] for r in out.runs.values()))
            time.sleep(0.3)
