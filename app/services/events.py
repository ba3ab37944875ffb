"""A run's steps as server-sent events, read from the store as they are committed.

Reading committed steps (rather than listening inside one process) means the
stream works whichever worker advances the run, on whichever machine.

Live answer text is the one exception: when the run is advanced in this process
with a delta callback (post_chat does that), its `delta` events come from an
in-process queue (app/services/deltas.py) between polls. They are a preview:
the `message` event still carries the whole text, so clients that ignore
deltas lose nothing, and a run advanced elsewhere simply has no deltas.
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

STOP = frozenset({"succeeded", "failed", "cancelled", "waiting_approval", "needs_attention"})


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
    db: Database,
    run_id: str,
    *,
    after: int = 0,
    poll: float = 0.1,
    timeout: float = 300.0,
    deltas: asyncio.Queue[str] | None = None,
) -> AsyncIterator[str]:
    """Yield `step`, `approval`, `delta`, `message` and finally `done` (or `error`) events.

    `deltas` (optional) feeds `delta` events `{"text": ...}` as answer text
    streams in. A model call's deltas are published before its step commits,
    and the queue is drained right before each read of the store with no await
    in between, so a call's deltas always come out before its `message`.
    """
    loop = asyncio.get_running_loop()
    waited = 0.0
    while True:
        pending = _drain(deltas)
        status, steps, actions, result, error = _read(db, run_id, after)
        for text in pending:
            yield sse("delta", {"text": text})
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
        if steps or pending:
            waited = 0.0
            continue
        streamed = False
        if deltas is None:
            await asyncio.sleep(poll)
        else:
            # Wait out the poll interval, passing text on the moment it arrives.
            deadline = loop.time() + poll
            while (remaining := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(remaining):
                        text = await deltas.get()
                except TimeoutError:
                    break
                streamed = True
                yield sse("delta", {"text": text})
        waited = 0.0 if streamed else waited + poll  # streamed text is progress
        if waited > timeout:
            yield sse("error", {"error": f"no progress for {timeout:.0f} s; is a worker running?"})
            return


def _drain(queue: asyncio.Queue[str] | None) -> list[str]:
    out: list[str] = []
    while queue is not None and not queue.empty():
        out.append(queue.get_nowait())
    return out
