"""The eval suites: datasets, metrics, the response cache, reports, the CLI, and the CI gate.

The gate runs the `ci` suite (a slice of the tuning split) on the local model
through the real pipelines and the demo's simulators, and fails when a headline
figure falls below evals/baselines/ci.json; the second gate test breaks the local
model's retrieval on purpose and shows the gate catching it.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.llm.base import ModelError, ModelRequest, ModelResponse, Usage
from evals import metrics, report
from evals import runner as runner_module
from evals.cache import CachedModel, request_key
from evals.runner import DATASETS, EvalError, load_dataset, run_suite, suite_items

runner = CliRunner()
TAXONOMY = {t["name"] for t in json.loads(Path("app/llm/local/data/taxonomy.json").read_text())}
ARTICLES = {
    "Refund policy",
    "How to reset your password",
    "Shipping times and tracking your order",
    "Change your billing details",
    "Cancel your Northwind Plus membership",
    "Two-factor authentication: set it up, or get back in without your phone",
    "Download invoices and receipts",
    "Export or delete your personal data",
    "Why was I charged twice?",
    "Returns and exchanges",
}


# --- datasets -------------------------------------------------------------------------------


def test_ticket_datasets_are_large_labelled_and_split() -> None:
    tuning, held = load_dataset("tickets", "tuning"), load_dataset("tickets", "held-out")
    assert len(tuning) + len(held) >= 300 and len(held) >= 100
    for t in tuning + held:
        assert t["category"] in TAXONOMY, t["id"]
        assert t["priority"] in {"low", "normal", "high", "urgent"}
        assert t["article"] is None or t["article"] in ARTICLES, t["article"]
        assert t["actions"] or t["spam"], t["id"]
        assert all(a["operation"] and a["connection"] for a in t["actions"])
    # Held-out texts are written apart: none of them is a tuning text.
    assert not {(t["subject"], t["body"]) for t in held} & {(t["subject"], t["body"]) for t in tuning}
    assert {t["language"] for t in tuning} >= {"en", "de", "fr", "es"}
    assert {a["connection"] for t in tuning for a in t["actions"]} >= {"helpdesk", "payments", "tracker"}


def test_chat_dataset_has_sixty_questions_with_tools_and_facts() -> None:
    rows = load_dataset("chat", "tuning") + load_dataset("chat", "held-out")
    assert len(rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["facts"] for r in rows)
    assert Counter(r["shape"] for r in rows).keys() >= {
        "who_is",
        "ticket_and_payments",
        "cross_match",
        "refund_request",
        "cannot",
    }


def test_unknown_suite_split_and_bad_lines_are_named(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="unknown suite 'nope'"):
        suite_items("nope", "tuning")
    with pytest.raises(EvalError, match="unknown split 'test'"):
        suite_items("tickets", "test")
    (tmp_path / "tickets.tuning.jsonl").write_text('{"id": 1}\n{oops\n')
    with pytest.raises(EvalError, match=r"tickets.tuning.jsonl:2: not JSON"):
        load_dataset("tickets", "tuning", tmp_path)


def test_limit_keeps_each_dataset_in_a_mixed_suite() -> None:
    items = suite_items("ci", "tuning", limit=6)
    assert Counter(i["dataset"] for i in items) == {"tickets": 3, "chat": 3}


def test_limit_runs_exactly_that_many_items() -> None:
    """`--limit 5` on tickets and chat is 3 + 2, not 2 + 2; a share chat cannot fill goes to tickets."""
    everything = suite_items("ci", "tuning")
    assert Counter(i["dataset"] for i in suite_items("ci", "tuning", limit=5)) == {"tickets": 3, "chat": 2}
    assert Counter(i["dataset"] for i in suite_items("ci", "tuning", limit=30)) == {"tickets": 20, "chat": 10}
    for n in range(1, len(everything) + 3):
        items = suite_items("ci", "tuning", limit=n)
        assert len(items) == min(n, len(everything)), n
        assert items == [it for it in everything if it in items], n  # suite order kept


# --- metrics --------------------------------------------------------------------------------


def test_unsupported_claims_are_what_the_reads_never_said() -> None:
    reads = [
        {"result": '{"amount": 12900, "description": "Order NW-48102: blender", "created": "2026-11-29"}'},
        {"result": '[{"html_url": "https://help.northwind.example/hc/articles/1"}]'},
    ]
    draft = (
        "Your order NW-48102 ($129.00, 2026-11-29) is refunded; see "
        "https://help.northwind.example/hc/articles/1. Your other order NW-11111 of $45.00 "
        "ships on 2026-12-24, details at https://evil.example/x."
    )
    assert sorted(metrics.unsupported(draft, reads)) == sorted(
        ["NW-11111", "$45.00", "2026-12-24", "https://evil.example/x"]
    )
    assert metrics.unsupported("Refunds take 5-10 business days.", reads) == []


def test_facts_actions_and_f1() -> None:
    assert metrics.found_facts(
        [["5-10 business days"], ["30 days"]], "It takes 5\u201310 Business days."
    ) == [
        True,
        False,
    ]
    gold: list[dict[str, Any]] = [
        {"connection": "helpdesk", "operation": "add_comment"},
        {"connection": "helpdesk", "operation": "update_ticket", "args": {"priority": "high"}},
        {"connection": "payments", "operation": "create_refund"},
    ]
    pred = [
        {"connection": "helpdesk", "operation": "update_ticket", "arguments": {"priority": "normal"}},
        {"connection": "helpdesk", "operation": "add_comment", "arguments": {"body": "hi"}},
    ]
    assert metrics.match_actions(gold, pred) == 1  # a priority other than the gold one does not count
    f1, per = metrics.macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert per["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert f1 == pytest.approx((0.6667 + 0.8) / 2, abs=1e-4)
    cal = metrics.calibration([0.95, 0.95, 0.55, 0.55], [True, False, True, True])
    assert cal["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert metrics.percentile([1, 2, 3, 4, 100], 0.5) == 3


# --- the cache ------------------------------------------------------------------------------


class Counting:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        return ModelResponse(content=f"answer {self.calls}", usage=Usage(input_tokens=3, output_tokens=2))


async def test_cache_answers_a_repeated_request_without_the_model(tmp_path: Path) -> None:
    inner = Counting()
    first = CachedModel(inner, tmp_path / "cache.sqlite", version="v1")  # type: ignore[arg-type]
    req = ModelRequest(system="s", messages=[], variables={"created_at": "2026-12-03T08:00:00Z"})
    a = await first.complete(req)
    # Same request another day (times are masked): answered from the file by a new process.
    again = CachedModel(inner, tmp_path / "cache.sqlite", version="v1")  # type: ignore[arg-type]
    b = await again.complete(req.model_copy(update={"variables": {"created_at": "2027-01-05T10:11:12Z"}}))
    assert inner.calls == 1 and a.content == b.content == "answer 1"
    assert [c.cached for c in again.calls] == [True]
    other = CachedModel(inner, tmp_path / "cache.sqlite", version="v2")  # type: ignore[arg-type]
    await other.complete(req)  # a changed engine never gets its earlier self's answers
    assert inner.calls == 2
    assert request_key("m", req) != request_key("m", req.model_copy(update={"system": "t"}))


async def test_a_rerun_costs_nothing_and_scores_the_same(tmp_path: Path) -> None:
    first = await run_suite("ci", model="scripted", limit=6, data_dir=tmp_path)
    again = await run_suite("ci", model="scripted", limit=6, data_dir=tmp_path)
    assert first["complete"] and first["outcomes"]["finished"] == first["measured"] == 6
    assert Path(first["summary"]).name.endswith(".summary.json") and "incomplete" not in first
    assert first["cache"]["misses"] > 0 and again["cache"] == {"hits": first["cache"]["misses"], "misses": 0}
    assert again["metrics"]["tickets"] == first["metrics"]["tickets"]
    stored = [json.loads(line) for line in Path(again["results"]).read_text().splitlines()]
    assert len(stored) == 6 and all({"item", "trace", "scores"} <= r.keys() for r in stored)


# --- runs that did not measure the model ----------------------------------------------------


class _FailsOnce:
    """The scripted model, but its first call is unreachable (the run goes back to the queue)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.failed = inner, inner.name, False

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if not self.failed:
            self.failed = True
            raise ModelError("scripted: could not reach the model", retryable=True)
        return cast(ModelResponse, await self.inner.complete(request))


