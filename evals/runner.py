"""`switchboard eval run`: the product's own pipelines over the demo's systems, item by item.

Each eval run gets a fresh database and freshly seeded simulators (evals/wiring.py),
so every model meets the same world. Tickets are filed in the help desk first, in
dataset order (so their ids, and so the requests, repeat from run to run), then
each item is triaged, asked in chat or booked as a record through the real
orchestrator, several at a time. What each run read, drafted, proposed and
spent is kept per item, scored (evals/metrics.py) and written under the data dir.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.llm.base import Model
from app.services import chat, intake
from app.services.auth import Principal
from app.services.views import run_view
from evals import metrics
from evals.cache import CachedModel, source_fingerprint

DATASETS = Path(__file__).parent / "datasets"
SPLITS = ("tuning", "held-out")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    parts: tuple[tuple[str, int | None], ...]  # (dataset, items from it; None: all)


SUITES: dict[str, Suite] = {
    "tickets": Suite("tickets", "support tickets through classify, draft, act", (("tickets", None),)),
    "chat": Suite("chat", "questions over the demo's systems, answered in chat", (("chat", None),)),
    "finance": Suite(
        "finance", "vendor invoices and card events through the finance pipeline", (("finance", None),)
    ),
    "ci": Suite(
        "ci", "a fast slice of tickets and chat for the test suite's gate", (("tickets", 24), ("chat", 10))
    ),
}


class EvalError(ValueError):
    """Bad input to an eval (unknown suite, split or dataset line): the message names it."""


# Where an item's run stopped, and whether that measured the model.
FINISHED = ("succeeded", "waiting_approval", "needs_attention")
OUTCOMES = ("finished", "failed", "unfinished", "errored")


def outcome(trace: dict[str, Any]) -> str:
    """What became of one item, and so whether its scores say anything about the model.

    - `finished`: the run came to a stop a person would see (done, writes waiting at the
      gate, an approved write needing attention): measured.
    - `failed`: the pipeline failed the run (the model answered something it could not use,
      or a fault that does not pass, such as a refused API key): measured, against the
      model, as the product would show it.
    - `unfinished`: the run is still queued or running: it met a passing fault (the model
      unreachable, rate limited, overloaded) and was sent back to the queue to try later,
      which an eval does not wait for. Nothing was measured.
    - `errored`: the eval itself raised on the item. Nothing was measured.
    """
    status = trace.get("status")
    if status == "error":
        return "errored"
    if status == "failed":
        return "failed"
    return "finished" if status in FINISHED else "unfinished"


def incomplete(outcomes: dict[str, int]) -> str | None:
    """Why a run's figures are not a score, or None when they are.

    A run is a score only when every item was measured (finished or failed) and at least
    one finished. An unfinished or errored item is left out of the figures, so the figures
    would be over fewer items than the run claims and would not compare with other runs
    or the baseline; counting it as a zero instead (what `eval run` used to do) reports
    an unreachable model as a model that answers nothing right. One such item is enough
    to refuse the run, because which items drop out is not random (the slow ones, the
    long ones, the ones past a rate limit). A run whose every item failed measured
    nothing either: that is a key, a model name or a server that is wrong, not a model
    that is bad at the work, and it is refused too. Some failed items among finished
    ones are a result, counted in the figures and shown.
    """
    total = sum(outcomes.values())
    lost = {"did not finish": outcomes.get("unfinished", 0), "errored": outcomes.get("errored", 0)}
    if any(lost.values()):
        parts = ", ".join(f"{n} {what}" for what, n in lost.items() if n)
        return f"{sum(lost.values())} of {total} items not measured ({parts})"
    if total and outcomes.get("failed", 0) == total:
        return f"all {total} items failed"
    return None


def load_dataset(name: str, split: str, folder: Path = DATASETS) -> list[dict[str, Any]]:
    path = folder / f"{name}.{split}.jsonl"
    if not path.exists():
        raise EvalError(f"no dataset {path}")
    items = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            row["dataset"] = name
            items.append(row)
    return items


def suite_items(suite: str, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    if suite not in SUITES:
        raise EvalError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    items: list[dict[str, Any]] = []
    for dataset, n in SUITES[suite].parts:
        rows = load_dataset(dataset, split)
        items += rows[:n] if n is not None else rows
    if limit is not None:
        # Keep each dataset's share: the first N items overall could all be tickets. Take one
        # from each dataset in turn until N are taken (a share a dataset cannot fill goes to the
        # others), then keep them in suite order: `--limit 5` on tickets and chat is 3 + 2.
        by: dict[str, list[int]] = {}
        for i, it in enumerate(items):
            by.setdefault(it["dataset"], []).append(i)
        taken: set[int] = set()
        for depth in range(max(len(at) for at in by.values()) if by else 0):
            for at in by.values():
                if depth < len(at) and len(taken) < limit:
                    taken.add(at[depth])
        items = [it for i, it in enumerate(items) if i in taken]
    return items


# --- running one item ---------------------------------------------------------------------


def _trace(view: dict[str, Any]) -> dict[str, Any]:
    """What a run did, in the shape the metrics read."""
    reads, tools_called = [], []
    model_calls = []
    for step in view["steps"]:
        data = step["data"] or {}
        if step["kind"] == "tool_call":
            tools_called.append(data.get("tool"))
            if data.get("effect") == "read" and not data.get("is_error"):
                reads.append(
                    {
                        "tool": data.get("tool"),
                        "arguments": data.get("arguments"),
                        "result": data.get("result"),
                    }
                )
        elif step["kind"] == "model_call":
            model_calls.append(
                {
                    "name": step["name"],
                    "prompt": step["prompt_version"],
                    "input_tokens": step["input_tokens"],
                    "output_tokens": step["output_tokens"],
                    "cost_usd": step["cost_usd"],
                }
            )
    actions = [
        {
            "tool": a["tool"],
            "connection": a["connection"],
            "operation": a["operation"],
            "arguments": a["proposed_arguments"],
            "status": a["status"],
        }
        for a in view["actions"]
    ]
    for a in actions:
        if a["tool"] not in tools_called:
            tools_called.append(a["tool"])
    return {
        "run_id": view["id"],
        "status": view["status"],
        "error": view["error"],
        "classification": view["classification"],
        "draft": view["draft"],
        # A turn parked at the gate has no result yet: what the model said with its proposal is the answer.
        "answer": (view["result"] or {}).get("answer")
        or "\n".join(
            str(((s["data"] or {}).get("response") or {}).get("content") or "")
            for s in view["steps"]
            if s["kind"] == "model_call"
        ).strip(),
        "actions": actions,
        "reads": reads,
        "tools_called": [t for t in tools_called if t],
        "model_calls": model_calls,
        "usage": view["usage"],
    }


async def _file_tickets(c: Any, items: list[dict[str, Any]]) -> dict[str, int]:
    """Open each ticket in the help desk, in order, as its customer would have."""
    helpdesk = c.pool.connector("helpdesk")
    ids = {}
    for it in items:
        if it["dataset"] == "tickets":
            created = await helpdesk.create_ticket(
                subject=it["subject"], body=it["body"], requester_email=it["requester_email"]
            )
            ids[it["id"]] = int(created["ticket_id"])
    return ids


async def _run_item(c: Any, it: dict[str, Any], ticket_ids: dict[str, int], owner: str) -> dict[str, Any]:
    if it["dataset"] == "tickets":
        payload = {
            "subject": it["subject"],
            "body": it["body"],
            "requester_email": it["requester_email"],
            "external_id": ticket_ids[it["id"]],
        }
        run_id, _ = intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=payload, source="eval", actor="eval"
        )
    elif it["dataset"] == "chat":
        run_id, _ = chat.start_turn(c.db, it["question"], None, Principal(f"eval-{it['id']}", "operator"))
    elif it["dataset"] == "finance":
        run_id, _ = intake.submit(
            c.db, kind="record", run_kind="record", payload=dict(it["record"]), source="eval", actor="eval"
        )
    else:
        raise EvalError(f"no runner for dataset {it['dataset']!r}")
    started = time.perf_counter()
    await c.orchestrator.advance_now(run_id, owner)
    trace = _trace(run_view(c.db, run_id))
    trace["wall_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return trace


async def _warm(model: Any) -> None:
    """Train the local classifier before the clock starts, once (not once per concurrent item)."""
    from app.services.triage import DEFAULT_TAXONOMY

    if hasattr(model, "classify"):  # with the pipeline's taxonomy: the classifier is trained per taxonomy
        await asyncio.to_thread(model.classify, {"subject": "warm up", "body": ""}, DEFAULT_TAXONOMY)


# --- the whole run ------------------------------------------------------------------------


def model_for(spec: str, items: list[dict[str, Any]], settings: Any) -> tuple[Model, str]:
    """The model a spec names, and the version its cached answers are filed under."""
    if spec == "scripted":
        from evals.oracle import OracleModel

        return OracleModel(items), source_fingerprint(DATASETS, Path(__file__).parent / "oracle.py")
    if spec.startswith("local"):
        from app.llm.local import LocalModel

        features = spec.partition("-")[2] or settings.local_features
        local = LocalModel(review_threshold=settings.review_threshold, features=features)
        return local, f"{features}:" + source_fingerprint(ROOT / "app" / "llm" / "local", ROOT / "prompts")
    from app.llm.factory import build_model

    model = build_model(
        spec,
        anthropic_api_key=settings.anthropic_api_key,
        openai_api_key=settings.openai_api_key,
        openai_base_url=settings.openai_base_url,
    )
    return model, f"{spec}:" + source_fingerprint(ROOT / "prompts")


async def run_suite(
    suite: str,
    *,
    model: str = "local",
    split: str = "tuning",
    limit: int | None = None,
    data_dir: Path,
    concurrency: int = 4,
    rate: float | None = None,
    cache: bool = True,
    on_item: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every item of a suite; returns the summary (metrics and where the results are stored).

    The summary counts each item's `outcome`; when `complete` is false (see `incomplete`) it
    says why in `incomplete`, lists the items not measured, is stored as `*.incomplete.json`,
    and the caller must not report its figures as a score (`eval run` exits 3).
    """
    from evals.wiring import demo_container, settings

    items = suite_items(suite, split, limit)
    out_dir = data_dir / "evals"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="switchboard-eval-") as tmp:
        work = Path(tmp)
        base = settings(f"sqlite:///{work / 'eval.db'}", work)
        inner, version = model_for(model, items, base)
        cached = CachedModel(
            inner,
            out_dir / "cache.sqlite" if cache else work / "no-cache.sqlite",
            rate=rate,
            version=version,
        )
        c, _ = demo_container(f"sqlite:///{work / 'eval.db'}", work, model=cached)  # type: ignore[arg-type]
        try:
            ticket_ids = await _file_tickets(c, items)
            await _warm(inner)
            if on_start:
                on_start(len(items))
            gate = asyncio.Semaphore(max(1, concurrency))
            owner = f"eval-{uuid.uuid4().hex[:6]}"
            records: list[dict[str, Any] | None] = [None] * len(items)

            async def one(i: int, it: dict[str, Any]) -> None:
                async with gate:
                    try:
                        trace = await _run_item(c, it, ticket_ids, owner)
                    except Exception as exc:  # one broken item is a result, not the end of the run
                        trace = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
                record = {"item": it, "trace": trace, "scores": metrics.score_item(it, trace)}
                records[i] = record
                if on_item:
                    on_item(record)

            await asyncio.gather(*(one(i, it) for i, it in enumerate(items)))
        finally:
            await c.pool.aclose()
            c.db.engine.dispose()
            cached.close()
    done = [r for r in records if r is not None]
    for r in done:
        r["outcome"] = outcome(r["trace"])
    measured = [r for r in done if r["outcome"] in ("finished", "failed")]
    outcomes = {k: sum(1 for r in done if r["outcome"] == k) for k in OUTCOMES}
    why = incomplete(outcomes)
    summary = {
        "suite": suite,
        "model": model,
        "split": split,
        "items": len(done),
        "measured": len(measured),
        "outcomes": outcomes,
        "complete": why is None,
        "limit": limit,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "cache": {
            "hits": sum(1 for x in cached.calls if x.cached),
            "misses": sum(1 for x in cached.calls if not x.cached),
        },
        # Over the measured items only: an item that never reached the model scores nothing.
        "metrics": metrics.summarize(measured, cached.calls),
    }
    if why is not None:
        summary["incomplete"] = why
        summary["not_measured"] = [
            {"id": r["item"].get("id"), "outcome": r["outcome"], "error": r["trace"].get("error")}
            for r in done
            if r["outcome"] not in ("finished", "failed") or outcomes["failed"] == len(done)
        ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    stem = f"{suite}-{model.replace(':', '_').replace('/', '_')}-{split}-{stamp}"
    results = out_dir / f"{stem}.jsonl"
    with results.open("w", encoding="utf-8") as f:
        for r in done:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    summary["results"] = str(results)
    # An incomplete run's summary is kept for the record, under a name `*.summary.json` does
    # not match, so `eval report DIR/evals/*.summary.json` never takes it for a score.
    name = f"{stem}.summary.json" if why is None else f"{stem}.incomplete.json"
    summary["summary"] = str(out_dir / name)
    (out_dir / name).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
