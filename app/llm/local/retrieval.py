"""Rank knowledge-base articles against a ticket, and pick the sentences worth quoting.

The read tools hand the draft step a handful of articles; this module decides
which one (if any) actually answers the ticket. Ranking is BM25 over title and
body (title counted twice: titles are short and on point). Relevance is a
separate, explainable gate: enough distinct content words shared with the
ticket, with a title match counting double. That gate is what lets the draft
say "grounded: false" instead of citing an article about something else.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.llm.local.heuristics import ALL_STOPWORDS, words, wordset

# Words that appear in almost every ticket and say nothing about its topic.
GENERIC = wordset(
    """hello hi hey dear help please thanks thank need needs want wants get got like would could
    know problem issue question questions regards best team support customer service thing
    something anything someone anyone today yesterday still just also really one two use using
    used make made see way time day days week weeks work works via able"""
)

_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(r"</?(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article)\b[^>]*>", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[]?[A-ZÀ-ÖØ-Þ0-9])|\n+")


def strip_html(text: str) -> str:
    """Plain text from an article body (KB bodies are usually HTML)."""
    text = _BLOCK_TAG.sub("\n", text or "")
    text = html.unescape(_TAG.sub("", text))
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def stem(word: str) -> str:
    """A deliberately light English stemmer: refunds/refunded/refunding -> refund."""
    w = word.lower()
    if len(w) <= 4:
        return w
    if w.endswith("ies") and len(w) > 5:
        w = w[:-3] + "y"
    else:
        for suffix in ("ing", "ed", "es", "s"):
            if w.endswith(suffix) and not w.endswith("ss") and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
    if len(w) > 4 and w[-1] in "ey":
        w = w[:-1]
    return w


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry topic: no stopwords, no generic support words, no numbers."""
    return [stem(w) for w in words(text) if len(w) > 2 and w not in ALL_STOPWORDS and w not in GENERIC]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and len(s.strip()) > 1]


class BM25:
    """Okapi BM25 with the non-negative idf variant (stays sane with three documents)."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(d) for d in docs]
        self.lengths = [len(d) for d in docs]
        self.avgdl = (sum(self.lengths) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def score(self, query: Sequence[str], i: int) -> float:
        doc, length = self.docs[i], self.lengths[i]
        total = 0.0
        for term in set(query):
            tf = doc.get(term, 0)
            if not tf:
                continue
            norm = tf + self.k1 * (1 - self.b + self.b * length / (self.avgdl or 1.0))
            total += self.idf[term] * tf * (self.k1 + 1) / norm
        return total


@dataclass
class Ranked:
    """One article with its score and the evidence for calling it relevant."""

    article: Mapping[str, Any]
    score: float
    matched: list[str] = field(default_factory=list)
    title_matched: list[str] = field(default_factory=list)
    relevant: bool = False

    @property
    def evidence(self) -> float:
        return len(self.matched) + len(self.title_matched)


def rank_articles(
    query: str, articles: Sequence[Mapping[str, Any]], min_evidence: float = 2.0
) -> list[Ranked]:
    """Articles best first. `relevant` needs `min_evidence` shared terms (a title match counts twice)."""
    q = content_terms(query)
    if not articles:
        return []
    titles = [content_terms(str(a.get("title") or "")) for a in articles]
    bodies = [content_terms(strip_html(str(a.get("body") or ""))) for a in articles]
    bm25 = BM25([t + t + b for t, b in zip(titles, bodies, strict=True)])
    qset = set(q)
    ranked = []
    for i, article in enumerate(articles):
        matched = sorted(qset & (set(titles[i]) | set(bodies[i])))
        title_matched = sorted(qset & set(titles[i]))
        r = Ranked(article, bm25.score(q, i), matched, title_matched)
        r.relevant = r.evidence >= min_evidence and r.score > 0
        ranked.append(r)
    ranked.sort(key=lambda r: (r.relevant, r.score), reverse=True)
    return ranked


def best_sentences(query: str, body: str, n: int = 2, max_chars: int = 320) -> list[str]:
    """The `n` sentences of `body` sharing the most content words with `query`, in reading order."""
    every = split_sentences(strip_html(body))
    # Headings and fragments ("Refunds") answer nothing; very long sentences read badly in a reply.
    sentences = [s for s in every if len(s) <= max_chars and len(s.split()) >= 4]
    if not sentences:
        sentences = [s if len(s) <= max_chars else s[:max_chars].rsplit(" ", 1)[0] + "…" for s in every[:1]]
    if not sentences:
        return []
    q = set(content_terms(query))
    scored = []
    for i, sentence in enumerate(sentences):
        overlap = len(q & set(content_terms(sentence)))
        # Prefer earlier sentences on ties: articles usually lead with the answer.
        scored.append((overlap, -i, i))
    scored.sort(reverse=True)
    chosen = [i for overlap, _, i in scored[:n] if overlap > 0] or [0]
    return [sentences[i] for i in sorted(chosen)]
