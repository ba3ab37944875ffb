"""The run store: steps, actions, leases. Implements app.agent.ports.RunStore.

Every write is fenced by the run's lease (the row is locked, the owner
checked), so a worker that lost its lease cannot append to a run another
worker now owns.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.agent.ports import ActionRecord, LeaseLost, NewAction, NewStep, RunSnapshot, StepRecord
from app.store.db import Database
from app.store.tables import Action, AuditEntry, Run, Step, utcnow


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

    # -- reading --------------------------------------------------------------
    def load(self, run_id: str) -> RunSnapshot:
        with self.db.session() as s:
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
            )

    # -- fenced writes --------------------------------------------------------
    def _locked(self, s: Session, run_id: str, owner: str) -> Run:
        run = s.scalars(select(Run).where(Run.id == run_id).with_for_update()).one()
        if run.lease_owner != owner:
            raise LeaseLost(run_id)
        return run

    def _add_step(self, s: Session, run: Run, owner: str, step: NewStep) -> Step:
        seq = (s.scalar(select(func.max(Step.seq)).where(Step.run_id == run.id)) or 0) + 1
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
        s.flush()
        return row

    def append_step(
        self, run_id: str, owner: str, step: NewStep, *, run_fields: dict[str, Any] | None = None
    ) -> StepRecord:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            for k, v in (run_fields or {}).items():
                setattr(run, k, v)
            return step_record(self._add_step(s, run, owner, step))

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
            action.status = "executing"
            action.attempts += 1
            audit(
                s,
                owner,
                "action.executing",
                "action",
                action.id,
                {"attempt": action.attempts, "tool": action.tool},
            )
            s.flush()
            return action_record(action)

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
    ) -> None:
        with self.db.session() as s:
            run = self._locked(s, run_id, owner)
            if status == "waiting_approval":
                pending = s.scalar(
                    select(func.count())
                    .select_from(Action)
                    .where(Action.run_id == run_id, Action.status == "pending")
                )
                if not pending:  # people decided while we were parking: go straight on
                    status = "queued"
            run.status = status
            run.error = error
            if result is not None:
                run.result = result
            run.updated_at = utcnow()
            audit(s, owner, f"run.{status}", "run", run_id, {"error": error} if error else {})

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
        """Queued, or running under a lease that lapsed (its worker died)."""
        return or_(Run.status == "queued", and_(Run.status == "running", Run.lease_expires_at < now))

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
        audit(s, owner, "run.claimed", "run", run_id, {})
        return True

    def claim(self, owner: str, seconds: float) -> str | None:
        now = utcnow()
        with self.db.session() as s:
            self._expire_actions(s, now)
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
        with self.db.session() as s:
            s.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def _expire_actions(self, s: Session, now: Any) -> None:
        """Pending actions past their deadline become expired (never rejected); their runs go on."""
        expired = s.scalars(select(Action).where(Action.status == "pending", Action.expires_at < now)).all()
        for a in expired:
            a.status = "expired"
            audit(s, "system", "action.expired", "action", a.id, {"run_id": a.run_id})
        for run_id in {a.run_id for a in expired}:
            requeue_if_decided(s, run_id)

    def audit(self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]) -> None:
        with self.db.session() as s:
            audit(s, actor, event, subject_type, subject_id, data)


def requeue_if_decided(s: Session, run_id: str) -> bool:
    """A parked run goes back to the queue once no action of it is pending."""
    s.flush()
    pending = s.scalar(
        select(func.count()).select_from(Action).where(Action.run_id == run_id, Action.status == "pending")
    )
    if pending:
        return False
    res = s.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "waiting_approval")
        .values(status="queued", updated_at=utcnow())
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]
