"""An in-memory RunStore: the port's fake, shipped beside it for fast tests and trials.

It keeps the SQL store's promises (tests/store/test_run_store_contract.py runs the same
suite against both): every write is fenced by the run's lease (LeaseLost otherwise), a
run is claimed by one owner at a time, queued runs wait out their backoff, a lapsed
lease can be taken over, and parking is decided the same way. A lock stands in for the
row locks, so threads may share one store. Nothing is persisted.

People's decisions, which the product makes through its services, are `decide` here.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.agent.ports import (
    RUN_PARKED,
    ActionRecord,
    LeaseLost,
    NewAction,
    NewStep,
    RunSnapshot,
    StepRecord,
)

# Who may move an action where, outside a worker: approve, reject, expire, retry or dismiss.
DECISIONS = {
    "pending": {"approved", "rejected", "expired"},
    "failed": {"approved", "dismissed"},
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Run:
    id: str
    kind: str
    input: dict[str, Any]
    created_by: str | None
    order: int
    status: str = "queued"
    classification: dict[str, Any] | None = None
    draft: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    not_before: datetime | None = None
    retries: int = 0
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    steps: list[StepRecord] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


@dataclass
class _Action:
    record: ActionRecord
    expires_at: datetime | None
    requested_by: str | None = None
    facts: dict[str, Any] | None = None


class MemoryRunStore:
    """RunStore in a dict. `clock` returns the current time (aware UTC); tests may move it."""

    def __init__(self, *, approval_ttl_hours: float = 72.0, clock: Callable[[], datetime] = _now):
        self.approval_ttl_hours = approval_ttl_hours
        self.clock = clock
        self.runs: dict[str, _Run] = {}
        self.actions: dict[str, _Action] = {}
        self.audit_log: list[dict[str, Any]] = []
        self._order = itertools.count()
        self._lock = threading.RLock()

    # -- what people and intake do (services do this on the SQL store) ----------
    def add_run(self, kind: str, input: dict[str, Any], created_by: str | None = None) -> str:
        """A new queued run; returns its id."""
        with self._lock:
            run = _Run(uuid.uuid4().hex, kind, copy.deepcopy(input), created_by, next(self._order))
            self.runs[run.id] = run
            return run.id

    def decide(
        self, action_id: str, status: str, *, by: str = "person", reason: str | None = None
    ) -> ActionRecord:
        """A person's decision on an action (approve, reject, retry, dismiss), then the run goes on
        if it has work, as the services do under the run's lock. ValueError if not allowed now."""
        with self._lock:
            action = self.actions[action_id].record
            if status not in DECISIONS.get(action.status, set()):
                raise ValueError(f"action {action_id} is {action.status}; it cannot become {status}")
            action.status = status
            action.decided_by = by
            action.reason = reason
            self._audit(by, f"action.{status}", "action", action_id, {"run_id": action.run_id})
            self._requeue_if_decided(action.run_id, actor=by)
            return copy.deepcopy(action)

    def action(self, action_id: str) -> ActionRecord:
        with self._lock:
            return copy.deepcopy(self.actions[action_id].record)

    def status(self, run_id: str) -> str:
        with self._lock:
            return self.runs[run_id].status

    def result(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.runs[run_id].result)

    # -- reading ---------------------------------------------------------------
    def load(self, run_id: str, *, owner: str | None = None) -> RunSnapshot:
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                raise KeyError(run_id)
            return RunSnapshot(
                id=run.id,
                kind=run.kind,
                status=run.status,
                input=copy.deepcopy(run.input),
                created_by=run.created_by,
                steps=copy.deepcopy(run.steps),
                actions=[copy.deepcopy(self.actions[a].record) for a in run.actions],
                classification=copy.deepcopy(run.classification),
                draft=copy.deepcopy(run.draft),
                retries=run.retries,
            )

    # -- fenced writes ---------------------------------------------------------
    def _locked(self, run_id: str, owner: str) -> _Run:
        run = self.runs[run_id]
        if run.lease_owner != owner:
            raise LeaseLost(run_id)
        return run

    def _add_step(self, run: _Run, owner: str, step: NewStep) -> StepRecord:
        record = StepRecord(
            seq=len(run.steps) + 1,
            kind=step.kind,
            name=step.name,
            data=copy.deepcopy(step.data),
            prompt_version=step.prompt_version,
            model=step.model,
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            cost_usd=step.cost_usd,
            latency_ms=step.latency_ms,
        )
        run.steps.append(record)
        run.input_tokens += step.input_tokens
        run.output_tokens += step.output_tokens
        run.cost_usd += step.cost_usd
        self._audit(owner, f"step.{step.kind}", "run", run.id, {"seq": record.seq, "name": step.name})
        return copy.deepcopy(record)

    def append_step(
        self, run_id: str, owner: str, step: NewStep, *, run_fields: dict[str, Any] | None = None
    ) -> StepRecord:
        return self.append_steps(run_id, owner, [step], run_fields=run_fields)[0]

    def append_steps(
        self,
        run_id: str,
        owner: str,
        steps: Sequence[NewStep],
        *,
        run_fields: dict[str, Any] | None = None,
        actions: Sequence[NewAction] = (),
    ) -> list[StepRecord]:
        with self._lock:
            run = self._locked(run_id, owner)
            self._set_fields(run, run_fields)
            self._add_actions(run, owner, actions)
            return [self._add_step(run, owner, step) for step in steps]

    @staticmethod
    def _set_fields(run: _Run, run_fields: dict[str, Any] | None) -> None:
        for k, v in (run_fields or {}).items():
            if not hasattr(run, k):
                raise AttributeError(f"runs have no field {k!r}")
            setattr(run, k, copy.deepcopy(v))

    def _add_actions(self, run: _Run, owner: str, actions: Sequence[NewAction]) -> None:
        now = self.clock()
        for a in actions:
            record = copy.deepcopy(a.record(run.id))
            pending = a.status == "pending"
            expires = now + timedelta(hours=self.approval_ttl_hours) if pending else None
            self.actions[record.id] = _Action(record, expires, a.requested_by, copy.deepcopy(a.facts))
            run.actions.append(record.id)
            self._audit(owner, "action.proposed", "action", record.id, {"run_id": run.id, "status": a.status})

    def _fenced_action(self, action_id: str, owner: str) -> ActionRecord:
        action = self.actions[action_id].record
        self._locked(action.run_id, owner)
        return action

    def start_execution(
        self, action_id: str, owner: str, *, lease_seconds: float | None = None
    ) -> ActionRecord:
        with self._lock:
            action = self._fenced_action(action_id, owner)
            if action.status not in ("approved", "executing"):
                raise LeaseLost(f"action {action_id} is {action.status}, not approved")
            if lease_seconds is not None:
                self.runs[action.run_id].lease_expires_at = self.clock() + timedelta(seconds=lease_seconds)
            resumed = action.status == "executing"
            action.status = "executing"
            action.attempts += 1
            action.first_tried_at = action.first_tried_at or datetime.now(UTC)
            self._audit(owner, "action.executing", "action", action_id, {"attempt": action.attempts})
            record = copy.deepcopy(action)
            record.resumed = resumed
            return record

    def finish_execution(
        self,
        action_id: str,
        owner: str,
        *,
        status: str,
        result: dict[str, Any] | None,
        error: str | None,
        step: NewStep,
    ) -> ActionRecord:
        with self._lock:
            action = self._fenced_action(action_id, owner)
            action.status = status
            action.result = copy.deepcopy(result)
            action.error = error
            self._add_step(self.runs[action.run_id], owner, step)
            self._audit(owner, f"action.{status}", "action", action_id, {"error": error})
            return copy.deepcopy(action)

    def set_status(
        self,
        run_id: str,
        owner: str,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        steps: Sequence[NewStep] = (),
        run_fields: dict[str, Any] | None = None,
        actions: Sequence[NewAction] = (),
    ) -> str:
        with self._lock:
            run = self._locked(run_id, owner)
            self._set_fields(run, run_fields)
            self._add_actions(run, owner, actions)
            for step in steps:
                self._add_step(run, owner, step)
            if status == "waiting_approval":
                status = self._park_status(run)
            run.status = status
            run.error = error
            run.retries = 0
            run.not_before = None
            run.lease_owner = None  # the pass is over: the lease goes with this write
            run.lease_expires_at = None
            if result is not None:
                run.result = copy.deepcopy(result)
            self._audit(owner, f"run.{status}", "run", run_id, {"error": error} if error else {})
            return status

    def fail_action(self, action_id: str, owner: str, error: str) -> ActionRecord:
        with self._lock:
            action = self._fenced_action(action_id, owner)
            if action.status in ("approved", "executing"):
                action.status = "failed"
                action.error = error
                self._audit(owner, "action.failed", "action", action_id, {"error": error})
            return copy.deepcopy(action)

    def return_unsent(self, action_id: str, owner: str, *, reason: str) -> ActionRecord:
        with self._lock:
            action = self._fenced_action(action_id, owner)
            if action.status == "executing":
                attempt = action.attempts
                action.status = "approved"
                action.attempts = max(attempt - 1, 0)
                self._audit(
                    owner, "action.not_sent", "action", action_id, {"attempt": attempt, "reason": reason}
                )
            return copy.deepcopy(action)

    def requeue(self, run_id: str, owner: str, *, error: str, delay: float) -> None:
        with self._lock:
            run = self._locked(run_id, owner)
            run.status = "queued"
            run.error = error
            run.retries += 1
            run.not_before = self.clock() + timedelta(seconds=delay)
            run.lease_owner = None
            run.lease_expires_at = None
            self._audit(owner, "run.retry_later", "run", run_id, {"error": error, "retries": run.retries})

    def is_transient(self, exc: BaseException) -> bool:
        """Memory has no passing faults of its own."""
        return False

    def moved_from(
        self, connection: str, operation: str, source: str, *, besides: str
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(a.record.effects)
                for a in self.actions.values()
                if a.record.run_id != besides
                and a.record.connection == connection
                and a.record.operation == operation
                and a.record.status in ("approved", "executing", "succeeded", "failed")
                and ((a.record.effects or {}).get("money") or {}).get("source") == source
            ]

    def sweep(self, limit: int = 100) -> int:
        with self._lock:
            found = [r.id for r in self._by_age() if r.status in RUN_PARKED and self._has_work(r)][:limit]
            return sum(1 for run_id in found if self._requeue_if_decided(run_id, actor="sweeper"))

    # -- leases ----------------------------------------------------------------
    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        with self._lock:
            run = self.runs.get(run_id)
            if run is None or run.lease_owner != owner:
                return False
            run.lease_expires_at = self.clock() + timedelta(seconds=seconds)
            return True

    def _runnable(self, run: _Run, now: datetime) -> bool:
        if run.status == "queued":
            return run.not_before is None or run.not_before <= now
        return run.status == "running" and run.lease_expires_at is not None and run.lease_expires_at < now

    def _take(self, run: _Run, owner: str, seconds: float, now: datetime) -> bool:
        if not self._runnable(run, now):
            return False
        run.status = "running"
        run.lease_owner = owner
        run.lease_expires_at = now + timedelta(seconds=seconds)
        run.attempts += 1  # no audit row, as SqlRunStore: the pass's own rows name the holder
        return True

    def _by_age(self) -> list[_Run]:
        return sorted(self.runs.values(), key=lambda r: r.order)

    def claim(self, owner: str, seconds: float) -> str | None:
        with self._lock:
            now = self.clock()
            self._expire_actions(now)
            for run in self._by_age():
                if self._take(run, owner, seconds, now):
                    return run.id
            return None

    def claim_run(self, run_id: str, owner: str, seconds: float) -> bool:
        with self._lock:
            run = self.runs.get(run_id)
            return run is not None and self._take(run, owner, seconds, self.clock())

    def release(self, run_id: str, owner: str) -> None:
        with self._lock:
            run = self.runs.get(run_id)
            if run is not None and run.lease_owner == owner:
                run.lease_owner = None
                run.lease_expires_at = None

    def audit(self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._audit(actor, event, subject_type, subject_id, data)

    # -- parking, as app.store.runs decides it -----------------------------------
    def _audit(
        self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]
    ) -> None:
        self.audit_log.append(
            {
                "actor": actor,
                "event": event,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "data": data,
            }
        )

    def _statuses(self, run: _Run) -> set[str]:
        return {self.actions[a].record.status for a in run.actions}

    def _has_work(self, run: _Run) -> bool:
        """An approved write waits to run, or nothing is left for people to decide."""
        statuses = self._statuses(run)
        return bool(statuses & {"approved", "executing"}) or not statuses & {"pending", "failed"}

    def _park_status(self, run: _Run) -> str:
        if self._has_work(run):
            return "queued"
        return "needs_attention" if "failed" in self._statuses(run) else "waiting_approval"

    def _requeue_if_decided(self, run_id: str, *, actor: str) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status not in RUN_PARKED:
            return False
        status = self._park_status(run)
        if status == run.status:
            return False
        run.status = status
        if status == "queued":
            run.not_before = None
            self._audit(actor, "run.requeued", "run", run_id, {})
            return True
        return False

    def _expire_actions(self, now: datetime) -> None:
        expired = [
            a.record
            for a in self.actions.values()
            if a.record.status == "pending" and a.expires_at is not None and a.expires_at < now
        ]
        for action in expired:
            action.status = "expired"
            self._audit("system", "action.expired", "action", action.id, {"run_id": action.run_id})
        for run_id in sorted({a.run_id for a in expired}):
            self._requeue_if_decided(run_id, actor="system")
