"""Chat: the free loop over the same tools and the same gate, one run per turn.

A conversation is the chain of chat runs sharing a conversation id. Earlier
turns are replayed to the model inside a token budget: the newest turns are
kept whole, older ones are folded into a short summary. The history a turn saw
is recorded as a step, so a resumed turn sees exactly the same context.
Tools are filtered by the asker's role: a viewer gets read tools only.
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

HISTORY_TOKEN_BUDGET = 3000
SUMMARY_CHARS = 160


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
    def __init__(self, prompts: PromptLibrary, db: Database, *, budget: int = HISTORY_TOKEN_BUDGET):
        self.prompts = prompts
        self.db = db
        self.budget = budget

    def _earlier_turns(self, run_id: str) -> list[tuple[str, str]]:
        with self.db.session() as s:
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
        history = await ctx.record("chat:history", "note", self._history_step(ctx.run.id))
        effects: list[Effect] = ["read"] if chat.get("role", "viewer") == "viewer" else ["read", "write"]
        tools = ctx.catalogue.select(effects=effects)
        variables = {"message": message}
        past = [Message.model_validate(m) for m in history["messages"]]
        final = await ctx.agent_loop(
            "chat",
            self.prompts.request("chat", variables, history=past),
            tools,
        )
        return {"answer": final.content}

    def _history_step(self, run_id: str) -> dict[str, Any]:
        messages, summarized = fit_history(self._earlier_turns(run_id), self.budget)
        return {
            "messages": [m.model_dump(exclude_defaults=True) for m in messages],
            "summarized_turns": summarized,
        }
