"""The run store: steps, actions, leases. Implements app.agent.ports.RunStore.

Every write is fenced by the run's lease (the row is locked, the owner
checked), so a worker that lost its lease cannot append to a run another
worker now owns.

Whether a parked run goes back to the queue is decided with the run's row
locked first and its actions counted after (`requeue_if_decided`, `set_status`,
`sweep`): on PostgreSQL's READ COMMITTED two people deciding sibling actions at
once then see each other's decisions, whichever commits second, so no run is
left parked with nothing to wait for. Locks are taken action first, run second.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, event, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.agent.ports import (
    RUN_PARKED,
    ActionRecord,
    LeaseLost,
    NewAction,
    NewStep,
    RunSnapshot,
    StepRecord,
)
from app.store.db import Database
from app.store.tables import Action, AuditEntry, Run, Step, utcnow

EXPIRY_SCAN_SECONDS = 30.0  # a busy queue still looks for expired approvals this often

log = logging.getLogger("switchboard.store")


def step_record(s: Step) -> StepRecord:
    return StepRecord(
        seq=s.seq,
        kind=s.kind,
        name=s.name,
        data=s.data,
        prompt_version=s.prompt_version,
        model=s.model,
        input_tokens=s.input_tokens,
        output_tokens=s.output_tokens,
        cost_usd=s.cost_usd,
        latency_ms=s.latency_ms,
    )


def action_record(a: Action) -> ActionRecord:
    return ActionRecord(
        id=a.id,
        run_id=a.run_id,
        tool_call_id=a.tool_call_id,
        tool=a.tool,
        connection=a.connection,
        operation=a.operation,
        arguments=a.arguments,
        status=a.status,
        risk=a.risk,
        reasons=list(a.reasons or []),
        effects=dict(a.effects or {}),
        decided_by=a.decided_by,
        reason=a.reason,
        result=a.result,
        error=a.error,
        attempts=a.attempts,
    )


def audit(
    s: Session, actor: str, event: str, subject_type: str | None, subject_id: str | None, data: dict[str, Any]
) -> None:
    s.add(AuditEntry(actor=actor, event=event, subject_type=subject_type, subject_id=subject_id, data=data))


class SqlRunStore:
    def __init__(self, db: Database, *, approval_ttl_hours: float = 72.0):
        self.db = db
        # A pending action expires (its own state, never a rejection) after this long.
        self.approval_ttl_hours = approval_ttl_hours
        # Leases already given up by set_status in its own transaction: release has nothing to do.
        self._released: set[tuple[str, str]] = set()
        self._seqs: dict[tuple[str, str], int] = {}  # (run, lease owner) -> next step number
        self._seq_key = ("next_seq", id(self))
        event.listen(db._factory, "after_commit", self._commit_seq)
        self._next_expiry_scan = 0.0  # time.monotonic() of the next claim that looks for expiries

    # -- reading --------------------------------------------------------------
    def load(self, run_id: str) -> RunSnapshot:
        with self.db.read() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(run_id)
            steps = s.scalars(select(Step).where(Step.run_id == run_id).order_by(Step.seq)).all()
            actions = s.scalars(
                select(Action).where(Action.run_id == run_id).order_by(Action.created_at)
            ).all()
            return RunSnapshot(
                id=run.id,
                kind=run.kind,
                status=run.status,
                input=run.input,
                created_by=run.created_by,
                steps=[step_record(x) for x in steps],
                actions=[action_record(a) for a in actions],
                classification=run.classification,
                draft=run.draft,
                retries=run.retries or 0,
            )

    # -- fenced writes --------------------------------------------------------
    def _locked(self, s: Session, run_id: str, owner: str) -> Run:
        run = s.scalars(select(Run).where(Run.id == run_id).with_for_update()).one()
        if run.lease_owner != owner:
            raise LeaseLost(run_id)
        return run

    def _add_step(self, s: Session, run: Run, owner: str, step: NewStep, seq: int | None = None) -> Step:
        if seq is None:
            seq = self._next_seq(s, run.id, owner)
        s.info[self._seq_key] = ((run.id, owner), seq + 1)  # remembered once the write commits
        row = Step(
            run_id=run.id,
            seq=seq,
            kind=step.kind,
            name=step.name,
            data=step.data,
            prompt_version=step.prompt_version,
            model=step.model,
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            cost_usd=step.cost_usd,
            latency_ms=step.latency_ms,
        )
        s.add(row)
        run.input_tokens += step.input_tokens
        run.output_tokens += step.output_tokens
        run.cost_usd += step.cost_usd
        run.updated_at = utcnow()
        summary: dict[str, Any] = {"seq": seq, "name": step.name}
        if step.kind == "model_call":
            summary.update(
                model=step.model,
                prompt=step.prompt_version,
                input_tokens=step.input_tokens,
                output_tokens=step.output_tokens,
            )
        elif step.kind == "tool_call":
            summary.update(
                tool=step.data.get("tool"), effect=step.data.get("effect"), is_error=step.data.get("is_error")
            )
        audit(s, owner, f"step.{step.kind}", "run", run.id, summary)
        return row

    def _commit_seq(self, s: Session) -> None:
        pending = s.info.pop(self._seq_key, None)
        if pending is not None:
            self._seqs[pending[0]] = pending[1]

    def _next_seq(self, s: Session, run_id: str, owner: str) -> int:
        """The next step number. While this owner holds the lease no one else adds steps, so the
        number is remembered from its last write instead of asked of the table each time."""
        known = self._seqs.get((run_id, owner))
        if known is not None:
            return known
        return int(s.scalar(select(func.max(Step.seq)).where(Step.run_id == run_id)) or 0) + 1

    def append_step(
        self, run_id: str, owner: str, step: NewStep, *, run_fields: dict[str, Any] | None = None
    ) -> StepRecord:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            for k, v in (run_fields or {}).items():
                setattr(run, k, v)
            row = self._add_step(s, run, owner, step)
            s.flush()
            return step_record(row)

    def append_steps(
        self, run_id: str, owner: str, steps: list[NewStep], *, run_fields: dict[str, Any] | None = None
    ) -> list[StepRecord]:
        """Commit several steps (and run fields) in one transaction, fenced by the lease: a pass
        holds the steps a replay could redo and commits them with the next durable one."""
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            for k, v in (run_fields or {}).items():
                setattr(run, k, v)
            first = self._next_seq(s, run_id, owner)
            rows = [self._add_step(s, run, owner, step, first + i) for i, step in enumerate(steps)]
            s.flush()
            return [step_record(r) for r in rows]

    def propose_actions(
        self, run_id: str, owner: str, actions: list[NewAction], step: NewStep
    ) -> list[ActionRecord]:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            rows = []
            for a in actions:
                row = Action(
                    run_id=run_id,
                    tool_call_id=a.tool_call_id,
                    tool=a.tool,
                    connection=a.connection,
                    operation=a.operation,
                    arguments=a.arguments,
                    proposed_arguments=a.arguments,
                    status=a.status,
                    risk=a.risk,
                    reasons=a.reasons,
                    effects=a.effects,
                    provenance=a.provenance,
                    facts=a.facts,
                    requested_by=a.requested_by,
                    required_approvals=a.required_approvals,
                    expires_at=utcnow() + timedelta(hours=self.approval_ttl_hours)
                    if a.status == "pending"
                    else None,
                    decided_by=a.decided_by,
                    decided_at=utcnow() if a.status != "pending" else None,
                )
                s.add(row)
                rows.append(row)
            self._add_step(s, run, owner, step)
            s.flush()
            for row in rows:
                audit(
                    s,
                    owner,
                    "action.proposed",
                    "action",
                    row.id,
                    {"run_id": run_id, "tool": row.tool, "status": row.status, "risk": row.risk},
                )
            return [action_record(r) for r in rows]

    def start_execution(self, action_id: str, owner: str) -> ActionRecord:
        with self.db.session() as s:
            action = s.scalars(select(Action).where(Action.id == action_id).with_for_update()).one()
            self._locked(s, action.run_id, owner)
            if action.status not in ("approved", "executing"):
                raise LeaseLost(f"action {action_id} is {action.status}, not approved")
            resumed = action.status == "executing"
            action.status = "executing"
            action.attempts += 1
            audit(
                s,
                owner,
                "action.executing",
                "action",
                action.id,
                {"attempt": action.attempts, "tool": action.tool, "resumed": resumed},
            )
            s.flush()
            record = action_record(action)
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
        with self.db.session() as s:
            action = s.scalars(select(Action).where(Action.id == action_id).with_for_update()).one()
            run = self._locked(s, action.run_id, owner)
            action.status = status
            action.result = result
            action.error = error
            action.executed_at = utcnow()
            self._add_step(s, run, owner, step)
            audit(s, owner, f"action.{status}", "action", action.id, {"tool": action.tool, "error": error})
            s.flush()
            return action_record(action)

    def set_status(
        self,
        run_id: str,
        owner: str,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> str:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            if status == "waiting_approval":
                # People may have decided while this pass ran: the lock is held, so count now.
                status = park_status(s, run_id)
            run.status = status
            run.error = error
            run.retries = 0
            run.not_before = None
            if result is not None:
                run.result = result
            run.updated_at = utcnow()
            # The pass ends here: give up the lease in the same commit rather than in a second one.
            run.lease_owner = None
            run.lease_expires_at = None
            audit(s, owner, f"run.{status}", "run", run_id, {"error": error} if error else {})
        self._released.add((run_id, owner))
        return status

    def fail_action(self, action_id: str, owner: str, error: str) -> ActionRecord:
        with self.db.session() as s:
            action = s.scalars(select(Action).where(Action.id == action_id).with_for_update()).one()
            self._locked(s, action.run_id, owner)
            if action.status not in ("approved", "executing"):
                return action_record(action)
            action.status = "failed"
            action.error = error
            action.executed_at = utcnow()
            audit(s, owner, "action.failed", "action", action.id, {"tool": action.tool, "error": error})
            return action_record(action)

    def requeue(self, run_id: str, owner: str, *, error: str, delay: float) -> None:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            run.status = "queued"
            run.error = error
            run.retries = (run.retries or 0) + 1
            run.not_before = utcnow() + timedelta(seconds=delay)
            run.lease_owner = None
            run.lease_expires_at = None
            run.updated_at = utcnow()
            audit(
                s,
                owner,
                "run.retry_later",
                "run",
                run_id,
                {"error": error, "retries": run.retries, "delay_seconds": round(delay, 1)},
            )

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, OperationalError):  # lost connection, deadlock, serialization, locked
            return True
        return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)

    def sweep(self, limit: int = 100) -> int:
        """Requeue parked runs that have work; each one locked (skipping any being decided right now)."""
        with self.db.session() as s:
            q = select(Run.id).where(Run.status.in_(RUN_PARKED), has_work(Run.id)).limit(limit)
            if self.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            found = list(s.scalars(q))
            n = sum(1 for run_id in found if requeue_if_decided(s, run_id, actor="sweeper"))
            if n:
                log.warning("sweeper requeued %d parked runs that had work: %s", n, found[:10])
            return n

    # -- leases ---------------------------------------------------------------
    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        with self.db.session() as s:
            res = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_owner == owner)
                .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _runnable(now: Any) -> Any:
        """Queued (and past any backoff), or running under a lease that lapsed (its worker died)
        or under none (its worker let go of it without leaving a status: the requeue after a
        dropped connection failed too, and the release that followed did not)."""
        return or_(
            and_(Run.status == "queued", or_(Run.not_before.is_(None), Run.not_before <= now)),
            and_(Run.status == "running", or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < now)),
        )

    def _take(self, s: Session, run_id: str, owner: str, seconds: float, now: Any) -> bool:
        """Compare-and-set the lease: only one worker can win a run."""
        res = s.execute(
            update(Run)
            .where(Run.id == run_id, self._runnable(now))
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=seconds),
                attempts=Run.attempts + 1,
            )
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            return False
        self._released.discard((run_id, owner))  # a new pass holds the lease again
        self._seqs.pop((run_id, owner), None)
        audit(s, owner, "run.claimed", "run", run_id, {})
        return True

    def claim(self, owner: str, seconds: float) -> str | None:
        """Take the oldest runnable run. Expired approvals are looked for only when the queue is
        otherwise empty or EXPIRY_SCAN_SECONDS have passed, not on every claim: deadlines are
        hours long, and the scan is most of a busy claim's cost."""
        now = utcnow()
        scan = time.monotonic() >= self._next_expiry_scan
        with self.db.session() as s:
            if not scan:
                run_id = self._claim_one(s, owner, seconds, now)
                if run_id is not None:
                    return run_id
            self._next_expiry_scan = time.monotonic() + EXPIRY_SCAN_SECONDS
            self._expire_actions(s, now)
            return self._claim_one(s, owner, seconds, now)

    def _claim_one(self, s: Session, owner: str, seconds: float, now: Any) -> str | None:
        q = select(Run.id).where(self._runnable(now)).order_by(Run.created_at).limit(1)
        if self.db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        run_id = s.scalar(q)
        return run_id if run_id is not None and self._take(s, run_id, owner, seconds, now) else None

    def claim_run(self, run_id: str, owner: str, seconds: float) -> bool:
        """Claim one particular run if it is runnable (a chat turn advanced by the API that took it)."""
        with self.db.session() as s:
            return self._take(s, run_id, owner, seconds, utcnow())

    def release(self, run_id: str, owner: str) -> None:
        if (run_id, owner) in self._released:
            self._released.discard((run_id, owner))
            return
        with self.db.session() as s:
            s.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def _expire_actions(self, s: Session, now: Any) -> None:
        """Pending actions past their deadline become expired (never rejected); their runs go on."""
        q = select(Action).where(Action.status == "pending", Action.expires_at < now)
        if self.db.is_postgres:  # one being decided right now is left to its decision
            q = q.with_for_update(skip_locked=True)
        expired = s.scalars(q).all()
        for a in expired:
            a.status = "expired"
            audit(s, "system", "action.expired", "action", a.id, {"run_id": a.run_id})
        for run_id in sorted({a.run_id for a in expired}):
            requeue_if_decided(s, run_id, actor="system")

    def audit(self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]) -> None:
        with self.db.session() as s:
            audit(s, actor, event, subject_type, subject_id, data)


