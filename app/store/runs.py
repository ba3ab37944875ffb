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
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.elements import ClauseElement

from app.agent.ports import (
    RUN_PARKED,
    ActionRecord,
    LeaseLost,
    NewAction,
    NewStep,
    RunSnapshot,
    StepRecord,
)
from app.store import audit_chain
from app.store.audit_chain import UnitOfWork
from app.store.db import Database, Work
from app.store.direct import execute, prepared, scalar
from app.store.tables import Action, AuditEntry, Run, Step, utcnow

# The store's hot paths speak SQLAlchemy Core to these tables: one statement each, with no
# unit of work to flush (the ORM's bookkeeping cost more than the statements themselves). The
# statements built once are `prepared`: they go to the driver, sqlite3 or psycopg (app.store.direct).
RUNS, STEPS, ACTIONS = (cast(Table, t.__table__) for t in (Run, Step, Action))
EXPIRY_SCAN_SECONDS = 30.0  # a busy queue still looks for expired approvals this often

log = logging.getLogger("switchboard.store")


def step_record(s: Any) -> StepRecord:
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


def _step_summary(r: StepRecord) -> dict[str, Any]:
    """What the audit row of a step says: enough to follow a run without its payloads."""
    summary: dict[str, Any] = {"seq": r.seq, "name": r.name}
    if r.kind == "model_call":
        summary.update(
            model=r.model, prompt=r.prompt_version, input_tokens=r.input_tokens, output_tokens=r.output_tokens
        )
    elif r.kind == "tool_call":
        summary.update(tool=r.data.get("tool"), effect=r.data.get("effect"), is_error=r.data.get("is_error"))
    return summary


def action_record(a: Any) -> ActionRecord:
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
        created_at=getattr(a, "created_at", None),
        first_tried_at=getattr(a, "first_tried_at", None),
        tool_version=getattr(a, "tool_version", None),
    )


def audit(
    s: UnitOfWork,
    actor: str,
    event: str,
    subject_type: str | None,
    subject_id: str | None,
    data: dict[str, Any],
) -> None:
    audit_chain.stage(s, actor, event, subject_type, subject_id, data)


