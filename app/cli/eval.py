"""`switchboard eval ...`: run eval suites and reports, and measure the local classifier on labelled data.

Kept apart from main.py so the evals (and, with the extra installed, torch) are
imported only when someone runs an eval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

eval_app = typer.Typer(
    help="Measure models: suites over the demo's systems (run, report), the local classifier (classify, banking77).",
    no_args_is_help=True,
)

console = Console()
err = Console(stderr=True)

MODEL_HELP = (
    "local (the best installed: local-hybrid with the embeddings extra, else local-tfidf), "
    "local-tfidf, local-embeddings, local-hybrid (TF-IDF and embeddings together)"
)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _report(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        # print, not console.print: exactly one JSON object, never wrapped or styled.
        print(json.dumps(result, sort_keys=True))
        return
    table = Table(title=title, show_header=False)
    table.add_row("model", f"{result['model']} ({result['features']} features)")
    table.add_row("trained on", f"{result['train_items']} items, {result['labels']} labels")
    table.add_row("accuracy", f"{result['accuracy']:.4f}")
    table.add_row("macro-F1", f"{result['macro_f1']:.4f}")
    gap = result["mean_confidence"] - result["accuracy"]
    table.add_row("mean confidence", f"{result['mean_confidence']:.4f} ({gap:+.4f} against accuracy)")
    table.add_row("test items", str(result["items"]))
    table.add_row("ms per item, batched", f"{result['seconds_per_item'] * 1000:.2f}")
    table.add_row(
        "ms per item, one at a time",
        f"{result['single_item_seconds'] * 1000:.2f} mean, {result['single_item_p95_seconds'] * 1000:.2f} p95 "
        f"(over {result['latency_sample']})",
    )
    table.add_row("model load, s", f"{result['load_seconds']:.2f}")
    table.add_row("training, s", f"{result['train_seconds']:.2f}")
    console.print(table)
    if result["unseen_test_labels"]:
        err.print(
            f"[yellow]note:[/yellow] {len(result['unseen_test_labels'])} test labels never occur in training "
            f"(they count as errors): {escape(', '.join(result['unseen_test_labels'][:10]))}",
            highlight=False,
        )


def _run(train: Any, test: Any, model: str, latency_sample: int) -> dict[str, Any]:
    from evals.classify import evaluate

    try:
        return evaluate(train, test, model, latency_sample=latency_sample)
    except (ValueError, RuntimeError) as exc:  # bad input, or the extra installed but unusable
        _fail(str(exc))
        raise  # unreachable: _fail exits


@eval_app.command("classify")
def classify(
    train: Path = typer.Option(..., "--train", help="CSV with `text` and `category` columns to train on"),
    test: Path = typer.Option(..., "--test", help="CSV with `text` and `category` columns to score"),
    model: str = typer.Option("local", "--model", help=MODEL_HELP),
    latency_sample: int = typer.Option(200, "--latency-sample", help="items timed one at a time"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Train on one labelled CSV, score on another."""
    from evals.classify import DatasetError, load_csv

    try:
        train_set, test_set = load_csv(train), load_csv(test)
    except DatasetError as exc:
        _fail(str(exc))
        return
    _report(_run(train_set, test_set, model, latency_sample), as_json, f"{train.name} -> {test.name}")


@eval_app.command("banking77")
def banking77(
    per_intent: int | None = typer.Option(
        None, "--per-intent", min=1, help="train on only N examples per intent (few-shot)"
    ),
    model: str = typer.Option("local", "--model", help=MODEL_HELP),
    intents: int | None = typer.Option(
        None, "--intents", min=2, max=77, help="only the first N intents (a quicker, easier task)"
    ),
    seed: int = typer.Option(0, "--seed", help="the hold-out; reported figures use 0"),
    latency_sample: int = typer.Option(200, "--latency-sample", help="items timed one at a time"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="folder with BANKING77's train.csv and categories.json "
        "(default: $SWITCHBOARD_BANKING77, else ../shared/data/banking77)",
    ),
) -> None:
    """BANKING77: hold out a stratified 20% of its training split, train on the rest (or N per intent)."""
    from evals.classify import DatasetError, banking77_split

    try:
        train_set, test_set = banking77_split(per_intent, intents=intents, seed=seed, data_dir=data)
    except DatasetError as exc:
        _fail(str(exc))
        return
    result = _run(train_set, test_set, model, latency_sample)
    result.update(dataset="banking77", per_intent=per_intent, intents=result["labels"], seed=seed)
    shots = f"{per_intent} per intent" if per_intent else "full training part"
    _report(result, as_json, f"BANKING77, {shots}, 20% hold-out (seed {seed})")


