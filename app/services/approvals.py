"""The approval queue: people approve (optionally editing), or reject with a reason.

A decision is taken under a row lock, so two people clicking at once get one
decision and one 409. Edited arguments are re-validated against the tool's
schema and go through the whole policy again, against the facts the write was
proposed with: risk, reasons, effects, provenance and the number of approvers
are recomputed, and the edit counts as the first approval at most; in a write that moves money,
is final or sets a payee, values an approver chose are confirmed by a second approver. Whoever
asked for a run can never approve its actions (four eyes); where nobody recorded who asked
(data from before requesters were kept), two different people must approve, edit or not.

An approval is of the arguments its approver read: it carries their `version` (views.
arguments_version), and is refused if they changed since; without one it applies only to
arguments still as proposed, so nobody completes an edit they never saw.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, or_, select, text, update

from app.services import auth, booked, paging
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.views import action_summary, action_view, arguments_version
from app.store.db import Database, Work
from app.store.direct import execute, prepared, scalar
from app.store.runs import audit, requeue_if_decided
from app.store.tables import Action, Connection, Run, StandingRuleRow, utcnow

if TYPE_CHECKING:  # imported where used: the gate and the catalogue load rule tables
    from app.agent.policy import Policy
    from tools.base import Catalogue, Tool

ACTIONS = cast(Table, Action.__table__)
STATUSES = (
    "pending",
    "approved",
    "executing",
    "succeeded",
    "failed",
    "dismissed",
    "rejected",
    "expired",
)


RISKS = ("low", "medium", "high")
RUN_KINDS = ("triage", "record", "chat", "workflow", "mcp_call")  # the kinds that propose writes


@dataclass(frozen=True)
class ActionFilters:
    """What the approvals list may be narrowed by; every filter is applied in SQL."""

    status: str | None = "pending"
    risk: str | None = None
    connection: str | None = None
    tool: str | None = None
    operation: str | None = None
    kind: str | None = None  # the kind of run that proposed it: one of RUN_KINDS
    run_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def check(self) -> ActionFilters:
        for name, value, allowed in (
            ("status", self.status, (*STATUSES, "all")),  # all: the callers read it as no filter
            ("risk", self.risk, RISKS),
            ("kind", self.kind, RUN_KINDS),
        ):
            if value is not None and value not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", field=name)
        for name, when in (("created_after", self.created_after), ("created_before", self.created_before)):
            if when is not None and when.tzinfo is None:
                raise Invalid(f"{name} needs a time zone (for example 2026-12-01T00:00:00Z)", field=name)
        return self

    def apply(self, q: Any) -> Any:
        equal = {
            Action.status: self.status,
            Action.risk: self.risk,
            Action.connection: self.connection,
            Action.tool: self.tool,
            Action.operation: self.operation,
            Action.run_id: self.run_id,
        }
        q = q.where(*(column == value for column, value in equal.items() if value is not None))
        if self.kind is not None:
            q = q.join(Run, Run.id == Action.run_id).where(Run.kind == self.kind)
        if self.created_after is not None:
            q = q.where(Action.created_at > self.created_after)
        if self.created_before is not None:
            q = q.where(Action.created_at < self.created_before)
        return q


def page_actions(
    db: Database, filters: ActionFilters | None = None, *, cursor: str | None = None, limit: int | None = None
) -> paging.Page:
    """One page of actions, newest first, each a light summary (`views.action_summary`: no
    provenance, facts, result or proposed arguments; `get_action` has the whole item)."""
    filters = (filters or ActionFilters()).check()
    limit = paging.check_limit(limit)
    used = asdict(filters)
    after = paging.decode(cursor, used) if cursor else None
    q = paging.keyset(filters.apply(action_summary.select()), Action.created_at, Action.id, after)
    with db.reading() as conn:  # columns, not entities: Core runs it without the ORM's layer
        rows = list(conn.execute(q.limit(limit + 1)).all())
    rows, next_cursor = paging.cut(rows, limit, lambda r: (r.created_at, r.id), used)
    return paging.Page([action_summary.view(r) for r in rows], next_cursor, used)


def list_actions(db: Database, status: str | None = "pending", limit: int = 500) -> list[dict[str, Any]]:
    """The newest `limit` actions as whole items (for callers that need provenance and facts)."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
    with db.read() as s:
        q = select(Action).order_by(Action.created_at.desc(), Action.id.desc()).limit(limit)
        if status:
            q = q.where(Action.status == status)
        return [action_view(a) for a in s.scalars(q).all()]


