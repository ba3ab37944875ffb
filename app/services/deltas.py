"""Answer text as it streams, handed from the task advancing a run to the clients watching it.

In-process only, on purpose: a delta is a preview, never the record. The
committed steps stay the truth (app/services/events.py reads them from the
store), so a run advanced by another worker or another machine still streams
its steps and final message; it just shows no deltas. Publishing to a run
nobody watches drops the text.

All calls are made on the event loop that serves the request and advances
the run (post_chat starts the turn on its own loop), so no locking is needed.
"""

from __future__ import annotations

import asyncio


class DeltaBus:
    """Per-run fan-out of text deltas to unbounded asyncio queues (an answer is small)."""

    def __init__(self) -> None:
        self._queues: dict[str, list[asyncio.Queue[str]]] = {}

    def subscribe(self, run_id: str) -> asyncio.Queue[str]:
        """A queue that receives every delta published for `run_id` from now on."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues.setdefault(run_id, []).append(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[str]) -> None:
        """Stop feeding `queue` (idempotent); what it already holds can still be read."""
        queues = self._queues.get(run_id)
        if queues is None:
            return
        if queue in queues:
            queues.remove(queue)
        if not queues:
            del self._queues[run_id]

    def publish(self, run_id: str, text: str) -> None:
        for queue in self._queues.get(run_id, ()):
            queue.put_nowait(text)

    def watched(self, run_id: str) -> bool:
        return bool(self._queues.get(run_id))
