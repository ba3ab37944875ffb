"""The same ticket on LangGraph 1.x with its SQLite checkpointer (the bench extra).

classify → draft → act are nodes; the approval is an `interrupt` and the person's
decision comes back with `Command(resume=...)`. Checkpoints are written with
`durability="sync"`, each before the next node runs: the promise Switchboard keeps
(a step is committed before the run moves on), so the two pay for the same thing.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, TypedDict

from bench.ticket_flow import TicketWork, stored_bytes, ticket_payload


class TicketState(TypedDict, total=False):
    ticket: dict[str, Any]
    reads: dict[str, Any]
    classification: dict[str, Any]
    draft: dict[str, Any]
    call: dict[str, Any]
    decision: dict[str, Any]
    result: dict[str, Any]
    answer: str


def build(work: TicketWork, checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    async def read(s: TicketState) -> dict[str, Any]:
        return {"reads": await work.read(s["ticket"])}

    async def classify(s: TicketState) -> dict[str, Any]:
        return {"classification": await work.classify(s["ticket"])}

    async def draft(s: TicketState) -> dict[str, Any]:
        return {"draft": await work.draft(s["ticket"], s["classification"], s["reads"])}

    async def act(s: TicketState) -> dict[str, Any]:
        return {"call": await work.act(work.act_request(s["ticket"], s["classification"], s["draft"]))}

    def approve(s: TicketState) -> dict[str, Any]:
        return {"decision": interrupt({"call": s["call"]})}

    async def execute(s: TicketState) -> dict[str, Any]:
        if not s["decision"].get("approved"):
            return {"result": {"rejected": s["decision"].get("reason")}}
        key = f"lg-{s['ticket']['external_id']}"  # the same key on a replay: the help desk deduplicates
        return {"result": await work.execute(s["call"], key)}

    async def finish(s: TicketState) -> dict[str, Any]:
        request = work.act_request(s["ticket"], s["classification"], s["draft"])
        return {"answer": await work.finish(request, s["call"], s["result"])}

    g = StateGraph(TicketState)
    names = ["read", "classify", "draft", "act", "approve", "execute", "finish"]
    for name, fn in zip(names, [read, classify, draft, act, approve, execute, finish], strict=True):
        g.add_node(name, fn)  # type: ignore[call-overload]
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g.compile(checkpointer=checkpointer)


async def run_tickets(work: TicketWork, db_path: Path, timed: Any, runs: int) -> dict[str, Any]:
    """Each ticket: run to the approval, then resume with the decision; `timed` wraps the loop."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.types import Command

    async with AsyncSqliteSaver.from_conn_string(str(db_path)) as saver:
        graph = build(work, saver)

        async def one(i: int) -> None:
            config = {"configurable": {"thread_id": f"ticket-{i}"}}
            first = await graph.ainvoke({"ticket": ticket_payload(i)}, config, durability="sync")
            assert "__interrupt__" in first, first
            done = await graph.ainvoke(Command(resume={"approved": True}), config, durability="sync")
            assert done["answer"], done

        await timed(one)
    return {"db_bytes": stored_bytes(db_path) / runs}