def get_action(db: Database, action_id: str) -> dict[str, Any]:
    with db.read() as s:
        a = s.get(Action, action_id)
        if a is None:
            raise NotFound(f"no action {action_id}")
        return action_view(a)


# A decision reads the action's row under its lock and writes back what it changed: plain rows
# and one UPDATE, not the ORM's unit of work (which cost more than the decision's SQL).
_LOCKED = prepared(select(ACTIONS).where(ACTIONS.c.id == bindparam("id")).with_for_update())


def _locked(s: Work, action_id: str) -> Any:
    """The action's row, locked, as attributes to change; `_save` writes back the changed ones."""
    row = execute(s.connection(), _LOCKED, {"id": action_id}).first()
    if row is None:
        raise NotFound(f"no action {action_id}")
    a = SimpleNamespace(**row._mapping)
    a._read = copy.deepcopy(dict(row._mapping))
    return a


_SAVE = prepared(update(ACTIONS).where(ACTIONS.c.id == bindparam("_id")))


def _save(s: Work, a: Any) -> None:
    changed = {k: v for k, v in vars(a).items() if not k.startswith("_") and v != a._read[k]}
    if changed:
        execute(s.connection(), _SAVE, {**changed, "_id": a.id})
        a._read.update(copy.deepcopy(changed))


def _pending(s: Work, action_id: str, who: Principal) -> Any:
    a = _locked(s, action_id)
    if a.status != "pending":
        raise Conflict(f"action {action_id} is no longer pending: it is {a.status}")
    if a.expires_at is not None and a.expires_at < utcnow():
        a.status = "expired"
        _save(s, a)
        audit(s, "system", "action.expired", "action", a.id, {"run_id": a.run_id})
        requeue_if_decided(s, a.run_id)
        s.commit()
        raise Conflict(f"action {action_id} is no longer pending: it expired")
    if a.requested_by and a.requested_by == who.name:
        raise Forbidden("whoever asked for an action cannot approve or reject it (four eyes)")
    return a


def _reassess(s: Work, a: Any, tool: Tool, arguments: dict[str, Any], who: Principal, gate: Policy) -> None:
    """The edited write through the policy again, as if the model had proposed it, except
    that no standing rule applies (a person is deciding) and the edited values are the approver's.
    A write whose requester nobody recorded keeps needing two approvers (the run says so)."""
    from app.agent import provenance
    from app.agent.policy import new_facts
    from app.agent.run import requester_unknown

    facts = a.facts if isinstance(a.facts, dict) else new_facts()
    origin = provenance.trace(
        arguments, facts, approver=who.name, before=a.arguments, before_provenance=a.provenance, tool=a.tool
    )
    run_input = s.connection().scalar(select(Run.input).where(Run.id == a.run_id)) or {}
    decision = gate.without_rules().decide(
        tool, arguments, facts, origin=origin, requester_unknown=requester_unknown(run_input, tool)
    )
    kept = "" if isinstance(a.facts, dict) else " (without the facts it was proposed with: none were kept)"
    a.risk = decision.risk
    a.reasons = [*decision.reasons, f"arguments edited by {who.name}; risk re-assessed{kept}"]
    a.required_approvals = decision.required_approvals
    a.effects = tool.does.summary(arguments, facts)
    a.provenance = origin


