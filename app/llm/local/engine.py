"""The offline `local` model: triage and simple chat with no key and no network.

It implements the same narrow `Model` interface as the hosted adapters, but
instead of parsing rendered prose it reads `request.variables` and dispatches
on the prompt name ("triage/classify@v1" -> "triage/classify"):

- triage/classify: TF-IDF + logistic regression trained on shipped examples
  and people's corrections, with rule-based priority/sentiment/language;
- triage/draft: retrieval-grounded template replies;
- triage/act and chat: rule-based tool plans.

Classifiers are trained lazily, once per taxonomy, and retrained only when
corrections arrive (reusing the calibration temperature, so a retrain is one
fit: well under a second for a few hundred examples).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.llm.base import ModelRequest, ModelResponse, Usage
from app.llm.local import finance, heuristics, workflows
from app.llm.local.classifier import TextClassifier
from app.llm.local.drafts import compose_reply
from app.llm.local.planner import plan_act, plan_chat
from app.llm.local.replies import with_gloss
from app.llm.local.spam import is_spam

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Example:
    """One labelled text: a shipped example or a person's correction."""

    text: str
    category: str


ExampleLike = Example | Mapping[str, Any] | tuple[str, str]


def to_example(item: ExampleLike) -> Example:
    """Accept an Example, a {"text", "category"} mapping or a (text, category) pair."""
    if isinstance(item, Example):
        return item
    if isinstance(item, Mapping):
        return Example(str(item["text"]), str(item["category"]))
    text, category = item
    return Example(str(text), str(category))


def load_shipped_examples(path: Path | None = None) -> list[Example]:
    """The labelled support tickets shipped with the package (columns text,category)."""
    with (path or DATA_DIR / "support_tickets.csv").open(encoding="utf-8", newline="") as f:
        return [Example(row["text"], row["category"]) for row in csv.DictReader(f) if row.get("text")]