class SqlRunStore:
    def __init__(self, db: Database, *, approval_ttl_hours: float = 72.0, admission: Admission | None = None):
        self.db = db
        # What a standing rule's approval passes when its write is about to go out (see Admission).
        self.admission = admission
        # A pending action expires (its own state, never a rejection) after this long.
        self.approval_ttl_hours = approval_ttl_hours
        self._seqs: dict[tuple[str, str], int] = {}  # (run, lease owner) -> next step number
        self._next_expiry_scan = 0.0  # time.monotonic() of the next claim that looks for expiries

    # -- reading --------------------------------------------------------------
    def moved_from(
        self, connection: str, operation: str, source: str, *, besides: str
    ) -> list[dict[str, Any]]:
        query = select(Action.effects).where(
            Action.connection == connection,
            Action.operation == operation,
            Action.status.in_(("approved", "executing", "succeeded", "failed")),
            Action.run_id != besides,
            Action.effects[("money", "source")].as_string() == source,
        )
        with self.db.reading() as c:
            return [dict(e or {}) for e in c.scalars(query).all()]

    def status(self, run_id: str) -> str:
        with self.db.reading() as c:
            status = scalar(c, _STATUS, {"run_id": run_id})
        if status is None:
            raise KeyError(run_id)
        return str(status)

    def load(self, run_id: str, *, owner: str | None = None) -> RunSnapshot:
        """With `owner` (the lease's holder, after its claim), the next step number is taken from
        the steps read here: no one else adds steps while the lease is held."""
        with self.db.reading() as c:
            run = execute(c, _RUN, {"run_id": run_id}).first()
            if run is None:
                raise KeyError(run_id)
            steps = execute(c, _STEPS_OF, {"run_id": run_id})
            actions = execute(c, _ACTIONS_OF, {"run_id": run_id})
            records = [step_record(x) for x in steps]
            if owner is not None and run.lease_owner == owner:
                self._seqs[(run_id, owner)] = (records[-1].seq if records else 0) + 1
            return RunSnapshot(
                id=run.id,
                kind=run.kind,
                status=run.status,
                input=run.input,
                created_by=run.created_by,
                steps=records,
                actions=[action_record(a) for a in actions],
                classification=run.classification,
                draft=run.draft,
                retries=run.retries or 0,
            )

    # -- fenced writes --------------------------------------------------------
    @staticmethod
    def _fence(s: UnitOfWork, run_id: str, owner: str, **values: Any) -> None:
        """Lock the run's row and check the lease in one statement: an UPDATE only the lease's
        holder can match (PostgreSQL locks the row; SQLite's BEGIN IMMEDIATE holds the writer).

        `values` are the columns to set, as plain values (a statement built once, its SET clause
        named by the keys), plus `_usage`'s; a SQL expression among them builds one for the call."""
        values.setdefault("updated_at", utcnow())
        unknown = values.keys() - _RUN_COLUMNS - _ADDS.keys()
        if unknown:  # a SET clause named by parameters would leave them out without a word
            raise AttributeError(f"runs have no field {', '.join(map(repr, sorted(unknown)))}")
        if any(isinstance(v, ClauseElement) for v in values.values()):
            adds = {_ADDS[k]: RUNS.c[_ADDS[k]] + values.pop(k) for k in list(values) if k in _ADDS}
            stmt = _FENCE.values(**values, **adds)
            values = {}
        else:
            stmt = _FENCE_USAGE if _ADD_INPUT in values else _FENCE
        res = execute(s.connection(), stmt, {"fence_run": run_id, "fence_owner": owner, **values})
        if not res.rowcount:
            raise LeaseLost(run_id)

    @staticmethod
    def _usage(steps: Sequence[NewStep]) -> dict[str, Any]:
        """What these steps add to the run's token and cost totals (in the fencing UPDATE)."""
        if not any(st.input_tokens or st.output_tokens or st.cost_usd for st in steps):
            return {}
        return {
            _ADD_INPUT: sum(st.input_tokens for st in steps),
            _ADD_OUTPUT: sum(st.output_tokens for st in steps),
            _ADD_COST: sum(st.cost_usd for st in steps),
        }

    def _insert_steps(self, s: Work, run_id: str, owner: str, steps: Sequence[NewStep]) -> list[StepRecord]:
        """Insert steps (call with the run fenced) and audit each; one INSERT for all of them."""
        first = self._next_seq(s, run_id, owner)
        s.after_commit.append(lambda: self._seqs.__setitem__((run_id, owner), first + len(steps)))
        now = utcnow()
        records = [
            StepRecord(
                seq=first + i,
                kind=st.kind,
                name=st.name,
                data=st.data,
                prompt_version=st.prompt_version,
                model=st.model,
                input_tokens=st.input_tokens,
                output_tokens=st.output_tokens,
                cost_usd=st.cost_usd,
                latency_ms=st.latency_ms,
            )
            for i, st in enumerate(steps)
        ]
        execute(
            s.connection(), _ADD_STEPS, [{**vars(r), "run_id": run_id, "created_at": now} for r in records]
        )
        for r in records:
            audit(s, owner, f"step.{r.kind}", "run", run_id, _step_summary(r))
        return records

    def _next_seq(self, s: Work, run_id: str, owner: str) -> int:
        """The next step number. While this owner holds the lease no one else adds steps, so the
        number is remembered from its last write instead of asked of the table each time."""
        known = self._seqs.get((run_id, owner))
        if known is not None:
            return known
        top = scalar(s.connection(), select(func.max(STEPS.c.seq)).where(STEPS.c.run_id == run_id))
        return int(top or 0) + 1

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
        """Commit steps, run fields and proposed actions in one transaction, fenced by the lease:
        a pass holds what a replay could redo and commits it with the next durable point."""
        with self.db.transaction() as s:
            self._fence(s, run_id, owner, **(run_fields or {}), **self._usage(steps))
            self._insert_actions(s, run_id, owner, actions)
            return self._insert_steps(s, run_id, owner, steps) if steps else []

    def _insert_actions(self, s: Work, run_id: str, owner: str, actions: Sequence[NewAction]) -> None:
        """Insert proposed actions (call with the run fenced), each audited."""
        if not actions:
            return
        now = utcnow()
        expires = now + timedelta(hours=self.approval_ttl_hours)
        rows = [
            {
                "id": a.id,
                "run_id": run_id,
                "tool_call_id": a.tool_call_id,
                "tool": a.tool,
                "connection": a.connection,
                "operation": a.operation,
                "arguments": a.arguments,
                "proposed_arguments": a.arguments,
                "status": a.status,
                "risk": a.risk,
                "reasons": a.reasons,
                "effects": a.effects,
                "provenance": a.provenance,
                "facts": a.facts,
                "tool_version": a.tool_version,
                "requested_by": a.requested_by,
                "required_approvals": a.required_approvals,
                "approvals": [],
                "attempts": 0,
                "expires_at": expires if a.status == "pending" else None,
                "decided_by": a.decided_by,
                "decided_at": now if a.status != "pending" else None,
                "created_at": now,
            }
            for a in actions
        ]
        execute(s.connection(), _ADD_ACTIONS, rows)
        for row in rows:
            audit(
                s,
                owner,
                "action.proposed",
                "action",
                str(row["id"]),
                {"run_id": run_id, "tool": row["tool"], "status": row["status"], "risk": row["risk"]},
            )

    @staticmethod
    def _action(s: Work, action_id: str) -> Any:
        """The action's row, locked (actions are locked before their run)."""
        row = execute(s.connection(), _ACTION_LOCKED, {"action_id": action_id}).first()
        if row is None:
            raise KeyError(action_id)
        return row

    @staticmethod
    def _set_action(s: Work, action: Any, **values: Any) -> ActionRecord:
        execute(s.connection(), _SET_ACTION, {"action_id": action.id, **values})
        return action_record(SimpleNamespace(**{**action._mapping, **values}))

    def start_execution(
        self, action_id: str, owner: str, *, lease_seconds: float | None = None
    ) -> ActionRecord:
        with self.db.transaction() as s:
            action = self._action(s, action_id)
            renew = (
                {}
                if lease_seconds is None
                else {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
            )
            # A rule's approval is weighed again before the run's row is fenced: a person's approval
            # takes the source's lock and then the run's, and two transactions taking them in
            # opposite orders would deadlock each other on PostgreSQL. (A lease lost below rolls
            # the hold back with the rest.)
            # (A resumed write is asked only whether its rule still stands: its attempt may have
            # gone out, so it is not given back to people but failed for them to retry or dismiss.)
            held = (
                self.admission(s, action)
                if self.admission is not None
                and action.status in ("approved", "executing")
                and str(action.decided_by or "").startswith("rule:")
                else None
            )
            self._fence(s, action.run_id, owner, **renew)
            if action.status not in ("approved", "executing"):
                raise LeaseLost(f"action {action_id} is {action.status}, not approved")
            if held is not None and action.status == "approved":
                return self._hold(s, action, owner, *held)
            resumed = action.status == "executing"
            attempts = (action.attempts or 0) + 1
            record = self._set_action(s, action, status="executing", attempts=attempts)
            audit(
                s,
                owner,
                "action.executing",
                "action",
                action.id,
                {"attempt": attempts, "tool": action.tool, "resumed": resumed},
            )
            record.resumed = resumed
            record.withdrawn = held[0] if held is not None else None
            # When the first attempt went out, which no attempt preceded (a connector looking for
            # an earlier write starts there): now, or as the audit recorded it.
            record.first_tried_at = (
                utcnow() if attempts == 1 else scalar(s.connection(), _FIRST_TRY, {"action_id": action.id})
            )
            return record

    def _hold(self, s: Work, action: Any, owner: str, reason: str, required: int) -> ActionRecord:
        """A rule-approved write that no longer passes goes to people instead of out, and waits
        for them as long as any write proposed to people does."""
        reasons = [*(action.reasons or []), reason]
        record = self._set_action(
            s,
            action,
            status="pending",
            decided_by=None,
            required_approvals=required,
            reasons=reasons,
            expires_at=utcnow() + timedelta(hours=self.approval_ttl_hours),
        )
        audit(s, owner, "action.held", "action", action.id, {"tool": action.tool, "reason": reason})
        record.resumed = False
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
        with self.db.transaction() as s:
            action = self._action(s, action_id)
            self._fence(s, action.run_id, owner, **self._usage([step]))
            record = self._set_action(
                s, action, status=status, result=result, error=error, executed_at=utcnow()
            )
            self._insert_steps(s, action.run_id, owner, [step])
            audit(s, owner, f"action.{status}", "action", action.id, {"tool": action.tool, "error": error})
            return record

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
        values: dict[str, Any] = {**(run_fields or {}), **self._usage(steps)}
        parking = status == "waiting_approval"
        with self.db.transaction() as s:
            if parking:
                # People may have decided while this pass ran: lock first, then count.
                self._fence(s, run_id, owner, **values)
                values = {}
                self._insert_actions(s, run_id, owner, actions)
                status = park_status(s, run_id)
            fields: dict[str, Any] = {"status": status, "error": error, "retries": 0, "not_before": None}
            if result is not None:
                fields["result"] = result
            # The pass ends here: give up the lease in the same commit rather than in a second one.
            self._fence(s, run_id, owner, **values, **fields, lease_owner=None, lease_expires_at=None)
            if not parking:
                self._insert_actions(s, run_id, owner, actions)
            if steps:
                self._insert_steps(s, run_id, owner, steps)
            audit(s, owner, f"run.{status}", "run", run_id, {"error": error} if error else {})
        self._pass_over(run_id, owner)
        return status

    def _pass_over(self, run_id: str, owner: str) -> None:
        """The lease is given up: nothing more to remember about this pass."""
        self._seqs.pop((run_id, owner), None)

    def fail_action(self, action_id: str, owner: str, error: str) -> ActionRecord:
        with self.db.transaction() as s:
            action = self._action(s, action_id)
            self._fence(s, action.run_id, owner)
            if action.status not in ("approved", "executing"):
                return action_record(action)
            record = self._set_action(s, action, status="failed", error=error, executed_at=utcnow())
            audit(s, owner, "action.failed", "action", action.id, {"tool": action.tool, "error": error})
            return record

    def return_unsent(self, action_id: str, owner: str, *, reason: str) -> ActionRecord:
        with self.db.transaction() as s:
            action = self._action(s, action_id)
            self._fence(s, action.run_id, owner)
            if action.status != "executing":
                return action_record(action)
            attempt = action.attempts or 0
            record = self._set_action(s, action, status="approved", attempts=max(attempt - 1, 0))
            audit(
                s,
                owner,
                "action.not_sent",
                "action",
                action.id,
                {"tool": action.tool, "attempt": attempt, "reason": reason},
            )
            return record

    def requeue(self, run_id: str, owner: str, *, error: str, delay: float) -> None:
        with self.db.transaction() as s:
            self._fence(
                s,
                run_id,
                owner,
                status="queued",
                error=error,
                retries=RUNS.c.retries + 1,
                not_before=utcnow() + timedelta(seconds=delay),
                lease_owner=None,
                lease_expires_at=None,
            )
            retries = scalar(s.connection(), select(RUNS.c.retries).where(RUNS.c.id == run_id))
            audit(
                s,
                owner,
                "run.retry_later",
                "run",
                run_id,
                {"error": error, "retries": retries, "delay_seconds": round(delay, 1)},
            )
        self._pass_over(run_id, owner)

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, OperationalError):  # lost connection, deadlock, serialization, locked
            return True
        return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)

    def sweep(self, limit: int = 100) -> int:
        """Requeue parked runs that have work; each one locked (skipping any being decided right now)."""
        with self.db.transaction() as s:
            q = select(RUNS.c.id).where(RUNS.c.status.in_(RUN_PARKED), has_work(RUNS.c.id)).limit(limit)
            if self.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            found = list(s.connection().scalars(q))
            n = sum(1 for run_id in found if requeue_if_decided(s, run_id, actor="sweeper"))
            if n:
                log.warning("sweeper requeued %d parked runs that had work: %s", n, found[:10])
            return n

    # -- leases ---------------------------------------------------------------
    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        with self.db.transaction() as s:
            res = execute(
                s.connection(),
                _FENCE,
                {
                    "fence_run": run_id,
                    "fence_owner": owner,
                    "lease_expires_at": utcnow() + timedelta(seconds=seconds),
                },
            )
            return bool(res.rowcount)

    def _take(self, s: Work, run_id: str, owner: str, seconds: float, now: Any) -> bool:
        """Compare-and-set the lease: only one worker can win a run."""
        res = execute(
            s.connection(),
            _TAKE,
            {
                "run_id": run_id,
                "owner": owner,
                "now": now,
                "until": now + timedelta(seconds=seconds),
                "updated_at": now,
            },
        )
        if not res.rowcount:
            return False
        # No audit row: the lease names its holder, and every row the pass writes has it as actor.
        # A claim is the busiest write there is, and one without rows never waits for the chain's
        # lock (only the occasional claim whose expiry scan finds lapsed approvals writes any).
        self._seqs.pop((run_id, owner), None)
        return True

    def claim(self, owner: str, seconds: float) -> str | None:
        """Take the oldest runnable run. Expired approvals are looked for only when the queue is
        otherwise empty or EXPIRY_SCAN_SECONDS have passed, not on every claim: deadlines are
        hours long, and the scan is most of a busy claim's cost."""
        now = utcnow()
        scan = time.monotonic() >= self._next_expiry_scan
        with self.db.transaction() as s:
            if not scan:
                run_id = self._claim_one(s, owner, seconds, now)
                if run_id is not None:
                    return run_id
            self._next_expiry_scan = time.monotonic() + EXPIRY_SCAN_SECONDS
            self._expire_actions(s, now)
            return self._claim_one(s, owner, seconds, now)

    def _claim_one(self, s: Work, owner: str, seconds: float, now: Any) -> str | None:
        q = _OLDEST_LOCKED if self.db.is_postgres else _OLDEST
        run_id = scalar(s.connection(), q, {"now": now})
        return run_id if run_id is not None and self._take(s, run_id, owner, seconds, now) else None

    def claim_run(self, run_id: str, owner: str, seconds: float) -> bool:
        """Claim one particular run if it is runnable (a chat turn advanced by the API that took it)."""
        with self.db.transaction() as s:
            return self._take(s, run_id, owner, seconds, utcnow())

    def release(self, run_id: str, owner: str) -> None:
        self._pass_over(run_id, owner)
        with self.db.transaction() as s:
            execute(
                s.connection(),
                _FENCE,
                {"fence_run": run_id, "fence_owner": owner, "lease_owner": None, "lease_expires_at": None},
            )

    def _expire_actions(self, s: Work, now: Any) -> None:
        """Pending actions past their deadline become expired (never rejected); their runs go on."""
        q = select(ACTIONS.c.id, ACTIONS.c.run_id).where(
            ACTIONS.c.status == "pending", ACTIONS.c.expires_at < now
        )
        if self.db.is_postgres:  # one being decided right now is left to its decision
            q = q.with_for_update(skip_locked=True)
        c = s.connection()
        expired = execute(c, q).all()
        for a in expired:
            execute(c, _SET_ACTION, {"action_id": a.id, "status": "expired"})
            audit(s, "system", "action.expired", "action", a.id, {"run_id": a.run_id})
        for run_id in sorted({a.run_id for a in expired}):
            requeue_if_decided(s, run_id, actor="system")

    def audit(self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]) -> None:
        with self.db.transaction() as s:
            audit(s, actor, event, subject_type, subject_id, data)


