"""The durable run context: every model call and tool result is a committed step.

A pipeline is a plain async function of a RunContext. It is re-executed from
the top each time the run advances; each durable call (`model_call`,
`structured`, `read`, `record`, `agent_loop`) first looks for its step by name
and replays the recorded result, so work done before a crash is never redone
and a run resumes on any worker. Writes go through the gate: they become
actions, the run suspends until people decide, and an approved action runs
exactly once with its id as the idempotency key.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator

from app.agent.lease import CutOff, Lease, NotSent
from app.agent.offload import Offloader, to_thread
from app.agent.policy import UNBOUNDED, Decision, Policy, merge_facts, new_facts, observe, stated_amount
from app.agent.ports import (
    ActionRecord,
    NewAction,
    NewStep,
    RunSnapshot,
    RunStore,
    StepRecord,
    Transient,
)
from app.llm.base import (
    Message,
    Model,
    ModelError,
    ModelRequest,
    ModelResponse,
    StreamingModel,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from app.llm.pricing import cost_usd
from app.llm.prompts import untrusted
from app.llm.tokens import count_tokens, truncate_to_tokens
from app.observability.context import calling_tool
from connectors.base import ConnectorError, first_attempt, noting_calls, proposed_at, proposed_version
from tools.base import Catalogue, Tool
from tools.selection import SEARCH_TOOL, ToolOffer

TOOL_RESULT_TOKEN_BUDGET = 1500
# A read that meets a system's outage sends the run back to the queue (with backoff) this many
# times in a row; after that the model is told the read failed, as for any other error.
READ_RETRIES = 5
# An approved write that meets an outage is retried with the same idempotency key on later
# passes, up to this many attempts in all; then it waits for a person (retry or dismiss).
WRITE_ATTEMPTS = 5


# Writes that have moved, or may yet move, what they name: none turned down, none dismissed.
LIVE = ("pending", "approved", "executing", "succeeded", "failed")


def _unix(at: datetime | None) -> float | None:
    """Unix seconds of a stored time; SQLite hands times back naive, and every stored time is UTC."""
    if at is None:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


# In an action's facts: {source: minor units other runs had taken from it when the gate decided}.
WEIGHED_ELSEWHERE = "weighed_elsewhere"
# In an action's facts: the id of the standing rule that approved it (checked again at its start).
APPROVED_BY_RULE = "approved_by_rule"


def _with_decision(facts: dict[str, Any], elsewhere: dict[str, int], decision: Decision) -> dict[str, Any]:
    """The facts an action keeps: a copy of the run's, with what the gate weighed from other runs
    and the standing rule that approved it, both checked again when the write starts."""
    kept = copy.deepcopy(facts)
    if elsewhere:
        kept[WEIGHED_ELSEWHERE] = elsewhere
    if not decision.needs_approval and decision.rule is not None:
        kept[APPROVED_BY_RULE] = decision.rule.id or ""  # "": a rule from configuration, not stored
    return kept


class Suspend(Exception):
    """The run waits for people to decide on proposed actions."""


class RunFailed(Exception):
    """The run cannot go on; the message says why in words a person can act on."""


@dataclass
class ToolOutcome:
    content: str
    is_error: bool = False
    data: Any = None
    # True when the content came from outside (a system's data or error text):
    # the model then sees it fenced as untrusted data.
    external: bool = True
    # The system said the failure may pass (an outage, 429/5xx, no answer).
    retryable: bool = False
    # Attempts that failed before this outcome (rate limited, unavailable), as the transport saw them.
    retries: tuple[dict[str, Any], ...] = ()


def commits_for_good(tool: Tool) -> bool:
    """Whether `tool` is declared to move money, to be (or be able to be) a final submission, or
    to set where money is paid: the writes a person who posted an item by hand asked for
    (`RunContext.requester_of`). An imported write (OpenAPI, MCP) declares nothing, so it may do
    any of these: it counts, whatever its arguments say now (an edit could add an amount)."""
    does = tool.does
    if not does.declared and tool.is_write:
        return True
    return does.money is not None or bool(does.final) or does.payee is not None


# The run input's mark for a run whose requester a person was but nobody recorded, left by
# migration 0013 on data written before requesters were kept: "poster", an item posted by hand
# (API, CLI, web UI) before `posted_by` was; "creator", a request filed under a placeholder
# instead of its person (an MCP client's write as "mcp-client").
REQUESTER_UNKNOWN = "requester_unknown"


def requester_unknown(run_input: dict[str, Any], tool: Tool) -> bool:
    """Whether a person nobody can name asked for `tool`'s write on a run with this input: as
    `requester_of` would have named them, the poster for the writes that commit the company for
    good, the creator for every write. Four eyes has no name to hold against them, so the gate
    wants two different approvers instead (`Policy.decide`), here and when an approver edits."""
    scope = run_input.get(REQUESTER_UNKNOWN)
    if scope == "creator":
        return True
    return scope == "poster" and commits_for_good(tool)


def replayed(rec: StepRecord) -> ToolOutcome:
    """A recorded tool result, with its data parsed back when it was JSON."""
    content = rec.data.get("result", "")
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    return ToolOutcome(
        content=content,
        is_error=rec.data.get("is_error", False),
        data=data,
        external=rec.data.get("external", True),
    )


def trim_to_tokens(text: str, budget: int = TOOL_RESULT_TOKEN_BUDGET) -> str:
    """Keep a tool result inside its token budget, saying that it was cut. A JSON list (or an
    object around one) keeps its first whole items and stays JSON, the note after it: a reader
    that parses it sees fewer items, never none."""
    # Every token stands for at least one UTF-8 byte: a short text fits without being counted.
    if len(text.encode()) <= budget:
        return text
    if (total := count_tokens(text)) <= budget:
        return text
    head, _ = truncate_to_tokens(text, budget)
    whole = _whole_items(text, budget)
    if whole is not None:
        kept, shown, of = whole
        return kept + f"\n…[trimmed to {budget} tokens of {total}: the first {shown} of {of} items]"
    return head + f"\n…[trimmed to {budget} tokens of {total}]"


_NOTE_TOKENS = 40  # room left for the note after the kept items


def _whole_items(text: str, budget: int) -> tuple[str, int, int] | None:
    """The longest prefix of a JSON list's items (the list itself, or the one list an object
    holds) that fits in `budget` tokens, as JSON; None for any other text."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list) and v]
        if len(lists) != 1:
            return None
        key = lists[0]
        items: list[Any] = data[key]

        def dump(n: int) -> str:
            return _dump({**data, key: items[:n]})
    elif isinstance(data, list) and data:
        items = data

        def dump(n: int) -> str:
            return _dump(items[:n])
    else:
        return None
    low, high = 0, len(items)  # the most items that fit, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(dump(mid)) <= budget - _NOTE_TOKENS:
            low = mid
        else:
            high = mid - 1
    return (dump(low), low, len(items)) if low else None


