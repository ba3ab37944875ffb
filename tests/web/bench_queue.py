"""Benchmark: server time of the approval queue page with 500 pending actions.

The page shows the newest 100 (more load on demand); the figures include the
cost of rendering all 500 at once for comparison.

    .venv/bin/python -m tests.web.bench_queue [--actions 500] [--renders 20]

Seeds a fresh SQLite database with runs and pending actions (a public reply
and a ticket update per ticket, like triage proposes), then renders /ui/queue
through an in-process ASGI client (no network, no browser) and prints the
median, p90 and best times. Goal: median under 300 ms. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from app.api.app import create_app
from app.services import dashboard
from app.services.auth import create_token
from app.store.tables import Action, Item, Run, utcnow
from tests.support.app import container

GOAL_MS = 300.0
REPLY = (
    "Hello {name},\n\nThanks for writing in. We looked at order #{n} and found the duplicate charge "
    "on your card. We have refunded it; you will see it on your statement within 5–10 business days.\n\n"
    "If anything else looks wrong, just reply to this message.\n\nBest regards,\nThe Northwind Support Team"
)


def seed(c, actions: int) -> None:  # type: ignore[no-untyped-def]
    """`actions` pending actions over actions/2 triage runs, created a second apart, newest last."""
    start = utcnow() - timedelta(seconds=actions)
    with c.db.session() as s:
        for i in range(actions // 2):
            ticket = {
                "subject": f"Charged twice for order #{1000 + i}",
                "body": "I was billed twice this month, please refund the extra charge.",
                "requester_email": f"customer{i}@example.com",
                "external_id": 1000 + i,
            }
            item = Item(kind="ticket", source="bench", external_id=str(1000 + i), payload=ticket)
            s.add(item)
            s.flush()
            run = Run(
                kind="triage",
                status="waiting_approval",
                item_id=item.id,
                input={"ticket": ticket},
                classification={"category": "billing", "priority": "high", "confidence": 0.9},
                created_by="bench",
                created_at=start + timedelta(seconds=2 * i),
            )
            s.add(run)
            s.flush()
            common = {"run_id": run.id, "connection": "helpdesk", "requested_by": "bench"}
            reply = {
                "ticket_id": 1000 + i,
                "body": REPLY.format(name=f"Customer {i}", n=1000 + i),
                "public": True,
            }
            update = {"ticket_id": 1000 + i, "priority": "high", "add_tags": ["billing", "switchboard"]}
            for j, (op, args, risk) in enumerate(
                (("add_comment", reply, "medium"), ("update_ticket", update, "low"))
            ):
                s.add(
                    Action(
                        tool_call_id=f"act/0/local_{j}",
                        tool=f"helpdesk__{op}",
                        operation=op,
                        arguments=args,
                        proposed_arguments=args,
                        risk=risk,
                        reasons=["sends a message a customer will read"] if risk == "medium" else [],
                        created_at=start + timedelta(seconds=2 * i + j),
                        expires_at=utcnow() + timedelta(days=3),
                        **common,
                    )
                )


async def bench(actions: int, renders: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    c = container(f"sqlite:///{home / 'bench.db'}", home)
    seed(c, actions)
    _, token = create_token(c.db, "bench-admin", "admin")
    app = create_app(c)
    cookies = {"Cookie": f"sb_token={token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

        async def timed(path: str) -> tuple[float, int, int]:
            t = time.perf_counter()
            r = await client.get(path, headers=cookies)
            return (time.perf_counter() - t) * 1000, r.status_code, len(r.content)

        for _ in range(2):  # warm up: template compilation, first queries
            await timed("/ui/queue")
        page = [await timed("/ui/queue") for _ in range(renders)]
        panel = [await timed("/ui/queue/panel?status=pending") for _ in range(renders)]
        every = [await timed(f"/ui/queue/panel?status=pending&limit={actions}") for _ in range(renders)]
        stamp = [await timed("/ui/queue/stamp?stamp=x") for _ in range(renders)]
    queries = []
    for _ in range(renders):
        t = time.perf_counter()
        dashboard.queue(c.db, "pending")
        queries.append((time.perf_counter() - t) * 1000)
    await c.pool.aclose()
    assert all(s == 200 for _, s, _ in page), "the queue page did not render"
    count = (await asyncio.to_thread(dashboard.queue_counts, c.db))["pending"]
    times = sorted(t for t, _, _ in page)
    return {
        "pending": count,
        "bytes": page[0][2],
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "best_ms": times[0],
        "panel_median_ms": statistics.median(t for t, _, _ in panel),
        "stamp_median_ms": statistics.median(t for t, _, _ in stamp),
        "all_median_ms": statistics.median(t for t, _, _ in every),
        "all_bytes": every[0][2],
        "query_median_ms": statistics.median(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    r = asyncio.run(bench(args.actions, args.renders))
    print(
        f"queue page with {r['pending']} pending actions ({r['bytes'] / 1024:.0f} KiB of HTML), {args.renders} renders:"
    )
    print(
        f"  GET /ui/queue          median {r['median_ms']:.1f} ms   p90 {r['p90_ms']:.1f} ms   best {r['best_ms']:.1f} ms"
    )
    print(f"  GET /ui/queue/panel    median {r['panel_median_ms']:.1f} ms (the live-refresh fragment)")
    print(f"  GET /ui/queue/stamp    median {r['stamp_median_ms']:.1f} ms (polled every 3 s)")
    print(
        f"  all {r['pending']} loaded at once (panel?limit={args.actions}, {r['all_bytes'] / 1024:.0f} KiB) "
        f"median {r['all_median_ms']:.1f} ms"
    )
    print(f"  dashboard.queue() alone median {r['query_median_ms']:.1f} ms (queries + views, no HTML)")
    verdict = "meets" if r["median_ms"] < GOAL_MS else "MISSES"
    print(f"  {verdict} the {GOAL_MS:.0f} ms goal")


if __name__ == "__main__":
    main()