def _runnable(now: Any) -> Any:
    """Queued (and past any backoff), or running under a lease that lapsed (its worker died)
    or under none (its worker let go of it without leaving a status: the requeue after a
    dropped connection failed too, and the release that followed did not)."""
    return or_(
        and_(RUNS.c.status == "queued", or_(RUNS.c.not_before.is_(None), RUNS.c.not_before <= now)),
        and_(
            RUNS.c.status == "running",
            or_(RUNS.c.lease_expires_at.is_(None), RUNS.c.lease_expires_at < now),
        ),
    )


# The hot paths' statements, built once (building one costs more than SQLite takes to run it).
# The fence: an UPDATE of the run that only the lease's holder matches; the columns it sets are
# named by the parameters it is run with (see `SqlRunStore._fence`).
_FENCE = prepared(
    update(RUNS).where(RUNS.c.id == bindparam("fence_run"), RUNS.c.lease_owner == bindparam("fence_owner"))
)
_ADD_INPUT, _ADD_OUTPUT, _ADD_COST = "add_input_tokens", "add_output_tokens", "add_cost_usd"
_ADDS = {_ADD_INPUT: "input_tokens", _ADD_OUTPUT: "output_tokens", _ADD_COST: "cost_usd"}
_RUN_COLUMNS = frozenset(RUNS.c.keys())
_FENCE_USAGE = prepared(
    _FENCE.values(
        input_tokens=RUNS.c.input_tokens + bindparam(_ADD_INPUT),
        output_tokens=RUNS.c.output_tokens + bindparam(_ADD_OUTPUT),
        cost_usd=RUNS.c.cost_usd + bindparam(_ADD_COST),
    )
)
_RUN = prepared(select(RUNS).where(RUNS.c.id == bindparam("run_id")))
_STATUS = prepared(select(RUNS.c.status).where(RUNS.c.id == bindparam("run_id")))
_STEPS_OF = prepared(select(STEPS).where(STEPS.c.run_id == bindparam("run_id")).order_by(STEPS.c.seq))
_ACTIONS_OF = prepared(
    select(ACTIONS).where(ACTIONS.c.run_id == bindparam("run_id")).order_by(ACTIONS.c.created_at)
)
_ACTION_LOCKED = prepared(select(ACTIONS).where(ACTIONS.c.id == bindparam("action_id")).with_for_update())
_SET_ACTION = prepared(update(ACTIONS).where(ACTIONS.c.id == bindparam("action_id")))
_SET_RUN = prepared(update(RUNS).where(RUNS.c.id == bindparam("_id")))
_ADD_STEPS = prepared(insert(STEPS))
_ADD_ACTIONS = prepared(insert(ACTIONS))
_FIRST_TRY = select(func.min(AuditEntry.at)).where(
    AuditEntry.subject_type == "action",
    AuditEntry.subject_id == bindparam("action_id"),
    AuditEntry.event == "action.executing",
)