def approve(
    db: Database,
    action_id: str,
    who: Principal,
    catalogue: Callable[[], Catalogue],
    arguments: dict[str, Any] | None = None,
    *,
    policy: Callable[[], Policy] | None = None,
    seen: str | None = None,
) -> dict[str, Any]:
    """Approve, or edit and approve. `policy` gives the configured gate (thresholds, trusted
    domains) an edit is re-assessed with; the default gate otherwise.

    `seen` is the version of the arguments the approver read (`version` in the action's view):
    the approval applies to those arguments only, and a 409 says so when they have changed since.
    Without it an approval applies only to arguments still as proposed: once someone edited
    them, whoever approves next must show that they read the edited ones."""
    if arguments is not None and not isinstance(arguments, dict):
        raise Invalid("arguments must be a JSON object", field="arguments")
    from app.agent.policy import Policy
    from app.agent.run import commits_for_good
    from tools.base import UnknownTool

    # Read the configured gate and the tools before the row lock: both may read the store
    # themselves, and a second unit of work inside this one would wait for its own lock.
    gate = policy() if policy is not None else Policy()
    tools = catalogue() if arguments is not None else None
    with db.transaction() as s:
        a = _pending(s, action_id, who)
        _same_connection(s, a)
        _read_what_it_approves(a, seen, editing=arguments is not None)
        edited = arguments is not None and arguments != a.arguments
        before: dict[str, Any] = a.arguments
        risk_before = a.risk
        if edited and a.attempts:
            # Its key was sent with the arguments as they were: sent again with other arguments,
            # the system (or the connector's look-up) would take it for the first or miss it.
            raise Conflict(
                f"action {a.id} was attempted {a.attempts} time(s) already and may have landed as it "
                "was: approve it unedited (it is sent again under the same key, so it lands once), "
                "or dismiss it and ask for a new write"
            )
        if arguments is not None and edited:
            assert tools is not None
            try:
                tool = tools.get(a.tool)
            except UnknownTool:
                raise Conflict(
                    f"tool {a.tool} is no longer configured; the action cannot be edited"
                ) from None
            errors = tool.validate(arguments)
            if errors:
                raise Invalid(
                    "edited arguments do not match the tool's schema: " + "; ".join(errors), field="arguments"
                )
            _reassess(s, a, tool, arguments, who, gate)
            if commits_for_good(tool) and (a.required_approvals or 1) < 2:
                # The approver chose these values: someone else confirms them, as four eyes holds
                # for whoever supplied a payee or an amount when posting the item.
                a.required_approvals = 2
                a.reasons = [*a.reasons, EDITED_FOR_GOOD.format(who=who.name)]
            a.arguments = arguments
        approvals_so_far = [] if edited else _standing(s, a)
        if any(x.get("by") == who.name for x in approvals_so_far):
            raise Conflict(
                f"{who.name} has approved action {action_id} already; it needs a different approver"
            )
        mine = {"by": who.name, "at": utcnow().isoformat(), "edited": edited}
        approvals_so_far.append({**mine, "token": who.token_id} if who.token_id else mine)
        a.approvals = approvals_so_far
        if len(approvals_so_far) < 2 and (a.required_approvals or 1) < 2:
            _weigh_with_its_source(s, a, gate.two_approvers_above, db.is_postgres)
        if len(approvals_so_far) < 2 and (a.required_approvals or 1) < 2:
            _weigh_with_imported(s, a, gate.two_approvers_above)
        complete = len(approvals_so_far) >= (a.required_approvals or 1)
        if complete:
            _no_second_booking(s, a, db.is_postgres)
            a.status = "approved"
            a.decided_by = ", ".join(x["by"] for x in approvals_so_far)
            a.decided_at = utcnow()
        data: dict[str, Any] = {
            "run_id": a.run_id,
            "tool": a.tool,
            "edited": edited,
            "approvals": len(approvals_so_far),
            "required": a.required_approvals,
        }
        if arguments is not None and edited:
            data["risk"] = {"from": risk_before, "to": a.risk}
            data["diff"] = {
                k: {"from": before.get(k), "to": arguments.get(k)}
                for k in sorted(set(before) | set(arguments))
                if before.get(k) != arguments.get(k)
            }
        _save(s, a)
        audit(
            s, who.name, "action.approved" if complete else "action.approval_recorded", "action", a.id, data
        )
        if complete:
            requeue_if_decided(s, a.run_id)
        return action_view(a)