def _dump(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def describe_request(request: ModelRequest) -> dict[str, Any]:
    """What a step records of a model request: everything but the tool schemas."""
    return {
        "prompt": request.prompt,
        "system": request.system,
        "messages": [m.model_dump(exclude_defaults=True) for m in request.messages],
        "tools": [t.name for t in request.tools],
        "output_schema": bool(request.output_schema),
    }


class RunContext:
    def __init__(
        self,
        snapshot: RunSnapshot,
        *,
        store: RunStore,
        owner: str,
        model: Model,
        catalogue: Catalogue,
        policy: Policy | Callable[[], Policy],
        lease: Lease,
        on_delta: Callable[[str], None] | None = None,
        io: Offloader = to_thread,
    ):
        """`policy` is the gate, or how to read it (the standing rules are rows): then it is read
        when the pass first proposes a write, so a pass that proposes none reads no rules, and a
        rule revoked while the run waited on its model no longer applies. `lease` is this
        worker's lease on the run, which its heartbeat renews: approved writes are held to it."""
        self.run = snapshot
        self.store = store
        self.owner = owner
        self.model = model
        self.catalogue = catalogue
        self._policy = policy if isinstance(policy, Policy) else None
        self._read_policy = policy
        # Told each piece of answer text as a streaming model produces it (live chat).
        # Only a convenience for whoever watches: steps, not deltas, are the record.
        self.on_delta = on_delta
        # Store calls run here (a thread pool), never on the event loop other runs share.
        self.io = io
        self.lease = lease
        # While an approved write is being made: when it must have gone out by (see `_execute`).
        self._send_by: float | None = None
        self._steps: dict[str, StepRecord] = {s.name: s for s in snapshot.steps if s.name}
        self._actions: dict[str, ActionRecord] = {a.tool_call_id: a for a in snapshot.actions}
        # Tool-call keys of writes this pass got to; an approved write it never reached is reported.
        self._reached: set[str] = set()
        # What the run knows for a fact (the item, read results); the gate checks writes against it.
        self.facts: dict[str, Any] = new_facts()
        # Four eyes, in the gate: whoever asked for the run may not approve its writes. Only a run
        # on an item a system delivered (a ticket, an invoice, an event) asks for nothing itself;
        # a person who posted such an item still asked for some of its writes (`requester_of`).
        self.requested_by: str | None = None if snapshot.input.get("delivered") else snapshot.created_by
        posted_by = snapshot.input.get("posted_by")
        self.posted_by: str | None = str(posted_by) if posted_by and self.requested_by is None else None
        self.requester_role: str | None = None
        # What the pass holds for its next commit (see `_append`): steps, run fields, proposals.
        self._pending: list[NewStep] = []
        self._pending_fields: dict[str, Any] = {}
        self._pending_actions: list[NewAction] = []
        self._must_commit = False  # something held may not be redone: a model's answer

    def unreached_approved(self) -> list[ActionRecord]:
        """Approved writes, known when this pass began, that the pipeline did not come to.

        A replay reaches every write it proposed before, so this is empty unless the tool
        is gone or the pipeline changed; such a write must not wait, silently, forever.
        """
        return [a for key, a in self._actions.items() if a.status == "approved" and key not in self._reached]

    def unreached_writes(self) -> list[ActionRecord]:
        """Approved writes and writes being sent (an attempt that met an outage, to be sent again
        with the same key) that this pass did not come to: what a run that fails leaves behind."""
        return [
            a
            for key, a in self._actions.items()
            if a.status in ("approved", "executing") and key not in self._reached
        ]

    def actions(self) -> list[ActionRecord]:
        """Every action of the run as this pass knows it: those it began with, those it proposed,
        with the status of any it executed (a person may have decided one since)."""
        return list(self._actions.values())

    def requester_of(self, tool: Tool) -> str | None:
        """Who asked for `tool`'s write on this run, and so may not approve it (four eyes).

        A run that is a request (a chat turn, an MCP call, a refund record) is its creator's for
        every write. An item a person posted by hand (through the API, the CLI or the web UI) is
        that person's request for the writes that commit the company: those that move or spend
        money (a refund, a shipping label's postage), may be a final submission (a ledger entry,
        a dispute's evidence, a fulfilment), or create or change a payee and so where money is
        paid (a vendor with its bank account: the classic vendor-master fraud is to add a payee
        with one's own account and then get it paid). The poster wrote the text the agent
        proposes them from, so approving them would be asking for money, a booking or a payee
        and granting it oneself, which is what four eyes (segregation of duties) exists to stop;
        and the gate never treats those writes as low risk. Judged on what the tool declares (its
        money, final and payee effects), not on these arguments, so an edit that turns a draft
        into a submission, or adds a bank account, cannot slip past.

        The item's other writes (a reply, tags, priority, a tracker issue) stay approvable by
        whoever posted it, as for an item a system delivered: they are reversible or routine, the
        approver sees where each value came from, and a support agent who types in a customer's
        call and answers it is a desk's ordinary work; requiring a second person for every reply
        to a ticket entered by hand would leave a one-approver desk (and the demo) unable to
        answer one. A person who asks for a write itself, in chat or over MCP, is its requester
        for every write."""
        if self.requested_by is not None:
            return self.requested_by
        if self.posted_by is not None and commits_for_good(tool):
            return self.posted_by
        return None

    def know(self, **fragment: Any) -> None:
        """Add facts from the item itself (requester, ticket id, untrusted text...)."""
        merge_facts(self.facts, fragment)

    # -- durable primitives -------------------------------------------------
    def recorded(self, name: str) -> StepRecord | None:
        return self._steps.get(name)

    async def _append(
        self, step: NewStep, run_fields: dict[str, Any] | None = None, *, durable: bool = True
    ) -> StepRecord:
        """Hold a step for the pass's next commit.

        A durable step (a model's answer, which a replay must not ask for again) is committed
        before the pass makes its next outside call, a model's or a tool's, or with the run's
        status when the pass ends. The others (reads, the pipeline's own records, which a
        replay can redo or rebuild) ride along. So a pass commits where durability needs it,
        not once per step."""
        self._pending.append(step)
        self._pending_fields.update(run_fields or {})
        self._must_commit = self._must_commit or durable
        rec = StepRecord(seq=-1, kind=step.kind, name=step.name, data=step.data)
        self._steps[step.name] = rec
        return rec

    async def _before_call(self) -> None:
        """An outside call is next: commit what may not be redone first."""
        if self._must_commit:
            await self.flush()

    async def flush(self) -> None:
        """Commit everything held (one transaction, fenced)."""
        if not (self._pending or self._pending_fields or self._pending_actions):
            return
        held = self.held()
        await self.io(self.store.append_steps, self.run.id, self.owner, **held)

    def held(self) -> dict[str, Any]:
        """Take what the pass holds, as `append_steps`/`set_status` keyword arguments: the
        orchestrator commits it with the run's status when the pass ends."""
        held = {
            "steps": self._pending,
            "run_fields": self._pending_fields or None,
            "actions": self._pending_actions,
        }
        self._pending, self._pending_fields, self._pending_actions = [], {}, []
        self._must_commit = False
        return held

    async def drive(self, pipeline: Callable[[RunContext], Awaitable[Any]]) -> Any:
        """Run the pipeline for this pass. What it still holds when it returns or suspends is
        for the caller to commit with the run's status (`held`); a failure commits it here."""
        try:
            return await pipeline(self)
        except Suspend:
            raise
        except BaseException:
            with contextlib.suppress(Exception):  # the cause is what matters; a lost lease stops here
                await self.flush()
            raise

    async def record(
        self, name: str, kind: str, data: dict[str, Any], *, run_fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A decision or result of the pipeline itself (classification, draft, note)."""
        if (rec := self.recorded(name)) is not None:
            return rec.data
        return (await self._append(NewStep(kind=kind, name=name, data=data), run_fields, durable=False)).data

    async def model_call(self, name: str, request: ModelRequest) -> ModelResponse:
        if (rec := self.recorded(name)) is not None:
            return ModelResponse.model_validate(rec.data["response"])
        await self._before_call()
        started = time.perf_counter()
        on_delta = self.on_delta
        if (
            on_delta is None
            or request.output_schema is not None
            or not isinstance(self.model, StreamingModel)
        ):
            response = await self.model.complete(request)
        else:
            # Someone is watching and the answer is prose: stream it, record the same final response.
            streamed: ModelResponse | None = None
            async for event in self.model.stream(request):
                if isinstance(event, TextDelta):
                    on_delta(event.text)
                else:
                    streamed = event
            if streamed is None:
                raise ModelError(f"{self.model.name}: the stream ended without a response")
            response = streamed
        latency = (time.perf_counter() - started) * 1000
        model_name = response.model or self.model.name
        await self._append(
            NewStep(
                kind="model_call",
                name=name,
                data={"request": describe_request(request), "response": response.model_dump()},
                prompt_version=request.prompt,
                model=model_name,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cost_usd=cost_usd(model_name if ":" in model_name else self.model.name, response.usage),
                latency_ms=round(latency, 2),
            )
        )
        return response

    async def structured(self, name: str, request: ModelRequest, *, attempts: int = 2) -> dict[str, Any]:
        """A model call whose output must match request.output_schema; one repair turn on failure."""
        assert request.output_schema is not None
        validator = Draft202012Validator(request.output_schema)
        messages = list(request.messages)
        problems: list[str] = []
        for attempt in range(attempts):
            response = await self.model_call(
                f"{name}/{attempt}", request.model_copy(update={"messages": list(messages)})
            )
            output = response.output
            if output is None and response.content:
                try:
                    output = json.loads(response.content)
                except ValueError:
                    output = None
            if not isinstance(output, dict):
                problems = ["the answer was not a JSON object"]
            else:
                problems = [
                    f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                    for e in validator.iter_errors(output)
                ]
                if not problems:
                    return output
            messages = [
                *messages,
                Message(role="assistant", content=response.content or _dump(output)),
                Message(
                    role="user",
                    content="That output does not match the schema: "
                    + "; ".join(problems)
                    + ". Answer again.",
                ),
            ]
        raise RunFailed(
            f"{name}: the model's output did not match the schema after {attempts} tries: {'; '.join(problems)}"
        )

    async def read(self, name: str, tool_name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """A read the pipeline itself makes (to ground a draft); recorded like a model's."""
        call = ToolCall(id=name, name=tool_name, arguments=arguments)
        tool = self.catalogue.get(tool_name)
        if tool.is_write:
            raise RunFailed(f"pipeline step {name} tried to call write tool {tool_name} directly")
        outcome = await self.tool_call(name, call, {tool_name: tool})
        assert outcome is not None
        return outcome

    async def agent_loop(
        self, name: str, request: ModelRequest, tools: list[Tool] | ToolOffer, *, max_turns: int = 8
    ) -> ModelResponse:
        """The free loop: the model calls tools until it answers; writes wait at the gate.

        Given a ToolOffer, each call offers its current tools, and the tools a `search_tools`
        call finds are offered from the next call on (recorded, so a replay offers the same).
        """
        offer = tools if isinstance(tools, ToolOffer) else ToolOffer.fixed(tools)
        by_name = offer.allowed
        messages = list(request.messages)
        for turn in range(max_turns):
            specs = [
                ToolSpec(name=t.name, description=t.description, input_schema=t.input_schema)
                for t in offer.tools()
            ]
            response = await self.model_call(
                f"{name}/model/{turn}",
                request.model_copy(update={"messages": list(messages), "tools": specs}),
            )
            messages.append(
                Message(role="assistant", content=response.content, tool_calls=response.tool_calls)
            )
            if not response.tool_calls:
                return response
            results: list[Message] = []
            waiting = False
            for call in response.tool_calls:
                outcome = await self.tool_call(f"{name}/{turn}/{call.id}", call, by_name)
                if outcome is None:
                    waiting = True
                    continue
                content = untrusted(outcome.content, call.name) if outcome.external else outcome.content
                results.append(
                    Message(role="tool", tool_call_id=call.id, content=content, is_error=outcome.is_error)
                )
            if waiting:
                raise Suspend()
            messages.extend(results)
            searches = [c.arguments for c in response.tool_calls if c.name == SEARCH_TOOL]
            if searches:
                found = await self.record(
                    f"{name}/tools/{turn + 1}", "note", {"tools": offer.widened(searches)}
                )
                offer = offer.with_names(found["tools"])
        await self.record(f"{name}/stopped", "note", {"message": f"stopped after {max_turns} model turns"})
        return ModelResponse(
            content=f"Stopped after {max_turns} turns without a final answer.", stop_reason="max_tokens"
        )

    # -- tools and the gate -------------------------------------------------
    async def _tool_step(
        self, key: str, call: ToolCall, tool: Tool | None, outcome: ToolOutcome, **extra: Any
    ) -> ToolOutcome:
        await self._append(
            NewStep(
                kind="tool_call",
                name=f"tool:{key}",
                data={
                    "tool": call.name,
                    "effect": tool.effect if tool else None,
                    "arguments": call.arguments,
                    "result": outcome.content,
                    "is_error": outcome.is_error,
                    "external": outcome.external,
                    **({"retries": list(outcome.retries)} if outcome.retries else {}),
                    **extra,
                },
            ),
            durable=False,  # a read is redone on a replay that lacks it; the model's answer is the point
        )
        return outcome

    async def tool_call(self, key: str, call: ToolCall, tools: dict[str, Tool]) -> ToolOutcome | None:
        """Run, replay or park one tool call. None means it waits for a decision."""
        if (rec := self.recorded(f"tool:{key}")) is not None:
            merge_facts(self.facts, rec.data.get("observed") or {})
            return replayed(rec)
        calling_tool(call.id)  # the tool's span names the model's call
        tool = tools.get(call.name)
        if tool is None:
            return await self._tool_step(
                key,
                call,
                None,
                ToolOutcome(
                    f"Unknown tool {call.name!r}. Available: {', '.join(sorted(tools))}", True, external=False
                ),
            )
        errors = tool.validate(call.arguments)
        if errors:
            # Invalid arguments never reach the connector; the model reads why and may retry.
            msg = "Invalid arguments for " + call.name + ": " + "; ".join(errors)
            return await self._tool_step(
                key, call, tool, ToolOutcome(msg, True, external=False), validation_errors=errors
            )
        if not tool.is_write:
            outcome = await self._invoke(tool, call.arguments, None)
            if outcome.retryable and self.run.retries < READ_RETRIES:
                raise Transient(outcome.content)
            observed = observe(outcome.data, tool.facts) if not outcome.is_error else {}
            merge_facts(self.facts, observed)
            return await self._tool_step(key, call, tool, outcome, observed=observed)
        return await self._write(key, call, tool)

    async def policy(self) -> Policy:
        """The gate, read (on the store's thread) the first time this pass needs it."""
        if self._policy is None:
            read = self._read_policy
            assert callable(read)
            self._policy = await self.io(read)
        return self._policy

    async def _invoke(
        self, tool: Tool, arguments: dict[str, Any], idempotency_key: str | None
    ) -> ToolOutcome:
        await self._before_call()
        with noting_calls() as notes:
            try:
                async with self._within_lease(tool):
                    data = await tool.invoke(arguments, idempotency_key)
            except ConnectorError as exc:
                return ToolOutcome(
                    f"{tool.name} failed: {exc}", True, retryable=exc.retryable, retries=tuple(notes)
                )
        text = trim_to_tokens(_dump(data))
        return ToolOutcome(text, False, data, retries=tuple(notes))

    def _within_lease(self, tool: Tool) -> AbstractAsyncContextManager[None]:
        """An approved write goes out only with enough of the lease left that `start_execution`
        set (NotSent otherwise: checked here, as close to the request as this layer gets), and
        waits for its answer only while the heartbeat keeps the lease (CutOff at the deadline).
        A read is not bound: making it twice does no harm. See app/agent/lease.py, which also
        says what window is left (a stall between this check and the socket write)."""
        if self._send_by is None:
            return contextlib.nullcontext()
        self.lease.send_by(self._send_by, tool.name)
        return self.lease.held(tool.name)

    def _unsourced(self, name: str, arguments: dict[str, Any]) -> int | None:
        """The amount a write of tool `name` states when its operation declares nothing it does
        (imported: OpenAPI, MCP), so nobody knows which source its money leaves; else None."""
        tool = self._tool(name)
        if tool is None or tool.does.declared or not tool.is_write:
            return None
        return stated_amount(arguments)

    async def _alongside(self, tool: Tool, arguments: dict[str, Any]) -> tuple[int, int, dict[str, int]]:
        """Minor units other writes take from the source `arguments` names (the same charge):
        this run's live writes of `tool` from it, and other runs' approved, sent or failed ones (a
        standing rule weighs them too, as an approver does); an amount not stated counts as
        unbounded. A write whose operation declares no source (imported) may take from any: it
        is weighed with every money write of the run, and they with it. Returns (all of it, the
        run's own part, {source: other runs' part}); the last is kept with the action: a rule's
        approval is checked again against it when the write starts, in case another run's write
        came in meanwhile."""
        unsourced = [
            min(stated, UNBOUNDED)
            for a in self._actions.values()
            if a.status in LIVE and (stated := self._unsourced(a.tool, a.arguments)) is not None
        ]
        if self._unsourced(tool.name, arguments) is not None:
            declared = 0
            for a in self._actions.values():
                theirs = self._tool(a.tool)
                money = theirs.does.money if theirs is not None else None
                if a.status in LIVE and money is not None:
                    moved = money.minor_amount(a.arguments)
                    declared += UNBOUNDED if moved is None else max(moved, 0)
            in_run = min(sum(unsourced) + declared, UNBOUNDED)
            return in_run, in_run, {}
        money = tool.does.money
        field = money.source if money is not None else None
        source = arguments.get(field) if field else None
        if money is None or field is None or not isinstance(source, str) or not source:
            return 0, 0, {}
        total = sum(unsourced)
        for a in self._actions.values():
            if a.tool == tool.name and a.status in LIVE and a.arguments.get(field) == source:
                moved = money.minor_amount(a.arguments)
                total += UNBOUNDED if moved is None else max(moved, 0)
        elsewhere = await self.io(
            self.store.moved_from, tool.connection, tool.operation, source, besides=self.run.id
        )
        others = 0
        for effects in elsewhere:
            stated = (effects.get("money") or {}).get("amount")
            others += stated if isinstance(stated, int) and stated >= 0 else UNBOUNDED
        in_run = min(total, UNBOUNDED)
        return min(total + others, UNBOUNDED), in_run, {source: min(others, UNBOUNDED)}

    def _tool(self, name: str) -> Tool | None:
        try:
            return self.catalogue.get(name)
        except KeyError:
            return None

    async def _write(self, key: str, call: ToolCall, tool: Tool) -> ToolOutcome | None:
        self._reached.add(key)
        action = self._actions.get(key)
        if action is None:
            requester = self.requester_of(tool)
            alongside, in_run, elsewhere = await self._alongside(tool, call.arguments)
            decision = (await self.policy()).decide(
                tool,
                call.arguments,
                self.facts,
                requester_role=self.requester_role,
                requester_unknown=requester_unknown(self.run.input, tool),
                requester=requester,
                alongside=alongside,
                alongside_in_run=in_run,
            )
            effects = tool.does.summary(call.arguments, self.facts)
            new = NewAction(
                tool_call_id=key,
                tool=tool.name,
                connection=tool.connection,
                operation=tool.operation,
                arguments=call.arguments,
                risk=decision.risk,
                reasons=decision.reasons,
                status="pending" if decision.needs_approval else "approved",
                decided_by=None
                if decision.needs_approval
                else f"rule:{decision.rule.tool if decision.rule else ''}",
                requested_by=requester,
                required_approvals=decision.required_approvals,
                effects=effects,
                provenance=decision.provenance,
                # A copy: the proposal may be held while later reads of this turn add facts.
                facts=_with_decision(self.facts, elsewhere, decision),
                tool_version=tool.version,
            )
            step = NewStep(
                kind="decision",
                name=f"gate:{key}",
                data={
                    "tool": tool.name,
                    "arguments": call.arguments,
                    "needs_approval": decision.needs_approval,
                    "risk": decision.risk,
                    "reasons": decision.reasons,
                    "required_approvals": decision.required_approvals,
                    "provenance": decision.provenance,
                    "effects": effects,
                },
            )
            # Held with the model's answer that asked for it: committed before the next outside
            # call (an approved write's, below) or with the park that ends the pass.
            self._pending_actions.append(new)
            await self._append(step, durable=False)
            action = self._actions[key] = new.record(self.run.id)
        if action.status in ("pending", "failed"):
            return None  # waits for people: a decision, or a retry/dismissal of the failed write
        if action.status in ("approved", "executing"):
            return await self._execute(key, call, tool, action)
        if action.status == "rejected":
            who = action.decided_by or "a person"
            return await self._tool_step(
                key,
                call,
                tool,
                ToolOutcome(f"Rejected by {who}: {action.reason or 'no reason given'}", True, external=False),
                action_id=action.id,
            )
        if action.status == "expired":
            return await self._tool_step(
                key,
                call,
                tool,
                ToolOutcome("Not done: the approval expired without a decision.", True, external=False),
                action_id=action.id,
            )
        if action.status == "dismissed":
            who = action.decided_by or "a person"
            return await self._tool_step(
                key,
                call,
                tool,
                ToolOutcome(
                    f"Not done: the write failed ({action.error or 'no error recorded'}) and {who} "
                    f"dismissed it: {action.reason or 'no reason given'}",
                    True,
                    external=True,  # the error is the system's text
                ),
                action_id=action.id,
            )
        # succeeded without a step cannot happen (finish_execution writes both); replay from the action.
        return ToolOutcome(
            _dump(action.result) if action.result else (action.error or ""), action.status != "succeeded"
        )

    async def _execute(
        self, key: str, call: ToolCall, tool: Tool, action: ActionRecord
    ) -> ToolOutcome | None:
        """Exactly once: executing is committed before the call; the action id is the idempotency key.

        Success is recorded as the tool call's result and the model goes on. A failure is
        recorded as an attempt and the action waits for a person (None): the run then parks
        in needs_attention until someone retries it (same key) or dismisses it. An outage is
        retried on a later pass with the same key (Transient), when the system deduplicates.

        The write is bound to the lease (app/agent/lease.py): `start_execution` renews it in
        the same commit, and the request goes out only while enough of that renewal is left, by
        this worker's clock, from before it asked. Otherwise nothing is sent (NotSent): the
        attempt is taken back, fenced by the lease, and the write waits, approved, for the next
        pass, which sends it as any approved write (if the lease is gone, the action is left
        executing). A call still unanswered when the lease runs out is cancelled (CutOff): the
        action stays executing, and whoever resumes it looks for an earlier write first. Either
        way the run goes back to the queue. So no worker sends, or waits on, a write once another
        may have taken the run over, but for the window lease.py describes.
        """
        await self.flush()  # everything before the write is committed before it starts
        started = self.lease.renewing()
        action = await self.io(
            self.store.start_execution, action.id, self.owner, lease_seconds=self.lease.seconds
        )
        send_by = self.lease.renewed(started)
        if action.status == "pending":  # a standing rule's approval no longer held: people decide
            self._actions[key] = action
            return None
        if action.resumed and action.withdrawn:
            await self._failed_write(
                key,
                call,
                action,
                f"Not resumed: {action.withdrawn}. An attempt may have gone out: check the system, "
                "then retry (the same key) or dismiss.",
            )
            return None
        if action.resumed and tool.idempotency == "none":
            await self._failed_write(
                key,
                call,
                action,
                f"Not retried: {tool.name} was interrupted mid-call and {tool.connection} cannot "
                "deduplicate writes; check the system, then retry or dismiss.",
            )
            return None
        # Never tried before: a connector that deduplicates by looking for an earlier write
        # with this key need not look (see connectors.base.tried_before).
        # (Sound only because a write goes out inside the lease: no other worker could have.)
        fresh = action.attempts == 1 and not action.resumed
        self._send_by = send_by
        try:
            # No attempt went out before the first one (or, for one made before that was kept,
            # before the proposal): a connector looking for an earlier write starts there.
            proposed = _unix(action.first_tried_at or action.created_at)
            with (
                first_attempt() if fresh else contextlib.nullcontext(),
                proposed_at(proposed),
                proposed_version(action.tool_version),  # what was approved is what runs, or nothing
            ):
                outcome = await self._invoke(tool, action.arguments, action.id)
        except NotSent as exc:
            # Nothing went out: the check comes before the request. Taken back to approved, the
            # write is not mistaken next pass for one whose outcome is unknown (which a system that
            # cannot deduplicate would leave to a person). Fenced: a worker that lost the run
            # changes nothing (LeaseLost) and the action stays executing for whoever holds it now.
            await self.io(self.store.return_unsent, action.id, self.owner, reason=str(exc))
            raise
        except CutOff as exc:
            if action.attempts < WRITE_ATTEMPTS:
                raise  # stays executing; the next pass resumes it and looks first
            await self._failed_write(
                key, call, action, f"{exc}; check {tool.connection}, then retry or dismiss"
            )
            return None
        finally:
            self._send_by = None
        if outcome.is_error:
            if outcome.retryable and tool.idempotency != "none" and action.attempts < WRITE_ATTEMPTS:
                raise Transient(outcome.content)  # stays executing; the next pass resumes with the same key
            await self._failed_write(key, call, action, outcome.content)
            return None
        if action.arguments != call.arguments:
            outcome = ToolOutcome(
                _dump({"edited_by_approver": True, "arguments": action.arguments, "result": outcome.data}),
                False,
                outcome.data,
                retries=outcome.retries,
            )
        step = self._write_step(f"tool:{key}", call, action, outcome)
        self._actions[key] = await self.io(
            self.store.finish_execution,
            action.id,
            self.owner,
            status="succeeded",
            result={"data": outcome.data},
            error=None,
            step=step,
        )
        self._steps[step.name] = StepRecord(seq=-1, kind=step.kind, name=step.name, data=step.data)
        return outcome

    async def _failed_write(self, key: str, call: ToolCall, action: ActionRecord, error: str) -> None:
        """Record the failed attempt (not as the call's result, so a retry runs it again)."""
        outcome = ToolOutcome(error, True, external=False)
        step = self._write_step(f"attempt:{key}/{action.attempts}", call, action, outcome)
        self._actions[key] = await self.io(
            self.store.finish_execution,
            action.id,
            self.owner,
            status="failed",
            result=None,
            error=error,
            step=step,
        )

    @staticmethod
    def _write_step(name: str, call: ToolCall, action: ActionRecord, outcome: ToolOutcome) -> NewStep:
        return NewStep(
            kind="tool_call",
            name=name,
            data={
                "tool": call.name,
                "effect": "write",
                "arguments": action.arguments,
                "proposed_arguments": call.arguments,
                "action_id": action.id,
                "attempt": action.attempts,
                "result": outcome.content,
                "is_error": outcome.is_error,
                "external": outcome.external,
                **({"retries": list(outcome.retries)} if outcome.retries else {}),
            },
        )