# A check a standing rule's approval passes in the transaction that starts its write, under the
# locks a person's approval takes (the services' approvals): (why, approvers needed) sends the
# write to people instead. Two runs deciding at once each saw the other's write not yet there.
Admission = Callable[[Work, Any], tuple[str, int] | None]

# Claims run many times a second on a busy queue: their statements are built once.
_NOW: Any = bindparam("now")
_OLDEST = prepared(select(RUNS.c.id).where(_runnable(_NOW)).order_by(RUNS.c.created_at).limit(1))
_OLDEST_LOCKED = prepared(_OLDEST.with_for_update(skip_locked=True))
_TAKE = prepared(
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), _runnable(_NOW))
    .values(
        status="running",
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until"),
        attempts=RUNS.c.attempts + 1,
    )
)


def _any(run_id: Any, *statuses: str) -> Any:
    # each status its own comparison, not IN (...): a list is bound anew at every execution
    return exists().where(ACTIONS.c.run_id == run_id, or_(*(ACTIONS.c.status == s for s in statuses)))


def has_work(run_id: Any) -> Any:
    """A parked run has work when an approved write waits to run (an approved action executes
    promptly, whatever its siblings wait for) or when nothing is left for people to decide."""
    return or_(_any(run_id, "approved", "executing"), ~_any(run_id, "pending", "failed"))