def _standing(s: Work, a: Any) -> list[dict[str, Any]]:
    """The approvals recorded so far that still count: one given with a token revoked since
    does not (a decision still in the making; its approver left, or the token leaked)."""
    given = [x for x in (a.approvals or []) if isinstance(x, dict)]
    revoked = auth.revoked_of(s.connection(), (str(x.get("token") or "") for x in given))
    if not revoked:
        return given
    gone = [x for x in given if x.get("token") in revoked]
    a.reasons = [
        *(a.reasons or []),
        *(
            f"{x.get('by')}'s approval no longer counts: the token it was given with was revoked"
            for x in gone
        ),
    ]
    return [x for x in given if x.get("token") not in revoked]


_CONNECTIONS = cast(Table, Connection.__table__)
_ADDED = prepared(select(_CONNECTIONS.c.created_at).where(_CONNECTIONS.c.name == bindparam("name")))


def _same_connection(s: Work, a: Any) -> None:
    """Refuse to approve a write for a connection that was added again (under the same name,
    perhaps another system) after the write was proposed for the one before it. (One that is gone
    fails when it runs, naming the connection.)"""
    added = scalar(s.connection(), _ADDED, {"name": a.connection})
    if added is not None and a.created_at is not None and added > a.created_at:
        raise Conflict(
            f"connection {a.connection} was added again after action {a.id} was proposed for the one "
            "before it (perhaps another system): reject it"
        )


EDITED_FOR_GOOD = (
    "values chosen at approval by {who} in a write that moves money, is final or sets a payee: "
    "a second approver confirms them"
)


def _read_what_it_approves(a: Any, seen: str | None, *, editing: bool) -> None:
    """Refuse an approval made on arguments other than those it would approve."""
    current = arguments_version(a.arguments)
    if seen is not None and seen != current:
        if a.arguments == a.proposed_arguments:  # never edited: the version given is not one it had
            raise Conflict(
                f"version {seen} is not a version of action {a.id} (it has not been edited; its version "
                f"is {current}): read it again before you decide"
            )
        raise Conflict(
            f"action {a.id} was edited since you read it (version {seen}; it is now {current}): "
            "read it again before you decide"
        )
    if seen is None and not editing and a.arguments != a.proposed_arguments:
        by = ", ".join(
            str(x.get("by")) for x in (a.approvals or []) if isinstance(x, dict) and x.get("edited")
        )
        raise Conflict(
            f"action {a.id} was edited{f' by {by}' if by else ''} after it was proposed: approve it "
            f"with the version you read (now {current}), so your approval is of the arguments you saw"
        )


# Names the lock that approvals of bookings queue on (PostgreSQL's advisory locks; any fixed number).
_BOOKING_LOCK = 0x5357_424F_4F4B_494E & 0x7FFF_FFFF_FFFF_FFFF
BOOKING = "post_journal_entry"
BOOKED = ("approved", "executing", "succeeded")


