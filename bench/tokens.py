"""Prompt tokens of a chat turn: the help desk's tools alone vs every demo tool, all or selected.

For each question of the chat suite (evals/datasets/chat.*.jsonl) the first model request of
the turn is built as the chat pipeline builds it (prompt, question, offered tools) and counted
with the offline tokenizer. Rows: the help desk's tools sent whole (a small installation), every
demo tool sent whole (what a turn cost before tools were chosen), and every demo tool with the
turn's selection (the few it may need plus search_tools). Accuracy columns: how often the tools a
correct answer needs were all offered, and how often the local model's first step called only
needed tools (or search_tools to find them).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.llm.base import ModelRequest, ToolSpec
from app.llm.local import LocalModel
from app.llm.prompts import default_library
from app.llm.tokens import count_message_tokens
from app.services.chat import offer, offered_names
from bench.report import Options, Section
from tools.base import Tool
from tools.selection import SEARCH_TOOL

DATASETS = Path(__file__).resolve().parent.parent / "evals" / "datasets"
TARGET_RATIO = 1.2


def questions() -> list[dict[str, Any]]:
    """Both splits, each item with its `split`: the selection's accuracy is also reported on the
    held-out part alone, which nothing (its keywords, its thresholds) was tuned on."""
    items = []
    for split in ("tuning", "held-out"):
        with (DATASETS / f"chat.{split}.jsonl").open(encoding="utf-8") as f:
            items += [{**json.loads(line), "split": split} for line in f if line.strip()]
    return items


def demo_tools(workdir: Path) -> list[Tool]:
    """Every tool of the demo's connections (an operator's: reads and writes)."""
    from evals.wiring import demo_container

    workdir.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(dir=workdir))
    container, _ = demo_container(f"sqlite:///{data}/tokens.db", data)
    return list(container.pool.catalogue())


def request(message: str, tools: list[Tool]) -> ModelRequest:
    base = default_library().request("chat", {"message": message})
    specs = [ToolSpec(name=t.name, description=t.description, input_schema=t.input_schema) for t in tools]
    return base.model_copy(update={"tools": specs})


def first_step_right(model: LocalModel, req: ModelRequest, needed: set[str]) -> bool:
    """The local model's first step calls only needed tools (or searches for them); none when none are."""
    called = {c.name for c in model._respond(req).tool_calls}
    if not needed:
        return not (called - {SEARCH_TOOL})
    return bool(called) and called <= needed | {SEARCH_TOOL}


def measure(
    items: list[dict[str, Any]], choose: Callable[[str], list[Tool]], model: LocalModel
) -> dict[str, float]:
    tokens, offered, covered, right = [], [], 0, 0
    for it in items:
        tools = choose(it["question"])
        req = request(it["question"], tools)
        needed = set(it["tools"])
        tokens.append(count_message_tokens(req))
        offered.append(len(tools))
        covered += needed <= {t.name for t in tools}
        right += first_step_right(model, req, needed)
    return {
        "tokens": statistics.mean(tokens),
        "max": max(tokens),
        "offered": statistics.mean(offered),
        "covered": covered / len(items),
        "right": right / len(items),
    }


def run(options: Options) -> Section:
    items = questions()
    everything = demo_tools(options.workdir)
    helpdesk = [t for t in everything if t.connection == "helpdesk"]
    model = LocalModel()

    def selected(pool: list[Tool]) -> Callable[[str], list[Tool]]:
        def choose(message: str) -> list[Tool]:
            return offer(pool, offered_names(pool, message, [])).tools()

        return choose

    rows = {
        f"help desk only, all {len(helpdesk)} sent": measure(items, lambda _: helpdesk, model),
        f"all {len(everything)} demo tools sent": measure(items, lambda _: everything, model),
        f"all {len(everything)} demo tools, selected": measure(items, selected(everything), model),
    }
    held_out = [it for it in items if it["split"] == "held-out"]
    rows[f"the same, held-out questions only ({len(held_out)})"] = measure(
        held_out, selected(everything), model
    )
    base = next(iter(rows.values()))["tokens"]
    section = Section(
        "tokens: prompt tokens of a chat turn's first model call",
        [
            "tools",
            "offered",
            "mean tokens",
            "max tokens",
            "× help desk",
            "needed offered",
            "first step right",
        ],
    )
    for name, m in rows.items():
        section.rows.append(
            [
                name,
                f"{m['offered']:.1f}",
                f"{m['tokens']:.0f}",
                f"{m['max']:.0f}",
                f"{m['tokens'] / base:.2f}",
                f"{m['covered']:.0%}",
                f"{m['right']:.0%}",
            ]
        )
    ratio = rows[f"all {len(everything)} demo tools, selected"]["tokens"] / base
    section.notes += [
        f"{len(items)} chat questions (tuning and held-out); tokens counted offline (cl100k), as "
        "app/llm/tokens.count_message_tokens does: system, question, tool names, descriptions and schemas",
        f"selected / help desk = {ratio:.2f} (target at most {TARGET_RATIO})"
        + (" — met" if ratio <= TARGET_RATIO else " — NOT met"),
        "needed offered: the question's needed tools (dataset) all among those offered at the first call; "
        "the rest are found with search_tools",
    ]
    return section