class _KeyRefused:
    name = "refused"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        raise ModelError("refused: 401 invalid API key")


async def test_an_item_that_did_not_finish_is_counted_left_out_and_not_a_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner_module.model_for
    monkeypatch.setattr(
        runner_module,
        "model_for",
        lambda spec, items, s: (_FailsOnce(real(spec, items, s)[0]), "v-fails-once"),
    )
    summary = await run_suite("tickets", model="scripted", limit=4, data_dir=tmp_path, concurrency=1)
    assert summary["outcomes"] == {"finished": 3, "failed": 0, "unfinished": 1, "errored": 0}
    assert summary["complete"] is False and summary["measured"] == 3 and summary["items"] == 4
    assert summary["incomplete"] == "1 of 4 items not measured (1 did not finish)"
    assert summary["metrics"]["tickets"]["items"] == 3  # the figures leave the unmeasured item out
    (lost,) = summary["not_measured"]
    assert lost["outcome"] == "unfinished" and "could not reach the model" in lost["error"]
    # Kept for the record, where `eval report DIR/evals/*.summary.json` does not pick it up.
    assert Path(summary["summary"]).name.endswith(".incomplete.json")
    assert not list((tmp_path / "evals").glob("*.summary.json"))
    stored = [json.loads(line) for line in Path(summary["results"]).read_text().splitlines()]
    assert sorted(r["outcome"] for r in stored) == ["finished"] * 3 + ["unfinished"]
    with pytest.raises(ValueError, match="not a score: 1 of 4 items not measured"):
        report.merge([summary])
    with pytest.raises(ValueError, match="no baseline"):
        report.baseline_from(summary)