def _no_second_booking(s: Work, a: Any, postgres: bool) -> None:
    """Refuse to approve a booking of an invoice another approved booking already covers.

    Two copies of one invoice arriving at the same instant are triaged side by side, and
    neither run sees the other's proposal, so both may wait in the queue; one run may also
    propose two entries for one invoice. Only one of them may be approved: approvals of
    bookings queue on one lock (PostgreSQL: an advisory lock, taken after the action's row lock
    and before the chain's; SQLite: its single writer), so the second approver sees the first
    one's decision. Copies are compared by the vendor each run resolved in the ERP. A booking
    that failed counts: it may have landed before its answer was lost."""
    if a.operation != BOOKING:
        return
    c = s.connection()
    mine = c.execute(select(Run.input, Run.classification).where(Run.id == a.run_id)).one_or_none()
    record = ((mine.input if mine else None) or {}).get("record") or {}
    vendor = _resolved_vendor(mine.classification if mine else None)
    key = booked.invoice_key(record, vendor)
    if key is None:
        return
    if postgres:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOKING_LOCK})
    others = c.execute(
        select(Action.id, Action.status, Run.input, Run.classification)
        .join(Run, Action.run_id == Run.id)
        .where(Action.operation == BOOKING, Action.status.in_(MOVED), Action.id != a.id)
    ).all()
    for other_id, status, run_input, classification in others:
        other = (run_input or {}).get("record") or {}
        if booked.same_invoice(record, vendor, other, _resolved_vendor(classification)):
            vendor_name, number = key[0], str(record.get("invoice_number") or key[1]).strip()
            raise Conflict(
                f"invoice {number} from {vendor_name} is booked already by action {other_id} ({status}); "
                "approving this one would book it twice: reject it as a duplicate"
            )


def _weigh_with_its_source(s: Work, a: Any, threshold: int, postgres: bool) -> None:
    """Money from one source (a charge) is weighed as a whole: a write that, with the writes
    already approved from the same source (executing, done, or failed and so perhaps done), goes
    past the two-approver threshold needs two approvers, so splitting a refund, in one run or
    across runs, never dodges four eyes. Read from the money each action's effects state (what
    the gate read when it was proposed or edited). Approvals from one source queue on a lock
    (PostgreSQL: an advisory lock keyed on it)."""
    from app.agent.policy import UNBOUNDED

    money = (a.effects or {}).get("money") if isinstance(a.effects, dict) else None
    source = money.get("source") if isinstance(money, dict) else None
    if not isinstance(source, str) or not source:
        return
    _lock_source(s, a, source, postgres)
    others = _taken_from(s, a, source, Action.id != a.id)
    if not others:
        return
    total = sum(min(_moved(e), UNBOUNDED) for e in [a.effects, *(row[0] for row in others)])
    if total > threshold:
        shown = "an amount no one stated" if total >= UNBOUNDED else f"{total} in all"
        a.required_approvals = 2
        a.reasons = [
            *(a.reasons or []),
            f"with {len(others)} approved write(s) from {source} already, {shown} is above "
            f"{threshold}: two different approvers",
        ]


def _weigh_with_imported(s: Work, a: Any, threshold: int) -> None:
    """`_weigh_with_its_source` for money an imported operation moves: it names no source, so
    it is weighed with the writes whose money has left (or may have) that name one of the same
    records (`policy.naming_values`), in any run, and a declared write with the imported ones
    that name its source. Past the threshold together, two approvers."""
    from app.agent.policy import UNBOUNDED

    own, others = _imported_alongside(s, a)
    total = min(own + sum(others), UNBOUNDED)
    if others and total > threshold:
        shown = "an amount no one stated" if total >= UNBOUNDED else f"{total} in all"
        a.required_approvals = 2
        a.reasons = [
            *(a.reasons or []),
            f"with {len(others)} approved write(s) naming the same record through an imported "
            f"operation, {shown} is above {threshold}: two different approvers",
        ]


# Decisions that weigh imported money queue on this lock (PostgreSQL), after any source's.
_IMPORTED_LOCK = 0x5357_494D_504F_5254 & 0x7FFF_FFFF_FFFF_FFFF
_MOVED_MONEY = (
    select(Action.arguments, Action.effects)
    .where(
        Action.status.in_(("approved", "executing", "succeeded", "failed")),
        Action.id != bindparam("id"),
        or_(
            Action.effects["undeclared"].as_boolean().is_(True),
            Action.effects[("money", "source")].as_string().is_not(None),
        ),
    )
    .order_by(Action.created_at.desc())
    .limit(500)
)


