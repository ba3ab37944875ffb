"""The durable run loop and the approval gate, with a scripted model, a fake system and the
in-memory run store (no database: the store's own contract is tests/store/test_run_store_contract.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.agent.memory import MemoryRunStore
from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.agent.ports import LeaseLost, NewStep
from app.agent.run import RunContext
from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall
from app.llm.scripted import ScriptedModel, text, tool_use
from tests.agent.fakes import FakeSystem


async def loop_pipeline(ctx: RunContext) -> dict[str, Any]:
    request = ModelRequest(
        system="help", messages=[Message(role="user", content=ctx.run.input["message"])], prompt="test@v1"
    )
    ctx.know(requester_email="ann@example.com")
    final = await ctx.agent_loop("loop", request, list(ctx.catalogue))
    return {"answer": final.content}


def make(
    store: MemoryRunStore, model: ScriptedModel, system: FakeSystem, rules: list[StandingRule] | None = None
) -> Orchestrator:
    cat = system.catalogue()
    return Orchestrator(
        store, model, lambda: cat, lambda: Policy(rules), {"test": loop_pipeline}, lease_seconds=30
    )


def new_run(store: MemoryRunStore, message: str = "where is order 7?", created_by: str = "api-client") -> str:
    return store.add_run("test", {"message": message}, created_by)


def pending(store: MemoryRunStore) -> list[Any]:
    return [a.record for a in store.actions.values() if a.record.status == "pending"]


async def test_read_then_answer() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel([tool_use("shop__lookup", {"order_id": 7}), text("Order 7 has shipped.")])
    run_id = new_run(store)
    await make(store, model, system).drain("w1")
    assert store.status(run_id) == "succeeded"
    assert store.result(run_id) == {"answer": "Order 7 has shipped."}
    assert system.reads == [{"order_id": 7}]
    steps = store.load(run_id).steps
    assert [s.kind for s in steps] == ["model_call", "tool_call", "model_call"]
    # the model saw the read's result, fenced as untrusted data
    tool_msg = model.requests[1].messages[-1]
    assert tool_msg.role == "tool" and "shipped" in tool_msg.content and "<untrusted_data" in tool_msg.content
    assert sum(s.input_tokens for s in steps) == 20


async def test_write_waits_for_approval_then_runs_exactly_once() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "It shipped."}), text("Sent.")]
    )
    orch = make(store, model, system)
    run_id = new_run(store)
    await orch.drain("w1")
    assert store.status(run_id) == "waiting_approval"
    assert system.writes == []  # promise 1: nothing written before a person approves
    [action] = pending(store)
    assert action.tool == "shop__send_message" and action.risk == "medium"
    store.decide(action.id, "approved", by="pat")
    assert store.status(run_id) == "queued"
    await orch.drain("w2")
    assert store.status(run_id) == "succeeded"
    assert len(system.writes) == 1 and system.writes[0]["key"] == action.id
    assert system.looked == [False]  # a first attempt: nothing with its key can exist yet
    assert store.action(action.id).status == "succeeded"
    assert len(model.requests) == 2  # the loop resumed from its steps, not from scratch
    events = {e["event"] for e in store.audit_log}
    assert {"action.proposed", "action.approved", "action.executing", "action.succeeded"} <= events


async def test_invalid_write_arguments_never_reach_the_system() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel(
        [
            tool_use("shop__send_message", {"to": "ann@example.com", "body": "", "cc": "x@evil.test"}),
            text("I could not send it."),
        ]
    )
    run_id = new_run(store)
    await make(store, model, system).drain("w1")
    assert store.status(run_id) == "succeeded"
    assert system.writes == [] and store.actions == {}
    result = model.requests[1].messages[-1]
    assert result.is_error
    assert "Invalid arguments" in result.content and "body" in result.content and "cc" in result.content


async def test_reject_reason_goes_back_to_the_model() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "Refund done"}), text("ok")]
    )
    orch = make(store, model, system)
    run_id = new_run(store)
    await orch.drain("w1")
    [action] = pending(store)
    store.decide(action.id, "rejected", by="pat", reason="we never promise refunds in writing")
    await orch.drain("w1")
    assert store.status(run_id) == "succeeded"
    assert system.writes == []
    last = model.requests[-1].messages[-1]
    assert last.is_error and "Rejected by pat: we never promise refunds in writing" in last.content


async def test_standing_rule_lets_a_low_risk_write_run() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    # an internal note to a known address is still medium risk; the rule allows up to medium
    rule = StandingRule(
        tool="shop__send_*",
        approved_by="lead",
        max_risk="medium",
        arguments_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {"to": {"enum": ["ann@example.com"]}, "body": {"enum": ["x"]}},
        },
    )
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"}), text("ok")]
    )
    run_id = new_run(store)
    await make(store, model, system, [rule]).drain("w1")
    assert store.status(run_id) == "succeeded"
    assert len(system.writes) == 1
    decided_by = store.load(run_id).actions[0].decided_by
    assert decided_by is not None and decided_by.startswith("rule:")


async def test_unknown_address_raises_risk_and_rule_does_not_apply() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    rule = StandingRule(tool="shop__*", approved_by="lead", max_risk="medium")
    model = ScriptedModel([tool_use("shop__send_message", {"to": "thief@evil.test", "body": "x"})])
    new_run(store)
    await make(store, model, system, [rule]).drain("w1")
    [action] = pending(store)
    assert action.risk == "high"
    assert any("thief@evil.test" in r for r in action.reasons)
    assert system.writes == []


async def test_crash_during_execution_retries_with_the_same_key() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "x"}), text("ok")]
    )
    orch = make(store, model, system)
    run_id = new_run(store)
    await orch.drain("w1")
    [action] = pending(store)
    store.decide(action.id, "approved", by="pat")

    # worker w2 claims under a lease that lapses at once, marks the action executing, writes, then dies
    assert store.claim("w2", -1) == run_id
    store.start_execution(action.id, "w2")
    await system.send({"to": "ann@example.com", "body": "x"}, action.id)

    await orch.drain("w3")
    assert store.status(run_id) == "succeeded"
    assert len(system.writes) == 1  # the resumed attempt looked for the first one, and found it
    assert system.looked == [True, True] and store.action(action.id).attempts == 2
    tool_step = next(s for s in store.load(run_id).steps if s.kind == "tool_call")
    assert "deduplicated" in tool_step.data["result"]


async def test_stale_worker_cannot_write_after_losing_its_lease() -> None:
    store = MemoryRunStore()
    run_id = new_run(store)
    assert store.claim("w1", -1) == run_id  # its lease lapses at once
    assert store.claim("w2", 30) == run_id
    with pytest.raises(LeaseLost):
        store.append_step(run_id, "w1", NewStep(kind="note", name="late", data={}))


class CountingStore(MemoryRunStore):
    """Counts commits (each store write is one transaction in the SQL store)."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[str] = []

    def append_steps(self, run_id: str, owner: str, steps: Any, **kw: Any) -> Any:
        self.commits.append("steps")
        return super().append_steps(run_id, owner, steps, **kw)

    def set_status(self, run_id: str, owner: str, status: str, **kw: Any) -> str:
        self.commits.append(status)
        return super().set_status(run_id, owner, status, **kw)

    def start_execution(self, action_id: str, owner: str, **kw: Any) -> Any:
        self.commits.append("executing")
        return super().start_execution(action_id, owner, **kw)

    def finish_execution(self, action_id: str, owner: str, **kw: Any) -> Any:
        self.commits.append("executed")
        return super().finish_execution(action_id, owner, **kw)