def _any(run_id: Any, *statuses: str) -> Any:
    return exists().where(Action.run_id == run_id, Action.status.in_(statuses))


def has_work(run_id: Any) -> Any:
    """A parked run has work when an approved write waits to run (an approved action executes
    promptly, whatever its siblings wait for) or when nothing is left for people to decide."""
    return or_(_any(run_id, "approved", "executing"), ~_any(run_id, "pending", "failed"))


def park_status(s: Session, run_id: str) -> str:
    """Where a run that cannot go on by itself goes; call with the run's row locked."""
    s.flush()
    if s.scalar(select(has_work(run_id))):
        return "queued"
    return "needs_attention" if s.scalar(select(_any(run_id, "failed"))) else "waiting_approval"


def requeue_if_decided(s: Session, run_id: str, *, actor: str = "system") -> bool:
    """After a decision: lock the run, then look at its actions, and put it back in the queue
    if it is parked and has work (or move it between waiting and needing attention).

    The lock comes first so that two decisions on sibling actions serialise here and the
    second one sees the first (READ COMMITTED takes a fresh snapshot per statement).
    """
    s.flush()
    run = s.scalars(select(Run).where(Run.id == run_id).with_for_update()).one_or_none()
    if run is None or run.status not in RUN_PARKED:
        return False  # running: its worker parks it under this same lock and sees the decision
    status = park_status(s, run_id)
    if status == run.status:
        return False
    run.status = status
    run.updated_at = utcnow()
    if status == "queued":
        run.not_before = None
        audit(s, actor, "run.requeued", "run", run_id, {})
        return True
    return False
