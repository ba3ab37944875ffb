"""What the orchestrator needs from storage, as plain data and a small interface.

The agent never sees SQL; app/store implements RunStore.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

RUN_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
# A parked run waits for people: decisions on pending actions, or on an approved write that failed.
RUN_PARKED = frozenset({"waiting_approval", "needs_attention"})
ACTION_DECIDED = frozenset(
    {"approved", "executing", "succeeded", "failed", "dismissed", "rejected", "expired"}
)


@dataclass
class StepRecord:
    seq: int
    kind: str
    name: str | None
    data: dict[str, Any]
    prompt_version: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float | None = None


@dataclass
class NewStep:
    kind: str  # model_call | tool_call | decision | classification | draft | note | error
    name: str
    data: dict[str, Any]
    prompt_version: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float | None = None


@dataclass
class ActionRecord:
    id: str
    run_id: str
    tool_call_id: str
    tool: str
    connection: str
    operation: str
    arguments: dict[str, Any]
    status: str
    risk: str = "low"
    reasons: list[str] = field(default_factory=list)
    effects: dict[str, Any] = field(default_factory=dict)
    decided_by: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    # start_execution found it already executing: an earlier attempt was cut off mid-call.
    resumed: bool = False
    # When it was proposed: no attempt of it can have gone out before (connectors look from here).
    created_at: datetime | None = None
    # When its first attempt went out (start_execution), if one has: a later bound than the above.
    first_tried_at: datetime | None = None
    # Resumed, but the standing rule that approved it was revoked since: why (a person decides).
    withdrawn: str | None = None
    # The version of its operation it was proposed for (tools.base.Tool.version), if any.
    tool_version: str | None = None


@dataclass
class NewAction:
    tool_call_id: str
    tool: str
    connection: str
    operation: str
    arguments: dict[str, Any]
    risk: str
    reasons: list[str]
    status: str = "pending"  # or "approved" when a standing rule allows it
    decided_by: str | None = None
    # The person who asked for this write, when one did (a chat request); they may not approve it.
    requested_by: str | None = None
    required_approvals: int = 1
    # What the write does, as its operation declares it (see connectors.base.Effects.summary).
    effects: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    # The facts the gate checked against, kept so an approver's edit is checked the same way.
    facts: dict[str, Any] | None = None
    # Chosen when proposed, so a pass can hold the proposal for its next commit and still name it.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The version of its operation proposed (tools.base.Tool.version): it runs only against it.
    tool_version: str | None = None

    def record(self, run_id: str) -> ActionRecord:
        """The action as it will be stored once committed (no decision, no attempt yet)."""
        return ActionRecord(
            id=self.id,
            run_id=run_id,
            tool_call_id=self.tool_call_id,
            tool=self.tool,
            connection=self.connection,
            operation=self.operation,
            arguments=self.arguments,
            status=self.status,
            risk=self.risk,
            reasons=list(self.reasons),
            effects=dict(self.effects),
            decided_by=self.decided_by,
            created_at=datetime.now(UTC),
            tool_version=self.tool_version,
        )


@dataclass
class RunSnapshot:
    id: str
    kind: str
    status: str
    input: dict[str, Any]
    created_by: str | None
    steps: list[StepRecord]
    actions: list[ActionRecord]
    classification: dict[str, Any] | None = None
    draft: dict[str, Any] | None = None
    # Passing faults in a row that sent this run back to the queue (reset when it parks or ends).
    retries: int = 0


class LeaseLost(Exception):
    """Another worker owns this run now; stop without writing anything more."""


class Transient(Exception):
    """A passing fault (a system's outage, a dropped database connection): try the run again later."""


class RunStore(Protocol):
    def status(self, run_id: str) -> str:
        """A run's status alone: a cheap look at a run another worker is advancing. KeyError if none."""
        ...

    def load(self, run_id: str, *, owner: str | None = None) -> RunSnapshot:
        """The run as stored. `owner`: the lease holder loading it to advance it, so the store
        may take what it needs for that pass (the next step number) from this read."""
        ...

    def append_step(
        self, run_id: str, owner: str, step: NewStep, *, run_fields: dict[str, Any] | None = None
    ) -> StepRecord:
        """Commit a step (and optional run fields such as classification) atomically, fenced by the lease."""
        ...

    def append_steps(
        self,
        run_id: str,
        owner: str,
        steps: Sequence[NewStep],
        *,
        run_fields: dict[str, Any] | None = None,
        actions: Sequence[NewAction] = (),
    ) -> list[StepRecord]:
        """Commit steps, run fields and newly proposed actions in one transaction, fenced by the
        lease: what a pass held since its last durable point (see RunContext)."""
        ...

    def start_execution(
        self, action_id: str, owner: str, *, lease_seconds: float | None = None
    ) -> ActionRecord:
        """approved → executing (or executing again after a crash); returns the action with attempts counted.
        With `lease_seconds`, the run's lease is renewed for that long in the same write, so the
        worker knows how long the lease holds for the call it makes next (app/agent/lease.py)."""
        ...

    def finish_execution(
        self,
        action_id: str,
        owner: str,
        *,
        status: str,
        result: dict[str, Any] | None,
        error: str | None,
        step: NewStep,
    ) -> ActionRecord: ...

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
        """Set and return the run's status, committing with it the steps, run fields and
        proposed actions the pass still held (the pass ends in one transaction). Parking ("waiting_approval") is decided under the
        run's lock: it becomes "queued" when there is work (an approved write, or nothing left
        to decide) and "needs_attention" while an approved write has failed. The pass is over:
        the lease is given up in the same write, so a `release` after it has nothing to do."""
        ...

    def fail_action(self, action_id: str, owner: str, error: str) -> ActionRecord:
        """An approved write the run can no longer reach: failed, for a person to retry or dismiss."""
        ...

    def return_unsent(self, action_id: str, owner: str, *, reason: str) -> ActionRecord:
        """executing → approved, the attempt taken back: the write was never sent (too little of
        the lease was left to send it, app/agent/lease.py), so the next pass sends it as any
        approved write rather than as one whose outcome is unknown. Audited with `reason`.
        Fenced by the lease like every write: LeaseLost when another worker may hold the run,
        and the action stays executing (the safe side). An action that is not executing is
        returned as it is."""
        ...

    def requeue(self, run_id: str, owner: str, *, error: str, delay: float) -> None:
        """Back to the queue after a passing fault, not to be claimed for `delay` seconds."""
        ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a storage error is a passing fault (a dropped connection, a deadlock)."""
        ...

    def moved_from(
        self, connection: str, operation: str, source: str, *, besides: str
    ) -> list[dict[str, Any]]:
        """The effects of other runs' writes of `operation` on `connection` whose money comes from
        `source` (a charge) and has left, or may have: approved, executing, succeeded or failed.
        `besides`: the asking run, whose own writes it knows."""
        ...

    def sweep(self) -> int:
        """Requeue parked runs that have work (none should; this is the safety net); returns how many."""
        ...

    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool: ...

    def claim(self, owner: str, seconds: float) -> str | None: ...

    def claim_run(self, run_id: str, owner: str, seconds: float) -> bool: ...

    def release(self, run_id: str, owner: str) -> None: ...

    def audit(
        self, actor: str, event: str, subject_type: str, subject_id: str, data: dict[str, Any]
    ) -> None: ...