async def test_each_answer_is_committed_before_the_next_outside_call() -> None:
    """A model's answer is never redone once anything outside has acted on it: it is committed
    before the next model call or tool call, and a pass's last answer commits with its status."""
    store, system = CountingStore(), FakeSystem()
    run_id = new_run(store)
    committed: list[list[str]] = []  # the committed steps' names, as each outside call starts

    def seen() -> None:
        committed.append([s.name or "" for s in store.load(run_id).steps])

    script = iter(
        [
            tool_use("shop__lookup", {"order_id": 7}),
            tool_use("shop__send_message", {"to": "ann@example.com", "body": "It shipped."}),
            text("Sent."),
        ]
    )

    def answer(request: ModelRequest) -> Any:
        seen()
        return next(script)

    lookup = system.lookup

    async def read(args: dict[str, Any], key: str | None) -> Any:
        seen()
        return await lookup(args, key)

    system.lookup = read  # type: ignore[method-assign]
    orch = make(store, ScriptedModel(fallback=answer), system)
    await orch.drain("w1")
    assert store.status(run_id) == "waiting_approval"
    # the first answer was committed before the read it asked for; a read (which a replay may
    # redo) rides along with the next commit
    assert committed == [[], ["loop/model/0"], ["loop/model/0"]]
    # the read, the answer proposing the write, the gate's decision and the proposal commit with the park
    assert store.commits == ["steps", "waiting_approval"]
    names = [(s.name or "").rsplit("/", 1)[0] for s in store.load(run_id).steps]
    assert names == ["loop/model", "tool:loop/0", "loop/model", "gate:loop/1"]
    [action] = pending(store)

    store.decide(action.id, "approved", by="pat")
    store.commits.clear()
    await orch.drain("w2")
    assert store.status(run_id) == "succeeded" and len(system.writes) == 1
    # around the write, then the last answer with the run's end: no commit of its own
    assert store.commits == ["executing", "executed", "succeeded"]
    assert [s.name for s in store.load(run_id).steps][-1] == "loop/model/2"