def load_default_taxonomy() -> list[dict[str, str]]:
    """The default support categories with descriptions."""
    data = json.loads((DATA_DIR / "taxonomy.json").read_text(encoding="utf-8"))
    return [{"name": str(t["name"]), "description": str(t.get("description", ""))} for t in data]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def count_tokens(text: str) -> int:
    """Rough token count (4 characters a token); the tiktoken counter lives elsewhere."""
    return max(1, len(text) // 4)


def ticket_text(ticket: Mapping[str, Any]) -> str:
    """What the classifier reads: subject and body."""
    return f"{ticket.get('subject') or ''}\n{ticket.get('body') or ''}".strip()


def _structured(output: dict[str, Any]) -> ModelResponse:
    """A structured answer: the output, and the same as JSON text."""
    return ModelResponse(output=output, content=json.dumps(output, default=str))


@dataclass
class _Trained:
    version: int
    classifier: TextClassifier


UNKNOWN_PROMPT_REPLY = (
    "The local engine handles ticket triage (classify, draft, act) and simple chat "
    "(look up tickets and knowledge-base articles). It cannot answer the prompt {prompt!r}; "
    "configure a hosted model (SWITCHBOARD_MODEL=anthropic:MODEL or openai:MODEL) for that."
)


class LocalModel:
    """A `Model` that runs entirely in-process.

    `examples` are extra labelled examples (typically stored corrections) trained
    on top of the shipped set, weighted like corrections. `base_examples`
    replaces the shipped set itself (None: load app/llm/local/data/support_tickets.csv).
    """

    name = "local"

    def __init__(
        self,
        examples: Sequence[ExampleLike] | None = None,
        review_threshold: float = 0.55,
        *,
        base_examples: Sequence[ExampleLike] | None = None,
        correction_weight: float = 5.0,
        anchor_similarity: float = 0.85,
        features: str = "tfidf",
    ):
        # "tfidf" (no extra needed), "embeddings", "hybrid", or "auto": hybrid when the
        # embeddings extra is installed. See evals/README.md for what each buys.
        self.features = features
        self.review_threshold = review_threshold
        self.correction_weight = correction_weight
        self.anchor_similarity = anchor_similarity
        self._base = (
            [to_example(e) for e in base_examples] if base_examples is not None else load_shipped_examples()
        )
        self.default_taxonomy = load_default_taxonomy()
        # Corrections keyed by normalised text: a newer label for the same text replaces the older.
        self._corrections: dict[str, Example] = {}
        self._version = 0
        self._trained: dict[str, _Trained] = {}
        self._fitting: dict[str, threading.Lock] = {}  # taxonomy key -> held while it is fitted
        self._lock = threading.Lock()
        if examples:
            self.add_examples(examples)

    # -- learning from people ------------------------------------------------

    def add_examples(self, examples: Iterable[ExampleLike]) -> int:
        """Add corrections; returns how many were new or changed. The next classification uses them."""
        changed = 0
        with self._lock:
            for item in examples:
                example = to_example(item)
                key = _norm(example.text)
                if not key or self._corrections.get(key) == example:
                    continue
                self._corrections.pop(key, None)  # re-insert so the newest is last (wins ties)
                self._corrections[key] = example
                changed += 1
            if changed:
                self._version += 1
        return changed

    @property
    def corrections(self) -> list[Example]:
        return list(self._corrections.values())

    def _classifier(self, taxonomy: list[dict[str, str]]) -> TextClassifier | None:
        """The trained classifier for this taxonomy, (re)training if corrections changed.

        One fit at a time per taxonomy: a worker that starts with many tickets queued reaches
        its first classifications together, and each fit costs a second or more of CPU, so the
        others wait for the first fit rather than each training the same classifier."""
        key = hashlib.sha256(json.dumps(taxonomy, sort_keys=True).encode()).hexdigest()
        with self._lock:
            fitting = self._fitting.setdefault(key, threading.Lock())
        with fitting:
            return self._fit(taxonomy, key)

    def _fit(self, taxonomy: list[dict[str, str]], key: str) -> TextClassifier | None:
        names = [t["name"] for t in taxonomy]
        with self._lock:
            cached = self._trained.get(key)
            if cached is not None and cached.version == self._version:
                return cached.classifier
            version = self._version
            corrections = [c for c in self._corrections.values() if c.category in names]
        corrected = {_norm(c.text) for c in corrections}
        texts: list[str] = []
        labels: list[str] = []
        weights: list[float] = []
        anchors: list[bool] = []
        for e in self._base:
            if e.category in names and _norm(e.text) not in corrected:
                texts.append(e.text)
                labels.append(e.category)
                weights.append(1.0)
                anchors.append(False)
        for t in taxonomy:
            # The name and description are labelled examples too: a custom category
            # works before any data exists for it.
            readable = t["name"].replace("_", " ")
            for text in (readable, f"{readable}: {t['description']}" if t.get("description") else ""):
                if text:
                    texts.append(text)
                    labels.append(t["name"])
                    weights.append(1.0)
                    anchors.append(False)
        # Balance classes (capped): a custom category known only from its description
        # must not be drowned by categories with thirty shipped examples.
        counts = Counter(labels)
        mean = len(labels) / max(1, len(counts))
        weights = [
            w * min(30.0, max(1.0, mean / counts[label])) for w, label in zip(weights, labels, strict=True)
        ]
        for c in corrections:
            texts.append(c.text)
            labels.append(c.category)
            weights.append(self.correction_weight)
            anchors.append(True)
        if not texts:
            return None
        classifier = TextClassifier(features=self.features, anchor_similarity=self.anchor_similarity)
        temperature = cached.classifier.temperature if cached is not None else None
        classifier.fit(texts, labels, sample_weight=weights, anchors=anchors, temperature=temperature)
        with self._lock:
            self._trained[key] = _Trained(version, classifier)
        return classifier

    # -- the prompts ---------------------------------------------------------

    def warm(
        self,
        taxonomy: Sequence[Mapping[str, Any]] | None = None,
        examples: Sequence[ExampleLike] | None = None,
    ) -> None:
        """Fit the classifier `classify` will use for this taxonomy and these corrections now, so
        the first ticket after a start does not wait for it (a worker calls this before it claims)."""
        self._learn(examples)
        self._classifier(self._taxonomy(taxonomy))

    def _learn(self, examples: Sequence[ExampleLike] | None) -> None:
        if examples:
            # Request data: skip malformed items rather than fail the whole classification.
            self.add_examples(
                e
                for e in examples
                if isinstance(e, Example)
                or (isinstance(e, Mapping) and e.get("text") and e.get("category"))
                or (isinstance(e, tuple | list) and len(e) == 2)
            )

    def _taxonomy(self, taxonomy: Sequence[Mapping[str, Any]] | None) -> list[dict[str, str]]:
        return [
            {"name": str(t["name"]), "description": str(t.get("description") or "")}
            for t in (taxonomy or [])
            if isinstance(t, Mapping) and t.get("name")
        ] or self.default_taxonomy

    def classify(
        self,
        ticket: Mapping[str, Any],
        taxonomy: Sequence[Mapping[str, Any]] | None = None,
        examples: Sequence[ExampleLike] | None = None,
    ) -> dict[str, Any]:
        """The `triage/classify` output for one ticket."""
        self._learn(examples)
        tax = self._taxonomy(taxonomy)
        text = ticket_text(ticket)
        classifier = self._classifier(tax)
        read_as = with_gloss(text)  # a German "Rechnung" is read as an invoice too
        if classifier is None:  # no data at all: the first category, flagged for a person
            category, confidence, terms, anchor, runner_up = tax[0]["name"], 0.0, [], None, None
        else:
            e = classifier.explain(read_as, k_terms=4)
            category, confidence, terms, anchor, runner_up = (
                e.label,
                e.confidence,
                e.top_terms,
                e.anchor,
                e.runner_up,
            )
        prio = heuristics.priority(text, category)
        mood = heuristics.sentiment(text)
        language = heuristics.detect_language(text)

        why = [f"{category} ({confidence:.0%})"]
        if anchor is not None:
            why.append("matches a person's earlier correction")
        if terms:
            why.append("words: " + ", ".join(f"'{t}'" for t in terms))
        elif anchor is None:
            why.append("no distinctive words")
        if runner_up and runner_up[1] >= 0.1:
            why.append(f"runner-up {runner_up[0]} ({runner_up[1]:.0%})")
        rationale = "; ".join(why) + f". Priority {prio.label}"
        rationale += f" ({', '.join(prio.signals)})" if prio.signals else ""
        rationale += f". Sentiment {mood.label}"
        rationale += f" ({', '.join(dict.fromkeys(mood.signals))})" if mood.signals else ""
        rationale += "."
        return {
            "category": category,
            "priority": prio.label,
            "sentiment": mood.label,
            "language": language,
            "confidence": round(float(confidence), 4),
            "rationale": rationale,
            "needs_review": bool(confidence < self.review_threshold),
            "spam": is_spam(text),
        }

    def draft(
        self,
        ticket: Mapping[str, Any],
        classification: Mapping[str, Any] | None = None,
        articles: Sequence[Mapping[str, Any]] | None = None,
        customer: Mapping[str, Any] | None = None,
        account: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The `triage/draft` output: a grounded reply, its sources, and whether it is grounded."""
        cls = dict(classification or {})
        if not cls.get("category"):
            cls = {**self.classify(ticket), **cls}
        valid = [a for a in (articles or []) if isinstance(a, Mapping)]
        return compose_reply(ticket, cls, valid, customer, account if isinstance(account, Mapping) else None)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Every handler is CPU work (the classifier, retrieval, planning): run it off the event loop."""
        return await asyncio.to_thread(self._respond, request)

    def _respond(self, request: ModelRequest) -> ModelResponse:
        prompt = (request.prompt or "").split("@", 1)[0].strip()
        handler = self.handlers().get(prompt)
        if handler is None:
            response = ModelResponse(content=UNKNOWN_PROMPT_REPLY.format(prompt=request.prompt or "(none)"))
        else:
            response = handler(request)
        return response.model_copy(update={"usage": self._usage(request, response), "model": self.name})

    def handlers(self) -> dict[str, Callable[[ModelRequest], ModelResponse]]:
        """The prompt names this engine answers ("triage/classify@v1" is "triage/classify")."""
        return {
            "triage/classify": lambda r: _structured(
                self.classify(
                    r.variables.get("ticket") or {}, r.variables.get("taxonomy"), r.variables.get("examples")
                )
            ),
            "triage/draft": lambda r: _structured(
                self.draft(
                    r.variables.get("ticket") or {},
                    r.variables.get("classification"),
                    r.variables.get("articles"),
                    r.variables.get("customer"),
                    r.variables.get("account"),
                )
            ),
            "triage/act": plan_act,
            "finance/classify": lambda r: _structured(finance.classify(r.variables)),
            "finance/draft": lambda r: _structured(finance.draft(r.variables)),
            "finance/act": finance.act,
            "workflow/draft": lambda r: _structured(workflows.draft(r.variables)),
            "chat": plan_chat,
        }

    @staticmethod
    def _usage(request: ModelRequest, response: ModelResponse) -> Usage:
        seen = request.system + "".join(m.content for m in request.messages)
        seen += json.dumps(request.variables, default=str) + "".join(
            t.name + t.description for t in request.tools
        )
        said = response.content + "".join(json.dumps(c.arguments, default=str) for c in response.tool_calls)
        return Usage(input_tokens=count_tokens(seen), output_tokens=count_tokens(said))
