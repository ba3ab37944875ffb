"""The classification eval: CSV loading, metrics, splits, and `switchboard eval` end to end (no torch)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner

from app.cli.main import app
from evals.classify import (
    BANKING77_ENV,
    DatasetError,
    accuracy,
    banking77_intents,
    banking77_split,
    find_banking77,
    load_csv,
    macro_f1,
    per_label_sample,
    stratified_split,
)
from tests.evals.conftest import PER_INTENT, write_banking_like

runner = CliRunner()
KEYS = {"accuracy", "macro_f1", "items", "seconds_per_item"}


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        w.writerows(rows)
    return path


# -- loading ------------------------------------------------------------------


def test_load_csv_reads_text_and_category_ignoring_other_columns_bom_and_blank_lines(tmp_path: Path) -> None:
    p = write(
        tmp_path / "ok.csv", '\ufeffid,category,text\n1,card,  Where is my card? \n\n2,pin,"PIN, blocked"\n'
    )
    data = load_csv(p)
    assert data.texts == ["Where is my card?", "PIN, blocked"]
    assert data.labels == ["card", "pin"]
    assert data.source == str(p)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("text,label\nhello,a\n", "missing column 'category' in the header (found: 'text', 'label')"),
        ("body,label\nhello,a\n", "missing columns 'text', 'category'"),
        ("text,category\n", "no rows after the header"),
        ("text,category\nfine,a\n,b\n", "line 3: empty 'text'"),
        ("text,category\nfine,a\nno label,  \n", "line 3: empty 'category'"),
        ("text,category\nfine,a\nsee, this, breaks,b\n", "line 3: 4 fields where the header has 2"),
        ('text,category\nfine,a\n"open quote,b\n', "line"),
    ],
)
def test_load_csv_errors_name_the_file_and_the_column_or_line(
    tmp_path: Path, content: str, expected: str
) -> None:
    p = write(tmp_path / "bad.csv", content)
    with pytest.raises(DatasetError) as info:
        load_csv(p)
    assert str(info.value).startswith(str(p))
    assert expected in str(info.value)


def test_load_csv_rejects_a_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_csv(tmp_path / "nope.csv")
    p = write(tmp_path / "latin1.csv", "text,category\ncafé crème,a\n", encoding="latin-1")
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_csv(p)


# -- metrics --------------------------------------------------------------------


def test_metrics_match_sklearn_including_labels_only_predicted() -> None:
    truth = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d"]
    pred = ["a", "b", "a", "b", "c", "c", "c", "a", "e", "d"]  # "e" is never true
    assert accuracy(truth, pred) == pytest.approx(accuracy_score(truth, pred))
    assert macro_f1(truth, pred) == pytest.approx(f1_score(truth, pred, average="macro"))
    assert macro_f1(["x", "y"], ["x", "y"]) == 1.0
    assert accuracy(["x", "y"], ["y", "x"]) == 0.0


def test_metrics_refuse_mismatched_or_empty_input() -> None:
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no items"):
        macro_f1([], [])


# -- splits ---------------------------------------------------------------------


def test_stratified_split_is_reproducible_disjoint_and_per_label() -> None:
    labels = ["a"] * 50 + ["b"] * 10 + ["c"] * 1
    train, test = stratified_split(labels, 0.2, seed=0)
    assert (train, test) == stratified_split(labels, 0.2, seed=0)
    assert stratified_split(labels, 0.2, seed=1) != (train, test)
    assert sorted(train + test) == list(range(len(labels)))
    assert [labels[i] for i in test].count("a") == 10
    assert [labels[i] for i in test].count("b") == 2
    assert 60 in train  # a lone example is kept for training
    few = per_label_sample(labels, train, 3, seed=0)
    assert [labels[i] for i in few].count("a") == 3 and [labels[i] for i in few].count("c") == 1
    assert set(few) <= set(train)


def test_banking77_split_is_stratified_and_the_same_hold_out_at_every_size(banking_dir: Path) -> None:
    data = load_csv(banking_dir / "train.csv")
    intents = banking77_intents(banking_dir)
    total = len(intents) * PER_INTENT
    assert len(data) == total and set(data.labels) == set(intents)
    train, test = banking77_split(data_dir=banking_dir)
    assert len(train) + len(test) == total and 0.19 < len(test) / total < 0.21
    assert all(test.labels.count(i) == PER_INTENT // 5 for i in intents)  # 20% of each intent
    few, test_again = banking77_split(10, data_dir=banking_dir)
    assert len(few) == 10 * len(intents) and test_again.texts == test.texts  # the same hold-out either way
    small, small_test = banking77_split(20, intents=8, data_dir=banking_dir)
    assert len(small) == 160 and set(small_test.labels) == set(intents[:8])


def test_banking77_is_found_in_shared_data_or_named_and_never_guessed(
    banking_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(BANKING77_ENV, raising=False)
    monkeypatch.setattr("evals.classify.BANKING77_PLACES", (Path("../shared/data/banking77"),))
    with pytest.raises(
        DatasetError, match=r"no BANKING77 data .* pass --data DIR or set SWITCHBOARD_BANKING77"
    ):
        find_banking77()
    shared = tmp_path.parent / "shared" / "data" / "banking77"
    write_banking_like(shared)
    assert find_banking77().resolve() == shared.resolve()
    monkeypatch.setenv(BANKING77_ENV, str(banking_dir))
    assert find_banking77() == banking_dir
    result = runner.invoke(app, ["eval", "banking77", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no BANKING77 data" in result.stderr


# -- the command ----------------------------------------------------------------


def _json(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output  # exactly one JSON object, nothing else on stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def test_eval_banking77_on_a_slice_reports_metrics_as_one_json_object(banking_dir: Path) -> None:
    args = ["eval", "banking77", "--intents", "8", "--per-intent", "20", "--model", "local-tfidf", "--json"]
    result = runner.invoke(app, [*args, "--data", str(banking_dir)])
    assert result.exit_code == 0, result.output
    out = _json(result.stdout)
    assert out.keys() >= KEYS
    assert out["features"] == "tfidf" and out["train_items"] == 160 and out["labels"] == 8
    assert out["items"] == 8 * PER_INTENT // 5
    assert out["accuracy"] >= 0.75 and out["macro_f1"] >= 0.7
    assert 0 < out["seconds_per_item"] < 0.5 and 0 < out["single_item_seconds"] < 0.5


def test_eval_classify_trains_on_one_csv_and_scores_another(tmp_path: Path, banking_dir: Path) -> None:
    train, test = banking77_split(15, intents=12, data_dir=banking_dir)
    train_csv = write_rows(tmp_path / "train.csv", list(zip(train.texts, train.labels, strict=True)))
    test_csv = write_rows(tmp_path / "test.csv", list(zip(test.texts, test.labels, strict=True))[:60])
    args = ["eval", "classify", "--train", str(train_csv), "--test", str(test_csv), "--model", "local-tfidf"]
    result = runner.invoke(app, [*args, "--json", "--latency-sample", "20"])
    assert result.exit_code == 0, result.output
    out = _json(result.stdout)
    assert out["items"] == 60 and out["latency_sample"] == 20 and out["accuracy"] >= 0.7

    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "macro-F1" in table.stdout and "ms per item" in table.stdout


def test_eval_classify_names_the_bad_file_and_line(tmp_path: Path) -> None:
    good = write_rows(tmp_path / "good.csv", [("where is my card", "card"), ("pin blocked", "pin")])
    bad = write(tmp_path / "bad.csv", "text,category\nok,card\n,pin\n")
    result = runner.invoke(app, ["eval", "classify", "--train", str(good), "--test", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}, line 3: empty 'text'" in result.stderr
    result = runner.invoke(
        app, ["eval", "classify", "--train", str(good), "--test", str(good), "--model", "gpt-9"]
    )
    assert result.exit_code == 2 and "unknown model 'gpt-9'" in result.stderr