def _imported_alongside(s: Work, a: Any) -> tuple[int, list[int]]:
    """(minor units `a` moves, those of each write whose money has left or may have that takes
    from the same record where one of the two is imported). The 500 latest such writes are read."""
    from app.agent.policy import UNBOUNDED, naming_values, stated_amount

    effects = a.effects if isinstance(a.effects, dict) else {}
    money: dict[str, Any] = effects["money"] if isinstance(effects.get("money"), dict) else {}
    undeclared = bool(effects.get("undeclared"))
    stated = stated_amount(a.arguments) if undeclared else None
    if undeclared and stated is not None:
        own, names = min(stated, UNBOUNDED), naming_values(a.arguments)
    elif not undeclared and isinstance(money.get("source"), str) and money["source"]:
        own, names = min(_moved(effects), UNBOUNDED), {money["source"]}
    else:
        return 0, []
    if not names:
        return own, []
    c = s.connection()
    if s.postgres:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _IMPORTED_LOCK})
    found: list[int] = []
    for arguments, theirs in c.execute(_MOVED_MONEY, {"id": a.id}):
        theirs = theirs if isinstance(theirs, dict) else {}
        if theirs.get("undeclared"):
            amount = stated_amount(arguments)
            if amount is not None and names & naming_values(arguments):
                found.append(min(amount, UNBOUNDED))
        elif undeclared and (theirs.get("money") or {}).get("source") in names:
            found.append(min(_moved(theirs), UNBOUNDED))
    return own, found


def _lock_source(s: Work, a: Any, source: str, postgres: bool) -> None:
    """Decisions on writes from one source queue here (SQLite: its single writer)."""
    if postgres:
        digest = hashlib.sha256(f"{a.connection}\0{a.operation}\0{source}".encode()).digest()
        s.connection().execute(
            text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)}
        )


def _taken_from(s: Work, a: Any, source: str, besides: Any) -> list[Any]:
    """The stated effects of the writes of `a`'s operation from `source` whose money has left, or
    may have (MOVED), among those `besides` keeps."""
    return list(
        s.connection()
        .execute(
            select(Action.effects).where(
                Action.connection == a.connection,
                Action.operation == a.operation,
                Action.status.in_(MOVED),
                besides,
                Action.effects[("money", "source")].as_string() == source,
            )
        )
        .all()
    )


def rule_admission(threshold: int) -> Callable[[Work, Any], tuple[str, int] | None]:
    """What a standing rule's approval passes when its write is about to go out, under the locks
    a person's approval takes: no other booking of the invoice, and no more money taken from its
    source by other runs than the gate weighed when the rule approved it. Two runs deciding at
    once each saw the other's write not yet there; the one that starts second goes to people.
    (why, approvers needed) sends the write to the queue; the composition root gives this to
    the run store (app.store.runs.Admission)."""
    from app.agent.policy import UNBOUNDED
    from app.agent.run import WEIGHED_ELSEWHERE

    def admit(s: Work, a: Any) -> tuple[str, int] | None:
        withdrawn = _rule_withdrawn(s, a)
        if a.status == "executing":  # resumed: only whether its rule still stands
            return None if withdrawn is None else (withdrawn, 1)
        if withdrawn is not None:
            money = (
                2 if min(_moved(a.effects), UNBOUNDED) > threshold and (a.effects or {}).get("money") else 1
            )
            return withdrawn, max(money, a.required_approvals or 1, _people_need(s, a))
        held = _weigh_again(s, a) or _imported_again(s, a)
        return None if held is None else (held[0], max(held[1], _people_need(s, a)))

    def _imported_again(s: Work, a: Any) -> tuple[str, int] | None:
        own, others = _imported_alongside(s, a)
        if not others:
            return None
        total = min(own + sum(others), UNBOUNDED)
        shown = "an amount no one stated" if total >= UNBOUNDED else f"{total} in all"
        return (
            f"not run by the standing rule: {len(others)} approved write(s) name the same record "
            f"through an imported operation; with this one, {shown}: a person decides",
            2 if total > threshold else 1,
        )

    def _weigh_again(s: Work, a: Any) -> tuple[str, int] | None:
        postgres = s.postgres
        try:
            _no_second_booking(s, a, postgres)
        except Conflict as exc:
            return f"not run by the standing rule: {exc}", 1
        money = (a.effects or {}).get("money") if isinstance(a.effects, dict) else None
        source = money.get("source") if isinstance(money, dict) else None
        if not isinstance(source, str) or not source:
            return None
        _lock_source(s, a, source, postgres)
        others = _taken_from(s, a, source, Action.run_id != a.run_id)
        now = min(sum(min(_moved(row[0]), UNBOUNDED) for row in others), UNBOUNDED)
        weighed = ((a.facts or {}).get(WEIGHED_ELSEWHERE) or {}) if isinstance(a.facts, dict) else {}
        seen = weighed.get(source, 0) if isinstance(weighed.get(source, 0), int) else 0
        if now <= seen:
            return None
        total = min(now + _moved(a.effects), UNBOUNDED)
        shown = "an amount no one stated" if total >= UNBOUNDED else f"{total} in all"
        return (
            f"not run by the standing rule: other runs' writes from {source} came to {now} while "
            f"it decided on {seen}; with this one, {shown}: a person decides",
            2 if total > threshold else 1,
        )

    return admit


