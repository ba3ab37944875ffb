"""`switchboard eval ...`: measure the local classifier on labelled data.

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
    help="Measure the local classifier: accuracy, macro-F1, time per item.", no_args_is_help=True
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