# Whether the run has work, and whether a write of it failed: one statement, built once.
_PARK = prepared(select(has_work(bindparam("run_id")), _any(bindparam("run_id"), "failed")))


def park_status(s: UnitOfWork, run_id: str) -> str:
    """Where a run that cannot go on by itself goes; call with the run's row locked."""
    s.flush()
    work, failed = execute(s.connection(), _PARK, {"run_id": run_id}).one()
    if work:
        return "queued"
    return "needs_attention" if failed else "waiting_approval"


_STATUS_LOCKED = prepared(select(RUNS.c.status).where(RUNS.c.id == bindparam("run_id")).with_for_update())


def requeue_if_decided(s: UnitOfWork, run_id: str, *, actor: str = "system") -> bool:
    """After a decision: lock the run, then look at its actions, and put it back in the queue
    if it is parked and has work (or move it between waiting and needing attention).

    The lock comes first so that two decisions on sibling actions serialise here and the
    second one sees the first (READ COMMITTED takes a fresh snapshot per statement).
    """
    s.flush()
    c = s.connection()
    current = scalar(c, _STATUS_LOCKED, {"run_id": run_id})
    if current is None or current not in RUN_PARKED:
        return False  # running: its worker parks it under this same lock and sees the decision
    status = park_status(s, run_id)
    if status == current:
        return False
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if status == "queued":
        values["not_before"] = None
    execute(c, _SET_RUN, {**values, "_id": run_id})
    if status == "queued":
        audit(s, actor, "run.requeued", "run", run_id, {})
        return True
    return False
