"""Chat: the free loop over the same tools and the same gate, one run per turn.

A conversation is the chain of chat runs sharing a conversation id. Earlier
turns are replayed to the model inside a token budget: the newest turns are
kept whole, older ones are folded into a short summary. The history a turn saw
is recorded as a step, so a resumed turn sees exactly the same context.
Tools are filtered by the asker's role: a viewer gets read tools only. Of those, a
turn offers the few its message (and the recent conversation) may need, and
`search_tools` for the rest; the names offered are recorded with the history.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.agent.run import RunContext
from app.llm.base import Message
from app.llm.prompts import PromptLibrary
from app.llm.tokens import count_tokens
from app.services.auth import Principal
from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Run
from connectors.base import Effect
from tools import selection
from tools.base import Tool
from tools.selection import ToolOffer, search_tool

HISTORY_TOKEN_BUDGET = 3000
SUMMARY_CHARS = 160
# Tools offered at the start of a turn, besides search_tools: the same few whatever the
# catalogue's size. The core is always among them: the knowledge base answers many questions.
OFFERED_TOOLS = 8
CORE_TOOLS = ("*__search_articles",)
# Earlier questions of the conversation that inform the choice ("and their charges?").
CONTEXT_TURNS = 2


def start_turn(db: Database, message: str, conversation_id: str | None, who: Principal) -> tuple[str, str]:
    """Queue a chat run; returns (run id, conversation id)."""
    if not message.strip():
        raise Invalid("message must not be blank", field="message")
    with db.session() as s:
        if conversation_id is not None:
            owner = s.scalar(select(Run.created_by).where(Run.conversation_id == conversation_id).limit(1))
            if owner is None:
                raise NotFound(f"no conversation {conversation_id}")
            if owner != who.name:
                raise NotFound(f"no conversation {conversation_id}")  # others' conversations are not visible
        conv = conversation_id or uuid.uuid4().hex
        run = Run(
            kind="chat",
            input={"chat": {"message": message, "role": who.role}},
            created_by=who.name,
            conversation_id=conv,
            status="queued",
        )
        s.add(run)
        s.flush()
        audit(s, who.name, "chat.message", "run", run.id, {"conversation_id": conv})
        return run.id, conv


def conversation(db: Database, conversation_id: str, who: Principal) -> dict[str, Any]:
    with db.session() as s:
        runs = s.scalars(
            select(Run).where(Run.conversation_id == conversation_id).order_by(Run.created_at)
        ).all()
        if not runs or runs[0].created_by != who.name:
            raise NotFound(f"no conversation {conversation_id}")
        return {
            "id": conversation_id,
            "turns": [
                {
                    "run_id": r.id,
                    "message": r.input.get("chat", {}).get("message"),
                    "answer": (r.result or {}).get("answer"),
                    "status": r.status,
                    "created_at": r.created_at.isoformat(),
                }
                for r in runs
            ],
        }


def fit_history(
    turns: list[tuple[str, str]], budget: int = HISTORY_TOKEN_BUDGET
) -> tuple[list[Message], int]:
    """Newest turns whole within `budget` tokens; older ones as a one-line summary each.

    Returns the messages and how many turns were summarized.
    """
    kept: list[tuple[str, str]] = []
    used = 0
    for question, answer in reversed(turns):
        cost = count_tokens(question) + count_tokens(answer) + 8
        if used + cost > budget:
            break
        kept.append((question, answer))
        used += cost
    kept.reverse()
    older = turns[: len(turns) - len(kept)]
    messages: list[Message] = []
    if older:
        lines = [f"- asked: {q[:SUMMARY_CHARS]} / answered: {a[:SUMMARY_CHARS]}" for q, a in older]
        summary = "Summary of earlier turns in this conversation:\n" + "\n".join(lines)
        while count_tokens(summary) > budget // 3 and len(lines) > 1:
            lines.pop(0)
            summary = "Summary of the most recent earlier turns:\n" + "\n".join(lines)
        messages += [Message(role="user", content=summary), Message(role="assistant", content="Noted.")]
    for question, answer in kept:
        messages += [Message(role="user", content=question), Message(role="assistant", content=answer)]
    return messages, len(older)


class ChatPipeline:
    def __init__(
        self,
        prompts: PromptLibrary,
        db: Database,
        *,
        budget: int = HISTORY_TOKEN_BUDGET,
        offered: int = OFFERED_TOOLS,
        core: tuple[str, ...] = CORE_TOOLS,
    ):
        self.prompts = prompts
        self.db = db
        self.budget = budget
        self.offered = offered
        self.core = core

    def _earlier_turns(self, run_id: str) -> list[tuple[str, str]]:
        with self.db.read() as s:
            this = s.get(Run, run_id)
            assert this is not None
            rows = s.scalars(
                select(Run)
                .where(
                    Run.conversation_id == this.conversation_id,
                    Run.created_at < this.created_at,
                    Run.status == "succeeded",
                )
                .order_by(Run.created_at)
            ).all()
            return [(r.input["chat"]["message"], (r.result or {}).get("answer") or "") for r in rows]

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        chat = ctx.run.input["chat"]
        message: str = chat["message"]
        ctx.requester_role = chat.get("role")
        effects: list[Effect] = ["read"] if chat.get("role", "viewer") == "viewer" else ["read", "write"]
        tools = ctx.catalogue.select(effects=effects)
        if (rec := ctx.recorded("chat:history")) is not None:
            history = rec.data
        else:  # read off the event loop, on the first pass only
            step = await ctx.io(self._history_step, ctx.run.id, message, tools)
            history = await ctx.record("chat:history", "note", step)
        variables = {"message": message}
        past = [Message.model_validate(m) for m in history["messages"]]
        # Earlier answers carry what earlier turns read (a customer's comment, repeated): data,
        # as the reads were, so a value they dictate is outside text in this turn too.
        earlier = [m.content for m in past if m.role == "assistant" and m.content]
        if history.get("summarized_turns") and past:
            earlier.append(past[0].content)  # the folded turns' summary quotes their answers
        ctx.know(untrusted_reads=earlier)
        final = await ctx.agent_loop(
            "chat",
            self.prompts.request("chat", variables, history=past),
            offer(tools, history.get("tools")),
        )
        return {"answer": final.content}

    def _history_step(self, run_id: str, message: str, tools: list[Tool]) -> dict[str, Any]:
        turns = self._earlier_turns(run_id)
        messages, summarized = fit_history(turns, self.budget)
        context = [question for question, _ in turns[-CONTEXT_TURNS:]]
        return {
            "messages": [m.model_dump(exclude_defaults=True) for m in messages],
            "summarized_turns": summarized,
            "tools": offered_names(tools, message, context, self.offered, self.core),
        }


def offered_names(
    tools: list[Tool],
    message: str,
    context: list[str],
    limit: int = OFFERED_TOOLS,
    core: tuple[str, ...] = CORE_TOOLS,
) -> list[str]:
    """The tools a turn offers first: all when they are few, else the most relevant and search_tools."""
    if len(tools) <= limit:
        return [t.name for t in tools]
    return [*selection.select(tools, message, context, limit=limit, core=core), search_tool(tools).name]


def offer(tools: list[Tool], names: list[str] | None) -> ToolOffer:
    """What a turn may call (its role's tools and search_tools) and the recorded names it offers.

    A turn recorded before tools were chosen (no names) offers them all, as it did then.
    """
    allowed = {t.name: t for t in [*tools, search_tool(tools)]}
    return ToolOffer(allowed, list(names) if names is not None else [t.name for t in tools])
