"""`switchboard triage`: many tickets at once, with progress and a summary."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from app.agent.orchestrator import worker_id
from app.main import Container
from app.services import intake
from app.services.views import run_view

SETTLED_NOT = ("queued", "running")

REQUIRED = ("subject", "body", "requester_email")


def read_jsonl(path: Path, check: Callable[[Any], str | None] = lambda _: None) -> list[dict[str, Any]]:
    """The tickets of a JSONL file; `check` says what is wrong with a row's external_id, if anything."""
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
        if problem := check(row.get("external_id")):
            raise ValueError(f"{path}:{n}: {problem}")
        tickets.append(row)
    return tickets


async def _from_source(c: Container, source: str, limit: int) -> list[dict[str, Any]]:
    connector = c.pool.connector(source)  # NotFound: no connection of that name
    search = getattr(connector, "search_tickets", None)
    if search is None:
        raise ValueError(
            f"{source} offers no ticket search (it is a {connector.kind} connection); "
            "--source takes a help-desk connection"
        )
    found = await search(query="status<solved")
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
    c: Container,
    console: Console,
    *,
    file: Path | None,
    source: str | None,
    limit: int,
    again: bool = False,
    actor: str = "cli",
) -> None:
    """Submit each ticket once (one ticket of one system is one item), then advance the runs here.

    `actor` submits them: from a file, the person the command runs as (the CLI is then a channel
    a person posts through, and they cannot approve what four eyes keeps from a poster)."""
    channel = source or "cli"
    skipped: list[tuple[str, dict[str, Any]]] = []
    try:
        if file:
            catalogue, desk = c.pool.catalogue(), intake.ticket_system(c.db)
            tickets = read_jsonl(file, lambda tid: intake.ticket_id_problem(catalogue, channel, tid, desk))
        else:
            tickets = await _from_source(c, source or "", limit)
        fresh: list[dict[str, Any]] = []
        for t in tickets:
            known = (
                intake.existing_run(c.db, "ticket", channel, t["external_id"])
                if t.get("external_id") is not None and not again
                else None
            )
            if known is not None:
                skipped.append((known, t))
            else:
                fresh.append(t)
        tickets = fresh
        run_ids = [
            intake.submit(
                c.db, kind="ticket", run_kind="triage", payload=t, source=channel, actor=actor, again=again
            )[0]
            for t in tickets
        ]
        await _advance(c, console, run_ids)
    finally:
        await c.pool.aclose()
    _summary(c, console, run_ids, tickets, skipped)


async def _advance(c: Container, console: Console, run_ids: list[str], *, wait_seconds: float = 600) -> None:
    """Advance runs until each of ours has settled; the bar moves as each one does.

    Another worker (a running demo, `switchboard worker`) may hold some of them: then
    this waits for them to settle rather than stopping at the first moment when
    nothing is left for this process to claim.
    """
    owner = worker_id()
    pending = set(run_ids)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    deadline = asyncio.get_running_loop().time() + wait_seconds
    with Progress(*columns, console=console) as progress:
        first = "triaging (the first ticket also trains the local classifier)"
        task = progress.add_task(first if c.settings.model == "local" else "triaging", total=len(run_ids))
        while pending and asyncio.get_running_loop().time() < deadline:
            did = await c.orchestrator.run_once(owner)
            done = {r for r in pending if run_view(c.db, r)["status"] not in SETTLED_NOT}
            pending -= done
            if done:
                progress.update(task, advance=len(done), description="triaging")
            if did is None and pending:
                progress.update(task, description="triaging (another worker holds some)")
                await asyncio.sleep(0.3)


def _summary(
    c: Container,
    console: Console,
    run_ids: list[str],
    tickets: list[dict[str, Any]],
    skipped: list[tuple[str, dict[str, Any]]],
) -> None:
    table = Table("run", "subject", "category", "priority", "confidence", "status", "pending actions")
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for run_id, t in zip(run_ids, tickets, strict=True):
        v = run_view(c.db, run_id)
        cls = v["classification"] or {}
        statuses[v["status"]] += 1
        if v["status"] == "failed" and v.get("error"):
            errors[str(v["error"])] += 1
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
    if run_ids:
        console.print(table)
    line = ", ".join(f"{n} {s}" for s, n in statuses.items())
    if skipped:
        ids = ", ".join(f"#{t['external_id']}" for _, t in skipped[:10]) + (
            ", …" if len(skipped) > 10 else ""
        )
        line = (line + "; " if line else "") + (
            f"{len(skipped)} skipped, already triaged ({ids}): --again triages them once more"
        )
    console.print(line or "nothing to triage")
    for error, n in errors.most_common(3):  # why runs failed: a wrong key fails them all alike
        console.print(f"[red]{n} failed:[/red] {error}", soft_wrap=True)