async def test_a_held_proposal_keeps_the_facts_it_was_proposed_with() -> None:
    """A read made after a write was proposed, in the same turn, does not change the facts the
    proposal was checked against (an approver's edit is checked against those)."""
    store, system = MemoryRunStore(), FakeSystem()
    lookup = system.lookup

    async def read(args: dict[str, Any], key: str | None) -> Any:
        found = await lookup(args, key)
        return {**found, "email": f"customer{args['order_id']}@example.com"}

    system.lookup = read  # type: ignore[method-assign]
    turn = ModelResponse(
        tool_calls=[
            ToolCall(id="r1", name="shop__lookup", arguments={"order_id": 7}),
            ToolCall(id="w", name="shop__send_message", arguments={"to": "ann@example.com", "body": "hi"}),
            ToolCall(id="r2", name="shop__lookup", arguments={"order_id": 8}),
        ],
        stop_reason="tool_use",
    )
    run_id = new_run(store)
    await make(store, ScriptedModel([turn]), system).drain("w1")
    assert store.status(run_id) == "waiting_approval"
    [action] = pending(store)
    facts = store.actions[action.id].facts
    assert facts is not None
    assert "customer7@example.com" in facts["emails"]  # read before the proposal
    assert "customer8@example.com" not in facts["emails"]  # read after it


async def test_a_pass_ended_by_its_status_write_needs_no_release_trip() -> None:
    """The write that ends a pass gives up the lease, so the store is not asked again; a pass
    that ends otherwise (its lease lost to another worker) still releases."""
    store, system = CountingStore(), FakeSystem()
    released: list[str] = []
    release = store.release

    def counted(run_id: str, owner: str) -> None:
        released.append(owner)
        release(run_id, owner)

    store.release = counted  # type: ignore[method-assign]
    run_id = new_run(store)
    model = ScriptedModel(
        [tool_use("shop__send_message", {"to": "ann@example.com", "body": "It shipped."}), text("Sent.")]
    )
    orch = make(store, model, system)
    await orch.drain("w1")
    [action] = pending(store)
    assert store.runs[run_id].lease_owner is None and released == []
    store.decide(action.id, "approved", by="pat")
    await orch.drain("w2")
    assert store.status(run_id) == "succeeded" and released == []
    assert store.runs[run_id].lease_owner is None

    other = new_run(store)
    assert store.claim("w3", -1) == other  # w3's lease lapses at once
    assert store.claim("w4", 30) == other  # and w4 takes the run over
    assert await orch.advance(other, "w3") == "lost"
    await orch.release(other, "w3")
    assert released == ["w3"] and store.runs[other].lease_owner == "w4"


