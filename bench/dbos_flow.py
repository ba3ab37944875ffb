"""The same ticket on DBOS Transact (durable workflows on SQLite or PostgreSQL): a bench prototype.

Each call of the ticket is a `@DBOS.step()` (its result checkpointed before the
workflow goes on); the approval is a durable wait: the workflow publishes the proposed
write as an event (`set_event`) and waits on `recv("approval")`; the approver's
decision is a `send` to the workflow. A crashed workflow is recovered from its
checkpoints when DBOS launches again. Only to measure what DBOS would cost as the layer
under Switchboard's run loop; nothing in the product imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.ticket_flow import TicketWork, stored_bytes, ticket_payload

_work: TicketWork | None = None
# On SQLite, DBOS's durable waits (`recv`, `get_event`) look for news by polling, by default
# once a second: the bench's ticket waited about two seconds on it, and its section took most
# of an hour. Polled every 50 ms here (as the throughput bench's workers poll their queue);
# the polls' CPU counts in DBOS's figures.
POLL_SECONDS = 0.05


def _w() -> TicketWork:
    assert _work is not None
    return _work


def register() -> Any:
    """Declare the workflow and its steps (before DBOS launches); returns the workflow."""
    from dbos import DBOS

    @DBOS.step()
    async def read(ticket: dict[str, Any]) -> dict[str, Any]:
        return await _w().read(ticket)

    @DBOS.step()
    async def classify(ticket: dict[str, Any]) -> dict[str, Any]:
        return await _w().classify(ticket)

    @DBOS.step()
    async def draft(
        ticket: dict[str, Any], classification: dict[str, Any], reads: dict[str, Any]
    ) -> dict[str, Any]:
        return await _w().draft(ticket, classification, reads)

    @DBOS.step()
    async def act(
        ticket: dict[str, Any], classification: dict[str, Any], drafted: dict[str, Any]
    ) -> dict[str, Any]:
        return await _w().act(_w().act_request(ticket, classification, drafted))

    @DBOS.step()
    async def execute(call: dict[str, Any], key: str) -> dict[str, Any]:
        return await _w().execute(call, key)

    @DBOS.step()
    async def finish(
        ticket: dict[str, Any],
        classification: dict[str, Any],
        drafted: dict[str, Any],
        call: dict[str, Any],
        result: dict[str, Any],
    ) -> str:
        return await _w().finish(_w().act_request(ticket, classification, drafted), call, result)

    @DBOS.workflow()
    async def ticket_flow(i: int) -> str:
        ticket = ticket_payload(i)
        reads = await read(ticket)
        classification = await classify(ticket)
        drafted = await draft(ticket, classification, reads)
        call = await act(ticket, classification, drafted)
        await DBOS.set_event_async("proposed", call)
        decision = await DBOS.recv_async("approval", timeout_seconds=3600)
        if not decision or not decision.get("approved"):
            return "rejected"
        key = f"dbos-{DBOS.workflow_id}"  # the same key when a recovered workflow runs the step again
        result = await execute(call, key)
        return await finish(ticket, classification, drafted, call, result)

    return ticket_flow


async def run_tickets(work: TicketWork, db_path: Path, timed: Any, runs: int) -> dict[str, Any]:
    from dbos import DBOS

    global _work
    _work = work
    DBOS(
        config={
            "name": "ticket-bench",
            "system_database_url": f"sqlite:///{db_path}",
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": POLL_SECONDS,
        }
    )
    flow = register()
    DBOS.launch()
    try:

        async def one(i: int) -> None:
            handle = await DBOS.start_workflow_async(flow, i)
            call = await DBOS.get_event_async(handle.workflow_id, "proposed", timeout_seconds=60)
            assert call is not None
            await DBOS.send_async(handle.workflow_id, {"approved": True}, topic="approval")
            assert await handle.get_result() == "Replied to the customer."

        await timed(one)
    finally:
        DBOS.destroy()
    return {"db_bytes": stored_bytes(db_path) / runs}
