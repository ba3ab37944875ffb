"""`switchboard triage`: many tickets at once, with progress and a summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from app.agent.orchestrator import worker_id
from app.main import Container
from app.services import intake
from app.services.views import run_view

REQUIRED = ("subject", "body", "requester_email")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    tickets = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        missing = [k for k in REQUIRED if not isinstance(row, dict) or not row.get(k)]
        if missing:
            raise ValueError(f"{path}:{n}: missing {', '.join(missing)}")
        tickets.append(row)
    return tickets


async def _from_source(c: Container, source: str, limit: int) -> list[dict[str, Any]]:
    connector = c.pool.connector(source)
    found = await connector.search_tickets(query="status<solved")  # type: ignore[attr-defined]
    rows = found.get("results", []) if isinstance(found, dict) else found
    return [
        {
            "subject": t.get("subject") or "(no subject)",
            "body": t.get("description") or "",
            # Zendesk tickets name their requester by id; the triage run looks the user up.
            **({"requester_email": t["requester_email"]} if t.get("requester_email") else {}),
            **({"requester_id": t["requester_id"]} if t.get("requester_id") is not None else {}),
            "external_id": t["id"],
        }
        for t in rows[:limit]
    ]


async def run_batch(
    c: Container, console: Console, *, file: Path | None, source: str | None, limit: int
) -> None:
    try:
        tickets = read_jsonl(file) if file else await _from_source(c, source or "", limit)
        run_ids = [
            intake.submit(
                c.db, kind="ticket", run_kind="triage", payload=t, source=source or "cli", actor="cli"
            )[0]
            for t in tickets
        ]
        owner = worker_id()
        with Progress(console=console) as progress:
            task = progress.add_task("triaging", total=len(run_ids))
            while await c.orchestrator.run_once(owner) is not None:
                progress.update(
                    task,
                    completed=sum(
                        1 for r in run_ids if run_view(c.db, r)["status"] not in ("queued", "running")
                    ),
                )
    finally:
        await c.pool.aclose()
    table = Table("run", "subject", "category", "priority", "confidence", "status", "pending actions")
    statuses: Counter[str] = Counter()
    for run_id, t in zip(run_ids, tickets, strict=True):
        v = run_view(c.db, run_id)
        cls = v["classification"] or {}
        statuses[v["status"]] += 1
        pending = sum(1 for a in v["actions"] if a["status"] == "pending")
        table.add_row(
            run_id[:8],
            t["subject"][:40],
            cls.get("category", "-"),
            cls.get("priority", "-"),
            f"{cls['confidence']:.2f}" if "confidence" in cls else "-",
            v["status"],
            str(pending),
        )
    console.print(table)
    console.print(", ".join(f"{n} {s}" for s, n in statuses.items()) or "nothing to triage")