_RULE_STATE = select(StandingRuleRow.revoked_at).where(StandingRuleRow.id == bindparam("id"))


def _rule_withdrawn(s: Work, a: Any) -> str | None:
    """Why the standing rule that approved `a` no longer does (revoked before the write went out),
    or None. The rule's row is share-locked (PostgreSQL), so a revocation waits for a write that
    is starting, and a write that starts after it sees it."""
    from app.agent.run import APPROVED_BY_RULE

    c = s.connection()
    rule_id = (a.facts or {}).get(APPROVED_BY_RULE) if isinstance(a.facts, dict) else None
    if isinstance(rule_id, str) and rule_id:
        row = c.execute(
            _RULE_STATE.with_for_update(read=True) if s.postgres else _RULE_STATE, {"id": rule_id}
        )
        found = row.first()
        if found is None or found.revoked_at is None:  # in force (or not a stored rule: never revoked)
            return None
        return f"not run: standing rule {rule_id} was revoked before the write went out; a person decides"
    return None


# Writes whose money has left, or may have: approved, sent, done, or failed (perhaps after landing).
MOVED = (*BOOKED, "failed")


def _people_need(s: Work, a: Any) -> int:
    """The approvers people deciding `a` need whatever its money: two when nobody recorded who
    asked for it, as the gate wants of a write no rule approved (`requester_unknown`, read here
    from what the write does as its effects state it, for a write a rule approved and then gave
    back to people)."""
    from app.agent.run import REQUESTER_UNKNOWN

    run_input = s.connection().scalar(select(Run.input).where(Run.id == a.run_id)) or {}
    scope = run_input.get(REQUESTER_UNKNOWN) if isinstance(run_input, dict) else None
    effects = a.effects if isinstance(a.effects, dict) else {}
    for_good = any(effects.get(k) for k in ("money", "final", "payee", "undeclared"))
    return 2 if scope == "creator" or (scope == "poster" and for_good) else 1


def _moved(effects: Any) -> int:
    """Minor units a write's stated effects move; what it does not state counts as unbounded."""
    from app.agent.policy import UNBOUNDED

    money = effects.get("money") if isinstance(effects, dict) else None
    amount = money.get("amount") if isinstance(money, dict) else None
    if amount is None and isinstance(money, dict):
        amount = money.get("left")  # a refund without an amount takes what is left
    return amount if isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0 else UNBOUNDED


def _resolved_vendor(classification: Any) -> str | None:
    """The ERP vendor id a record run resolved (kept with its classification), if any."""
    found = classification.get("vendor_id") if isinstance(classification, dict) else None
    return str(found) if found else None