@eval_app.command("run")
def run(
    suite: str = typer.Option(
        ..., "--suite", help="tickets, chat, finance, or ci (a fast slice of tickets and chat)"
    ),
    model: str = typer.Option(
        "local",
        "--model",
        help="local (or local-tfidf, local-embeddings, local-hybrid), scripted (the gold answers played "
        "through the pipeline: the ceiling), anthropic:MODEL, openai:MODEL",
    ),
    split: str = typer.Option("tuning", "--split", help="tuning, or held-out (never tuned on)"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N items"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="items in flight at once"),
    rate: float | None = typer.Option(
        None, "--rate", min=0.01, help="at most this many model calls a second (cache hits are free)"
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="ask the model again even for requests seen before"
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="where results and the response cache go (default: SWITCHBOARD_DATA_DIR)"
    ),
    check: bool = typer.Option(
        False, "--check", help="exit 1 if a headline figure is below evals/baselines/SUITE.json"
    ),
    write_baseline: bool = typer.Option(
        False, "--write-baseline", help="store this run's figures as evals/baselines/SUITE.json"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON object"),
) -> None:
    """Run a suite through the real pipelines against the demo's systems, in-process; store every result.

    Exits 3 when the figures are not a score: an item did not finish (the model unreachable
    or rate limited) or errored, or every item failed. The summary then says so and is kept
    as *.incomplete.json, which `eval report` refuses.
    """
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.config import Settings
    from evals import report
    from evals.runner import EvalError, run_suite

    folder = data_dir or Settings().data_dir
    with Progress(
        TextColumn(f"[bold]{escape(suite)}[/bold] · {escape(model)} · {escape(split)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        task = progress.add_task("items", total=None)
        try:
            summary = asyncio.run(
                run_suite(
                    suite,
                    model=model,
                    split=split,
                    limit=limit,
                    data_dir=folder,
                    concurrency=concurrency,
                    rate=rate,
                    cache=not no_cache,
                    on_start=lambda n: progress.update(task, total=n),
                    on_item=lambda _: progress.advance(task),
                )
            )
        except (EvalError, ValueError) as exc:
            _fail(str(exc))
            return
    baseline = report.load_baseline(suite)
    why = report.not_a_score(summary)
    if write_baseline and why is not None:
        err.print(f"[red]no baseline written:[/red] {escape(why)}", highlight=False, soft_wrap=True)
    elif write_baseline:
        report.BASELINES.mkdir(parents=True, exist_ok=True)
        path = report.BASELINES / f"{suite}.json"
        path.write_text(json.dumps(report.baseline_from(summary), indent=2, sort_keys=True) + "\n")
        err.print(f"baseline written to {path}")
    if as_json:
        print(json.dumps(summary, sort_keys=True))
    else:
        measured = "" if why is None else f", {summary['measured']} measured"
        table = Table(title=f"{suite} · {model} · {split} ({summary['items']} items{measured})")
        table.add_column("figure")
        table.add_column("value", justify="right")
        if baseline:
            table.add_column("baseline", justify="right")
        for section, key, label, _ in report.HEADLINES:
            v = report.value(summary, section, key)
            if v is None:
                continue
            row = [label, f"{v:.3f}"]
            if baseline:
                row.append(report.fmt((baseline.get("figures") or {}).get(f"{section}.{key}")))
            table.add_row(*row)
        cost = summary["metrics"].get("cost", {})
        for key, label in report.COSTS:
            table.add_row(label, report.fmt(cost.get(key), 2), *([""] if baseline else []))
        console.print(table)
        outcomes = summary["outcomes"]
        console.print(
            f"items: {outcomes['finished']} finished, {outcomes['failed']} failed, "
            f"{outcomes['unfinished']} did not finish, {outcomes['errored']} errored · "
            f"cache: {summary['cache']['hits']} hits, {summary['cache']['misses']} calls made · "
            f"results: {summary['results']}",
            highlight=False,
            soft_wrap=True,
        )
    if why is not None:
        # Not a score: say so on stderr and exit 3 (1 is "below baseline", 2 bad input).
        errors = [x["error"] for x in summary.get("not_measured", []) if x.get("error")]
        err.print(
            f"[red]error:[/red] not a score: {escape(why)}"
            + (f"; first error: {escape(str(errors[0])[:300].rstrip('.'))}" if errors else "")
            + f". The summary is kept as {escape(summary['summary'])}; `eval report` refuses it.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(3)
    if check and baseline and not write_baseline:
        failures = report.regressions(summary, baseline)
        for f in failures:
            err.print(f"[red]below baseline:[/red] {escape(f)}", highlight=False)
        if failures:
            raise typer.Exit(1)


@eval_app.command("report")
def report_cmd(
    summaries: list[Path] = typer.Argument(..., help="*.summary.json files written by `eval run`"),
    out: Path = typer.Option(
        Path("docs/evals"), "--out", help="folder for report.md, report.html and charts"
    ),
    title: str = typer.Option("Switchboard evaluation", "--title"),
    baseline: str | None = typer.Option(None, "--baseline", help="compare with evals/baselines/NAME.json"),
    notes: Path | None = typer.Option(None, "--notes", help="a Markdown file to put above the tables"),
) -> None:
    """Several runs side by side (runs of one model and split are merged across suites)."""
    from evals import report

    loaded = []
    for path in summaries:
        try:
            loaded.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            _fail(f"{path}: {exc}")
        if (why := report.not_a_score(loaded[-1])) is not None:
            _fail(f"{path} is not a score ({why}); run the eval again once every item can finish")
    base = report.load_baseline(baseline) if baseline else None
    if baseline and base is None:
        _fail(f"no baseline {report.BASELINES / (baseline + '.json')}")
    written = report.write_report(
        out, title, report.merge(loaded), base, notes.read_text(encoding="utf-8") if notes else ""
    )
    console.print(f"wrote {written['markdown']} and {written['html']}", highlight=False)


@eval_app.command("decisions")
def decisions_cmd(
    days: int | None = typer.Option(None, "--days", min=1, help="only proposals of the last N days"),
    by: str = typer.Option("operation", "--by", help="operation, category or model"),
    as_json: bool = typer.Option(False, "--json", help="print every grouping as one JSON object"),
) -> None:
    """What people did with proposed writes: approval, edit and rejection rates, edit distance, time."""
    from app.cli.main import _container  # main imports this module: at call time, not before
    from app.services.decisions import decision_stats

    if by not in ("operation", "category", "model"):
        _fail(f"--by must be operation, category or model, not {by!r}")
    stats = decision_stats(_container().db, days=days)
    if as_json:
        print(json.dumps(stats, sort_keys=True))
        return
    table = Table(title=f"Decisions by {by}")
    for col in ("", "proposed", "approved", "edited", "rejected", "mean edit", "median minutes"):
        table.add_column(col, justify="left" if not col else "right")

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.0%}"

    rows = [("all", stats["overall"]), *stats[by].items()]
    for key, g in rows:
        table.add_row(
            escape(str(key)),
            str(g["proposed"]),
            pct(g["approval_rate"]),
            pct(g["edit_rate"]),
            pct(g["rejection_rate"]),
            "–" if g["mean_edit_distance"] is None else str(g["mean_edit_distance"]),
            "–" if g["median_minutes_to_decision"] is None else str(g["median_minutes_to_decision"]),
        )
    console.print(table)
