"""One contract for every RunStore: the in-memory fake, SQLite and PostgreSQL pass the same tests,
so the fake the agent's unit tests run on cannot drift from the store the product runs on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from sqlalchemy import create_engine, select, text

from app.agent.memory import MemoryRunStore
from app.agent.ports import LeaseLost, NewAction, NewStep, RunStore
from app.store.db import Database, normalize_url
from app.store.runs import SqlRunStore, requeue_if_decided
from app.store.tables import Action, AuditEntry, Run
from tests.conftest import PG_URL, _pg_schema_url


class Harness(Protocol):
    """A store, and what people and intake do to it (services on SQL, `decide` in memory)."""

    store: RunStore

    def new_run(self, kind: str = "test", created_by: str | None = "api-client") -> str: ...

    def decide(self, action_id: str, status: str, *, requeue: bool = True) -> None: ...

    def action_status(self, action_id: str) -> str: ...

    def run_status(self, run_id: str) -> str: ...

    def events(self, subject_id: str) -> list[tuple[str, str]]:
        """(actor, event) of the audit entries about one subject, oldest first."""
        ...


class MemoryHarness:
    def __init__(self, ttl: float) -> None:
        self.mem = MemoryRunStore(approval_ttl_hours=ttl)
        self.store: RunStore = self.mem

    def new_run(self, kind: str = "test", created_by: str | None = "api-client") -> str:
        return self.mem.add_run(kind, {"message": "hello"}, created_by)

    def decide(self, action_id: str, status: str, *, requeue: bool = True) -> None:
        if requeue:
            self.mem.decide(action_id, status, by="pat")
        else:  # a decision whose requeue was lost: what the sweeper exists for
            self.mem.actions[action_id].record.status = status

    def action_status(self, action_id: str) -> str:
        return self.mem.action(action_id).status

    def run_status(self, run_id: str) -> str:
        return self.mem.status(run_id)

    def events(self, subject_id: str) -> list[tuple[str, str]]:
        return [(e["actor"], e["event"]) for e in self.mem.audit_log if e["subject_id"] == subject_id]


class SqlHarness:
    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.store: RunStore = SqlRunStore(db, approval_ttl_hours=ttl)

    def new_run(self, kind: str = "test", created_by: str | None = "api-client") -> str:
        with self.db.session() as s:
            run = Run(kind=kind, input={"message": "hello"}, created_by=created_by)
            s.add(run)
            s.flush()
            return run.id

    def decide(self, action_id: str, status: str, *, requeue: bool = True) -> None:
        with self.db.session() as s:
            action = s.scalars(select(Action).where(Action.id == action_id).with_for_update()).one()
            action.status = status
            action.decided_by = "pat"
            if requeue:
                requeue_if_decided(s, action.run_id, actor="pat")

    def action_status(self, action_id: str) -> str:
        with self.db.session() as s:
            return s.scalars(select(Action.status).where(Action.id == action_id)).one()

    def run_status(self, run_id: str) -> str:
        with self.db.session() as s:
            return s.scalars(select(Run.status).where(Run.id == run_id)).one()

    def events(self, subject_id: str) -> list[tuple[str, str]]:
        with self.db.session() as s:
            rows = s.execute(
                select(AuditEntry.actor, AuditEntry.event)
                .where(AuditEntry.subject_id == subject_id)
                .order_by(AuditEntry.id)
            )
            return [(actor, event) for actor, event in rows]


def _sql_database(kind: str, tmp_path: Any) -> Iterator[Database]:
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'contract.db'}")
        db.upgrade()
        yield db
        db.dispose()
        return
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    base = normalize_url(PG_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(_pg_schema_url(base, schema))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """`make(ttl=72.0)` builds the harness under test (one per test: a SQL one migrates once)."""
    stack: list[Iterator[Database]] = []

    def build(ttl: float = 72.0) -> Harness:
        if request.param == "memory":
            return MemoryHarness(ttl)
        gen = _sql_database(request.param, tmp_path)
        stack.append(gen)
        return SqlHarness(next(gen), ttl)

    yield build
    for gen in stack:
        next(gen, None)


@pytest.fixture
def h(make: Any) -> Harness:
    return make()  # type: ignore[no-any-return]


def step(name: str = "s", **data: Any) -> NewStep:
    return NewStep(kind="note", name=name, data=data, input_tokens=3, output_tokens=2)


def write(call: str = "t1") -> NewAction:
    return NewAction(
        tool_call_id=call,
        tool="shop__send_message",
        connection="shop",
        operation="send_message",
        arguments={"to": "ann@example.com", "body": "hi"},
        risk="medium",
        reasons=["sends a message"],
    )


def parked(h: Harness, n: int = 1) -> tuple[str, list[str]]:
    """A run claimed by w1 that proposed `n` writes and parked waiting for people."""
    run_id = h.new_run()
    assert h.store.claim("w1", 30) == run_id
    actions = [write(f"t{i}") for i in range(n)]
    status = h.store.set_status(run_id, "w1", "waiting_approval", steps=[step("propose")], actions=actions)
    assert status == "waiting_approval"
    h.store.release(run_id, "w1")
    return run_id, [a.id for a in actions]


def test_status_is_read_alone(h: Harness) -> None:
    run_id = h.new_run()
    assert h.store.status(run_id) == "queued"
    assert h.store.claim("w1", 30) == run_id
    assert h.store.status(run_id) == "running"
    with pytest.raises(KeyError):
        h.store.status("no-such-run")


def test_claims_the_oldest_runnable_run_once(h: Harness) -> None:
    first, second = h.new_run(), h.new_run()
    assert h.store.claim("w1", 30) == first
    assert h.store.claim("w2", 30) == second
    assert h.store.claim("w3", 30) is None
    assert not h.store.claim_run(first, "w3", 30)
    snap = h.store.load(first)
    assert snap.status == "running" and snap.kind == "test" and snap.created_by == "api-client"
    with pytest.raises(KeyError):
        h.store.load("no-such-run")


def test_every_write_is_fenced_by_the_lease(h: Harness) -> None:
    run_id = h.new_run()
    assert h.store.claim_run(run_id, "w1", -1)  # a lease that has already lapsed: its worker died
    with pytest.raises(LeaseLost):
        h.store.append_step(run_id, "w2", step())
    assert h.store.claim("w2", 30) == run_id  # taken over
    with pytest.raises(LeaseLost):
        h.store.append_step(run_id, "w1", step())
    with pytest.raises(LeaseLost):
        h.store.set_status(run_id, "w1", "succeeded")
    with pytest.raises(LeaseLost):
        h.store.requeue(run_id, "w1", error="x", delay=0)
    assert not h.store.renew_lease(run_id, "w1", 30)
    assert h.store.renew_lease(run_id, "w2", 30)
    h.store.release(run_id, "w1")  # not the owner: nothing happens
    h.store.append_step(run_id, "w2", step())
    h.store.release(run_id, "w2")
    with pytest.raises(LeaseLost):
        h.store.append_step(run_id, "w2", step())


def test_steps_are_numbered_and_run_fields_kept(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    one = h.store.append_step(run_id, "w1", step("a", n=1))
    two = h.store.append_step(run_id, "w1", step("b"), run_fields={"classification": {"category": "billing"}})
    assert (one.seq, two.seq) == (1, 2)
    assert h.store.set_status(run_id, "w1", "succeeded", result={"answer": 42}) == "succeeded"
    snap = h.store.load(run_id)
    assert [(s.seq, s.name, s.data) for s in snap.steps] == [(1, "a", {"n": 1}), (2, "b", {})]
    assert snap.classification == {"category": "billing"} and snap.status == "succeeded"
    assert h.store.claim("w2", 30) is None  # a finished run is never claimed again


def test_a_later_pass_numbers_its_steps_after_the_ones_it_loaded(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    h.store.append_steps(run_id, "w1", [step("a"), step("b")])
    h.store.requeue(run_id, "w1", error="try later", delay=-1)
    h.store.load(run_id, owner="w2")  # not (yet) its holder: takes nothing from this read
    assert h.store.claim("w2", 30) == run_id
    assert [s.seq for s in h.store.load(run_id, owner="w2").steps] == [1, 2]
    assert h.store.append_step(run_id, "w2", step("c")).seq == 3
    h.store.set_status(run_id, "w2", "succeeded", steps=[step("d")])
    assert [(s.seq, s.name) for s in h.store.load(run_id).steps] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_a_field_runs_do_not_have_is_refused_and_nothing_commits(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    with pytest.raises(AttributeError, match="classificaton"):
        h.store.append_steps(run_id, "w1", [step("a")], run_fields={"classificaton": {"category": "x"}})
    assert h.store.load(run_id).steps == []


def test_a_pass_ends_in_one_commit_with_what_it_held(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    h.store.append_steps(run_id, "w1", [step("read"), step("answer")], actions=[held := write("t0")])
    assert [a.id for a in h.store.load(run_id).actions] == [held.id]  # proposed with its steps
    status = h.store.set_status(
        run_id,
        "w1",
        "waiting_approval",
        steps=[step("gate")],
        run_fields={"draft": {"body": "hi"}},
        actions=[later := write("t1")],
    )
    assert status == "waiting_approval"  # the write proposed in the same commit is waited for
    snap = h.store.load(run_id)
    assert [(s.seq, s.name) for s in snap.steps] == [(1, "read"), (2, "answer"), (3, "gate")]
    assert [(a.id, a.status) for a in snap.actions] == [(held.id, "pending"), (later.id, "pending")]
    assert snap.draft == {"body": "hi"}
    assert h.store.claim("w2", 30) is None  # parked, lease given up


def test_a_pass_that_lost_its_lease_commits_nothing_at_its_end(h: Harness) -> None:
    run_id = h.new_run()
    assert h.store.claim_run(run_id, "w1", -1)  # w1's lease lapses
    assert h.store.claim("w2", 30) == run_id
    for status in ("succeeded", "waiting_approval"):
        with pytest.raises(LeaseLost):
            h.store.set_status(run_id, "w1", status, steps=[step("late")], actions=[write()])
    snap = h.store.load(run_id)
    assert (snap.status, snap.steps, snap.actions) == ("running", [], [])


def test_parking_waits_for_pending_decisions_only(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    assert h.store.set_status(run_id, "w1", "waiting_approval") == "queued"  # nothing to decide
    assert h.store.claim("w1", 30) == run_id
    h.store.set_status(run_id, "w1", "succeeded")

    run_id, [a, _] = parked(h, 2)
    assert [x.status for x in h.store.load(run_id).actions] == ["pending", "pending"]
    h.decide(a, "approved")
    assert h.run_status(run_id) == "queued"  # an approved write runs whatever its sibling waits for
    assert h.store.claim("w1", 30) == run_id
    assert h.store.set_status(run_id, "w1", "waiting_approval") == "queued"  # it still has work


def test_rejecting_the_last_pending_write_requeues(h: Harness) -> None:
    run_id, [a] = parked(h)
    h.decide(a, "rejected")
    assert h.run_status(run_id) == "queued"
    assert h.store.claim("w2", 30) == run_id


def test_execution_attempts_are_counted_and_resumed(h: Harness) -> None:
    run_id, [a] = parked(h)
    h.decide(a, "approved")
    assert h.store.claim("w1", 30) == run_id
    with pytest.raises(LeaseLost):
        h.store.start_execution(a, "w2")
    first = h.store.start_execution(a, "w1")
    assert (first.status, first.attempts, first.resumed) == ("executing", 1, False)
    again = h.store.start_execution(a, "w1")  # cut off mid-call, then tried again
    assert (again.attempts, again.resumed) == (2, True)
    done = h.store.finish_execution(a, "w1", status="succeeded", result={"ok": True}, error=None, step=step())
    assert done.status == "succeeded" and done.result == {"ok": True}
    with pytest.raises(LeaseLost):
        h.store.start_execution(a, "w1")  # never twice
    assert h.store.load(run_id).actions[0].status == "succeeded"


def test_a_write_that_was_not_sent_goes_back_to_approved(h: Harness) -> None:
    """Too little of the lease was left to send it (app/agent/lease.py): nothing went out, so the
    attempt is taken back, audited, and the next one is a first attempt, not a resumed one."""
    run_id, [a] = parked(h)
    h.decide(a, "approved")
    assert h.store.claim("w1", 30) == run_id
    h.store.start_execution(a, "w1")
    with pytest.raises(LeaseLost):
        h.store.return_unsent(a, "w2", reason="not its run")
    back = h.store.return_unsent(a, "w1", reason="0.0s of the lease was left")
    assert (back.status, back.attempts) == ("approved", 0) and h.action_status(a) == "approved"
    assert h.events(a)[-2:] == [("w1", "action.executing"), ("w1", "action.not_sent")]
    again = h.store.start_execution(a, "w1")
    assert (again.status, again.attempts, again.resumed) == ("executing", 1, False)
    h.store.finish_execution(a, "w1", status="succeeded", result={}, error=None, step=step())
    late = h.store.return_unsent(a, "w1", reason="late")  # only an executing write is taken back
    assert (late.status, late.attempts) == ("succeeded", 1)


def test_a_write_not_sent_after_the_run_was_taken_over_stays_executing(h: Harness) -> None:
    """The worker that did not send it lost the run meanwhile: the store refuses to take the
    attempt back, and whoever holds the run now resumes the write as one whose outcome is unknown."""
    run_id, [a] = parked(h)
    h.decide(a, "approved")
    assert h.store.claim("w1", 30) == run_id
    h.store.start_execution(a, "w1")
    assert h.store.renew_lease(run_id, "w1", -1)  # w1 stalls: its lease lapses
    assert h.store.claim("w2", 30) == run_id
    with pytest.raises(LeaseLost):
        h.store.return_unsent(a, "w1", reason="0.0s of the lease was left")
    assert h.action_status(a) == "executing"
    assert ("w1", "action.not_sent") not in h.events(a)
    resumed = h.store.start_execution(a, "w2")
    assert (resumed.attempts, resumed.resumed) == (2, True)


def test_starting_a_write_can_renew_the_lease_in_the_same_commit(h: Harness) -> None:
    """The worker counts how long it may make the write from this renewal (app/agent/lease.py):
    a lease about to lapse is renewed, so no one else can take the run meanwhile."""
    run_id, [a, b] = parked(h, 2)
    h.decide(a, "approved")
    h.decide(b, "approved")
    assert h.store.claim("w1", -1) == run_id  # its lease has lapsed already
    h.store.start_execution(a, "w1", lease_seconds=30)
    assert h.store.claim("w2", 30) is None  # renewed with the write
    h.store.finish_execution(a, "w1", status="succeeded", result={}, error=None, step=step())
    assert h.store.renew_lease(run_id, "w1", -1)
    h.store.start_execution(b, "w1")  # without lease_seconds, the lease is left as it is
    assert h.store.claim("w2", 30) == run_id
    with pytest.raises(LeaseLost):
        h.store.start_execution(b, "w1", lease_seconds=30)  # renewing never takes a run back


def test_a_failed_write_needs_attention_until_retried_or_dismissed(h: Harness) -> None:
    run_id, [a, b] = parked(h, 2)
    h.decide(a, "approved")
    h.decide(b, "approved")
    assert h.store.claim("w1", 30) == run_id
    assert h.store.fail_action(a, "w1", "system down").status == "failed"
    assert h.store.fail_action(a, "w1", "again").error == "system down"  # only an approved one fails
    assert h.store.set_status(run_id, "w1", "waiting_approval") == "queued"  # b still waits to run
    assert h.store.claim("w1", 30) == run_id
    h.store.start_execution(b, "w1")
    h.store.finish_execution(b, "w1", status="succeeded", result={}, error=None, step=step())
    assert h.store.set_status(run_id, "w1", "waiting_approval") == "needs_attention"
    h.store.release(run_id, "w1")
    assert h.store.claim("w2", 30) is None
    h.decide(a, "approved")  # retry
    assert h.run_status(run_id) == "queued"
    assert h.store.claim("w1", 30) == run_id
    h.store.fail_action(a, "w1", "still down")
    assert h.store.set_status(run_id, "w1", "waiting_approval") == "needs_attention"
    h.decide(a, "dismissed")
    assert h.run_status(run_id) == "queued"


def test_requeue_waits_out_its_backoff(h: Harness) -> None:
    run_id = h.new_run()
    h.store.claim("w1", 30)
    h.store.requeue(run_id, "w1", error="connector down", delay=60)
    assert h.run_status(run_id) == "queued"
    assert h.store.load(run_id).retries == 1
    assert h.store.claim("w2", 30) is None  # not before a minute has passed
    assert not h.store.claim_run(run_id, "w2", 30)
    other = h.new_run()
    assert h.store.claim("w2", 30) == other
    h.store.set_status(other, "w2", "succeeded")
    with pytest.raises(LeaseLost):
        h.store.append_step(run_id, "w1", step())  # the lease went with the requeue

    again = h.new_run()
    h.store.claim("w1", 30)
    h.store.requeue(again, "w1", error="blip", delay=0)
    assert h.store.claim("w1", 30) == again
    assert h.store.load(again).retries == 1
    h.store.set_status(again, "w1", "succeeded")
    assert h.store.load(again).retries == 0


def test_pending_writes_expire_into_their_own_state(make: Any) -> None:
    h = make(ttl=-1.0)  # every pending action is already past its deadline
    run_id, [a] = parked(h)
    assert h.store.claim("w1", 30) == run_id  # expired at claim, the run goes on
    assert h.action_status(a) == "expired"


def test_the_sweeper_requeues_parked_runs_that_have_work(h: Harness) -> None:
    run_id, [a] = parked(h)
    waiting, _ = parked(h)
    h.decide(a, "approved", requeue=False)
    assert h.run_status(run_id) == "waiting_approval"
    assert h.store.sweep() == 1
    assert h.run_status(run_id) == "queued"
    assert h.run_status(waiting) == "waiting_approval"
    assert h.store.sweep() == 0
