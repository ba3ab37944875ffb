"""A run's steps as server-sent events, read from the store as they are committed.

Reading committed steps (rather than listening inside one process) means the
stream works whichever worker advances the run, on whichever machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from app.services.views import action_view, step_view
from app.store.db import Database
from app.store.tables import Action, Run, Step

STOP = frozenset({"succeeded", "failed", "cancelled", "waiting_approval"})


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


def _read(
    db: Database, run_id: str, after: int
) -> tuple[str, list[Step], dict[str, Action], dict[str, Any] | None, str | None]:
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        steps = list(
            s.scalars(select(Step).where(Step.run_id == run_id, Step.seq > after).order_by(Step.seq))
        )
        actions = {a.tool_call_id: a for a in s.scalars(select(Action).where(Action.run_id == run_id))}
        return run.status, steps, actions, run.result, run.error


async def run_events(
    db: Database, run_id: str, *, after: int = 0, poll: float = 0.1, timeout: float = 300.0
) -> AsyncIterator[str]:
    """Yield `step`, `approval`, `message` and finally `done` (or `error`) events."""
    waited = 0.0
    while True:
        status, steps, actions, result, error = _read(db, run_id, after)
        for step in steps:
            after = step.seq
            view = step_view(step)
            yield sse("step", view)
            if step.kind == "decision" and step.name and step.name.startswith("gate:"):
                action = actions.get(step.name.removeprefix("gate:"))
                if action is not None:
                    yield sse("approval", action_view(action))
            if step.kind == "model_call":
                response = step.data.get("response", {})
                if response.get("content") and not response.get("tool_calls"):
                    yield sse("message", {"text": response["content"]})
        if status in STOP and not steps:
            if status == "failed":
                yield sse("error", {"error": error or "the run failed"})
            yield sse("done", {"status": status, "run_id": run_id, "result": result})
            return
        if not steps:
            await asyncio.sleep(poll)
            waited += poll
            if waited > timeout:
                yield sse("error", {"error": f"no progress for {timeout:.0f} s; is a worker running?"})
                return
        else:
            waited = 0.0