def reject(db: Database, action_id: str, who: Principal, reason: str) -> dict[str, Any]:
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("reason is required: say why, it goes back to the model", field="reason")
    with db.transaction() as s:
        a = _pending(s, action_id, who)
        a.status = "rejected"
        a.decided_by = who.name
        a.decided_at = utcnow()
        a.reason = reason.strip()
        _save(s, a)
        audit(
            s,
            who.name,
            "action.rejected",
            "action",
            a.id,
            {"run_id": a.run_id, "tool": a.tool, "reason": a.reason},
        )
        requeue_if_decided(s, a.run_id)
        return action_view(a)


# -- approved writes that failed ------------------------------------------------------------------
def _failed(s: Work, action_id: str, who: Principal) -> Any:
    a = _locked(s, action_id)
    if a.status != "failed":
        raise Conflict(
            f"action {action_id} has not failed: it is {a.status}; only a failed write is retried or dismissed"
        )
    if a.requested_by and a.requested_by == who.name:
        raise Forbidden("whoever asked for an action cannot retry or dismiss it (four eyes)")
    return a


# A run that has ended: nothing sends its writes any more.
ENDED = ("failed", "succeeded", "cancelled")


def retry(
    db: Database,
    action_id: str,
    who: Principal,
    *,
    policy: Callable[[], Policy] | None = None,
    ttl_hours: float = 72.0,
) -> dict[str, Any]:
    """Run a failed write again, with the same idempotency key (its id): the system deduplicates
    it if the earlier attempt did land. Its run goes back to the queue at once. A write of a run
    that has ended is not retried: no pass would send it (the run is run again instead). Money
    is weighed again with what its source has moved since: past the threshold, the write waits
    for a second approver instead (as two wants a write a standing rule approved whose requester
    nobody recorded, now that people decide it), and expires as any pending write does."""
    from app.agent.policy import Policy

    threshold = (policy() if policy is not None else Policy()).two_approvers_above
    with db.transaction() as s:
        a = _failed(s, action_id, who)
        run_status = s.connection().scalar(select(Run.status).where(Run.id == a.run_id))
        if run_status in ENDED:
            raise Conflict(
                f"action {action_id} belongs to run {a.run_id}, which is {run_status}: no pass of it "
                "would send the write; dismiss it, and run the run again once its cause is gone"
            )
        _no_second_booking(s, a, db.is_postgres)  # a sibling may have been approved meanwhile
        _same_connection(s, a)
        if (a.required_approvals or 1) < 2:
            _weigh_with_its_source(s, a, threshold, db.is_postgres)
        if (a.required_approvals or 1) < 2:
            _weigh_with_imported(s, a, threshold)
        a.approvals = _standing(s, a)  # a retry decides again: a revoked token's approval is gone
        approvers = {x.get("by") for x in a.approvals}
        if not approvers:  # a standing rule approved it; people decide it now
            a.required_approvals = max(a.required_approvals or 1, _people_need(s, a))
        error = a.error
        a.status = "approved" if approvers and len(approvers) >= (a.required_approvals or 1) else "pending"
        if a.status == "pending":
            a.expires_at = utcnow() + timedelta(hours=ttl_hours)
        a.error = None
        _save(s, a)
        audit(
            s,
            who.name,
            "action.retried",
            "action",
            a.id,
            {"run_id": a.run_id, "tool": a.tool, "attempts": a.attempts, "error": error, "status": a.status},
        )
        requeue_if_decided(s, a.run_id, actor=who.name)
        return action_view(a)


def dismiss(db: Database, action_id: str, who: Principal, reason: str) -> dict[str, Any]:
    """Accept that a failed write did not happen; the model is told, with the reason, and goes on."""
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("reason is required: say why the failed write is dismissed", field="reason")
    with db.transaction() as s:
        a = _failed(s, action_id, who)
        a.status = "dismissed"
        a.reason = reason.strip()
        a.decided_by = who.name
        a.decided_at = utcnow()
        _save(s, a)
        audit(
            s,
            who.name,
            "action.dismissed",
            "action",
            a.id,
            {"run_id": a.run_id, "tool": a.tool, "reason": a.reason, "error": a.error},
        )
        requeue_if_decided(s, a.run_id, actor=who.name)
        return action_view(a)