class TripLog:
    """An offloader that runs calls inline and notes where each trip to the store's thread begins."""

    def __init__(self, store: MemoryRunStore) -> None:
        self.log: list[str] = []
        for name in ("claim", "claim_run", "load", "append_steps", "set_status"):
            setattr(store, name, self._noted(name, getattr(store, name)))

    def _noted(self, name: str, fn: Any) -> Any:
        def noted(*args: Any, **kwargs: Any) -> Any:
            self.log.append(name)
            return fn(*args, **kwargs)

        return noted

    async def __call__(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.log.append("|")
        return fn(*args, **kwargs)


async def test_a_claimed_pass_reads_its_run_in_the_claims_trip() -> None:
    """Claiming and reading what the pass starts from is one trip to the store's thread,
    whether the worker claims the oldest run or the API claims a particular one."""
    store, system = MemoryRunStore(), FakeSystem()
    trips = TripLog(store)
    model = ScriptedModel([text("Hello."), text("Hi again.")])
    cat = system.catalogue()
    orch = Orchestrator(store, model, lambda: cat, lambda: Policy(), {"test": loop_pipeline}, io=trips)
    first = new_run(store)
    assert await orch.run_once("w1") == first
    assert trips.log[:3] == ["|", "claim", "load"]
    assert trips.log.count("load") == 1 and store.status(first) == "succeeded"

    trips.log.clear()
    second = new_run(store)
    assert await orch.advance_now(second, "w2") == "succeeded"
    assert trips.log[:3] == ["|", "claim_run", "load"] and trips.log.count("load") == 1
    assert not orch._started  # nothing left behind


async def test_a_claimed_run_that_cannot_be_read_in_the_claims_trip_is_read_again() -> None:
    store, system = MemoryRunStore(), FakeSystem()
    load, failures = store.load, [OSError("connection reset")]

    def flaky(run_id: str, **kw: Any) -> Any:
        if failures:
            raise failures.pop()
        return load(run_id, **kw)

    store.load = flaky  # type: ignore[method-assign]
    run_id = new_run(store)
    await make(store, ScriptedModel([text("Hello.")]), system).drain("w1")
    assert store.status(run_id) == "succeeded" and not failures


async def test_the_gate_is_read_when_a_pass_first_proposes_a_write_and_only_then() -> None:
    """A pass that proposes no write reads no standing rules (the pass after an approval, a
    read-only answer); one that proposes writes reads them once, on the store's thread, at the
    moment it proposes, so a rule revoked while the run waited on its model no longer applies."""
    store, system = MemoryRunStore(), FakeSystem()
    rule = StandingRule(tool="shop__send_*", approved_by="lead", max_risk="medium")
    rules: list[StandingRule] = [rule]
    reads: list[str] = []
    trips = TripLog(store)

    def gate() -> Policy:
        reads.append("rules")
        trips.log.append("rules")
        return Policy(list(rules))

    class Model(ScriptedModel):
        async def complete(self, request: ModelRequest) -> ModelResponse:
            rules.clear()  # the rule is revoked while the model thinks
            return await super().complete(request)

    two = tool_use("shop__send_message", {"to": "ann@example.com", "body": "It shipped."})
    two.tool_calls.append(
        ToolCall(id="second", name="shop__send_message", arguments={"to": "ann@example.com", "body": "Also."})
    )
    model = Model([two, text("Sent."), text("Nothing to send.")])
    cat = system.catalogue()
    orch = Orchestrator(store, model, lambda: cat, gate, {"test": loop_pipeline}, io=trips)
    run_id = new_run(store)
    await orch.drain("w1")
    assert reads == ["rules"]  # one read for the pass's two proposals
    assert trips.log[trips.log.index("rules") - 1] == "|"  # on the store's thread
    assert [a.status for a in store.load(run_id).actions] == ["pending", "pending"]  # rule gone

    for action in pending(store):
        store.decide(action.id, "approved", by="pat")
    reads.clear()
    await orch.drain("w2")
    assert store.status(run_id) == "succeeded" and len(system.writes) == 2
    assert reads == []  # the pass that ran the approved writes proposed none

    answer = new_run(store, "hello")
    await orch.drain("w3")
    assert store.status(answer) == "succeeded" and reads == []


async def test_advance_now_waits_for_a_worker_that_took_the_run_first() -> None:
    """The caller of advance_now reads the run's outcome next (a workflow's draft, an MCP write):
    when a worker claimed the run the moment it was queued, advance_now waits for that worker
    to bring it to a stop, and takes the run over if it is queued again meanwhile."""
    store, system = MemoryRunStore(), FakeSystem()
    model = ScriptedModel([text("Hello.")])
    orch = make(store, model, system)
    run_id = new_run(store)
    assert store.claim_run(run_id, "worker", 30)
    waiting = asyncio.create_task(orch.advance_now(run_id, "api"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # returning now would leave the caller a run still running
    store.set_status(run_id, "worker", "succeeded", result={"answer": "done by the worker"})
    assert await asyncio.wait_for(waiting, 5) is None
    assert store.result(run_id) == {"answer": "done by the worker"} and model.requests == []

    again = new_run(store)
    assert store.claim_run(again, "worker", 30)
    waiting = asyncio.create_task(orch.advance_now(again, "api"))
    await asyncio.sleep(0.1)
    store.requeue(again, "worker", error="a passing fault", delay=-1)
    assert await asyncio.wait_for(waiting, 5) == "succeeded"  # taken over and advanced here
    assert len(model.requests) == 1


async def test_advance_now_looks_only_at_the_status_and_goes_on_when_the_run_is_queued_again() -> None:
    """The look between two claims reads the status alone (not the run's steps), and a run the
    other worker left queued right after this one's failed claim is taken over, not given up."""

    class Racing(MemoryRunStore):
        looks = loads = 0

        def status(self, run_id: str) -> str:
            Racing.looks += 1
            if Racing.looks == 3:  # the worker's pass ends queued between a claim and this look
                self.requeue(run_id, "worker", error="approved meanwhile", delay=-1)
            return super().status(run_id)

        def load(self, run_id: str, **kw: Any) -> Any:
            Racing.loads += 1
            return super().load(run_id, **kw)

    store, system = Racing(), FakeSystem()
    model = ScriptedModel([text("Hello.")])
    run_id = new_run(store)
    assert store.claim_run(run_id, "worker", 30)
    assert await asyncio.wait_for(make(store, model, system).advance_now(run_id, "api"), 5) == "succeeded"
    assert Racing.looks == 3 and Racing.loads == 1  # one load: the pass that advanced it here