async def test_a_run_whose_every_item_failed_is_not_a_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "model_for", lambda spec, items, s: (_KeyRefused(), "v-refused"))
    summary = await run_suite("chat", model="refused", limit=2, data_dir=tmp_path)
    assert summary["outcomes"] == {"finished": 0, "failed": 2, "unfinished": 0, "errored": 0}
    assert summary["complete"] is False and summary["incomplete"] == "all 2 items failed"
    assert all("invalid API key" in x["error"] for x in summary["not_measured"])


def test_eval_run_against_an_unreachable_model_exits_3_and_report_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `eval run --model openai:llama3.1` with nothing listening at OPENAI_BASE_URL."""
    with socket.socket() as s:  # a loopback port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    args = ["eval", "run", "--suite", "tickets", "--model", "openai:llama3.1", "--split", "held-out"]
    result = runner.invoke(app, [*args, "--limit", "1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "0 finished, 0 failed, 1 did not finish, 0 errored" in result.stdout
    assert "0.000" not in result.stdout  # no table of zeros for a model that never answered
    assert "not a score: 1 of 1 items not measured (1 did not finish)" in result.stderr
    assert f"could not reach http://127.0.0.1:{port}/v1" in result.stderr
    assert not list((tmp_path / "evals").glob("*.summary.json"))
    (kept,) = (tmp_path / "evals").glob("*.incomplete.json")
    refused = runner.invoke(app, ["eval", "report", str(kept), "--out", str(tmp_path / "report")])
    assert refused.exit_code == 2 and "is not a score (1 of 1 items not measured" in refused.output
    assert not (tmp_path / "report").exists()


# --- reports --------------------------------------------------------------------------------


def _summary(model: str, accuracy: float, hit: float) -> dict[str, Any]:
    return {
        "suite": "ci",
        "model": model,
        "split": "tuning",
        "items": 10,
        "metrics": {
            "tickets": {
                "category_accuracy": accuracy,
                "article_hit_rate": hit,
                "unsupported_claim_rate": 0.0,
                "confusion": {"billing": {"billing": 3, "refund": 1}, "refund": {"refund": 2}},
            },
            "cost": {"tokens_per_item": 10.0, "item_ms_p50": 5.0},
        },
    }


def test_report_puts_models_side_by_side_with_charts_and_the_baseline(tmp_path: Path) -> None:
    local, scripted = _summary("local", 0.8, 0.7), _summary("scripted", 1.0, 0.9)
    base = report.baseline_from(_summary("local", 0.75, 0.8))
    written = report.write_report(tmp_path, "Evals", [local, scripted], base)
    md = written["markdown"].read_text()
    assert "| category accuracy | 0.800 | 1.000 | 0.750 | +0.050 |" in md
    assert "| article hit rate | 0.700 | 0.900 | 0.800 | -0.100 |" in md
    assert "![headlines.svg](headlines.svg)" in md and (tmp_path / "headlines.svg").exists()
    page = written["html"].read_text()
    assert page.count("<svg") == 3 and "<script" not in page  # headlines + two confusion matrices


def test_gate_names_each_figure_that_fell() -> None:
    base = report.baseline_from(_summary("local", 0.8, 0.8))
    assert report.regressions(_summary("local", 0.79, 0.8), base) == []  # within tolerance
    worse = _summary("local", 0.8, 0.6)
    worse["metrics"]["tickets"]["unsupported_claim_rate"] = 0.2  # lower is better here
    assert report.regressions(worse, base) == [
        "tickets.article_hit_rate: 0.600, baseline 0.800",
        "tickets.unsupported_claim_rate: 0.200, baseline 0.000",
    ]


# --- the CLI --------------------------------------------------------------------------------


def test_eval_run_cli_prints_figures_and_stores_results(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            "--suite",
            "chat",
            "--model",
            "scripted",
            "--limit",
            "3",
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["items"] == 3 and summary["metrics"]["chat"]["items"] == 3
    assert list((tmp_path / "evals").glob("chat-scripted-tuning-*.summary.json"))
    bad = runner.invoke(app, ["eval", "run", "--suite", "nope", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown suite 'nope'" in bad.output


# --- the CI gate ----------------------------------------------------------------------------


async def test_ci_suite_on_the_local_model_holds_the_baseline(tmp_path: Path) -> None:
    baseline = report.load_baseline("ci")
    assert baseline is not None and baseline["model"] == "local"
    summary = await run_suite("ci", model="local", data_dir=tmp_path, cache=False)
    assert summary["items"] == baseline["items"]
    assert report.regressions(summary, baseline) == []


async def test_ci_gate_fails_when_retrieval_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberate regression: the draft step ranks articles backwards."""
    from app.llm.local import drafts

    real = drafts.rank_articles
    monkeypatch.setattr(drafts, "rank_articles", lambda q, a, *k, **kw: list(reversed(real(q, a, *k, **kw))))
    baseline = report.load_baseline("ci")
    assert baseline is not None
    summary = await run_suite("ci", model="local", data_dir=tmp_path, cache=False)
    failures = report.regressions(summary, baseline)
    assert any(f.startswith("tickets.article_hit_rate") for f in failures), failures


def test_datasets_are_what_the_composer_writes(tmp_path: Path) -> None:
    from evals.datasets.compose import write_all

    write_all(tmp_path)
    for path in sorted(tmp_path.glob("*.jsonl")):
        assert path.read_text() == (DATASETS / path.name).read_text(), path.name
