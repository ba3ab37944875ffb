"""Which tools a free loop offers: the few a message may need, and a search for the rest.

Sending every tool of every connection with each model call costs tokens in proportion
to the catalogue (sixty tools are several thousand tokens a call). A chat turn offers a
small core, the tools ranked most relevant to the message (TF-IDF over each tool's
name, description and parameter names, with the recent conversation weighted lower),
and `search_tools`, with which the model finds others; what it finds is offered on its
next call. The ranking is deterministic, but the catalogue can change between passes,
so callers record the names they offered and replay those.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.base import Tool

SEARCH_TOOL = "search_tools"
SEARCH_LIMIT = 5
DATA = Path(__file__).with_suffix(".json")
_WORD = re.compile(r"[a-z0-9]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    """Stopwords and query expansions (a question's words -> the words tools are described with)."""
    return json.loads(DATA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _stem(word: str) -> str:
    """A light suffix strip so 'charges', 'charged' and 'charge' meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`; an email address counts as the word 'email'."""
    data = _data()
    stop = set(data["stopwords"])
    lowered = _EMAIL.sub(" email ", text.lower())
    return [_stem(w) for w in _WORD.findall(lowered.replace("_", " ")) if w not in stop]


def query_terms(text: str) -> list[str]:
    """`terms`, plus the words tools use for what the question asks ('who is' -> find user...)."""
    expand: dict[str, list[str]] = _data()["expand"]
    out = terms(text)
    lowered = " " + " ".join(_WORD.findall(text.lower())) + " "
    for phrase, extra in expand.items():
        if f" {phrase} " in lowered:
            out += [_stem(w) for w in extra]
    return out


def document(tool: Tool) -> str:
    """What a tool is found by: its operation and connection names, description and parameters."""
    props = tool.input_schema.get("properties") if isinstance(tool.input_schema, dict) else None
    params = " ".join(str(p) for p in props) if isinstance(props, dict) else ""
    operation = tool.operation.replace("_", " ")
    # The operation's own words say most about what the tool does: count them twice.
    return f"{operation} {operation} {tool.connection} {tool.description} {params}"


class ToolIndex:
    """TF-IDF over the catalogue's tools; cosine similarity to a question ranks them."""

    def __init__(self, tools: Sequence[Tool]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.names = [t.name for t in tools]
        self._vectorizer = TfidfVectorizer(analyzer=terms, sublinear_tf=True)
        self._matrix = self._vectorizer.fit_transform([document(t) for t in tools]) if tools else None

    def scores(
        self, question: str, context: Sequence[str] = (), context_weight: float = 0.4
    ) -> dict[str, float]:
        """Each tool's relevance to `question`, with earlier messages (`context`) counting less."""
        if self._matrix is None:
            return {}
        vocabulary = self._vectorizer.vocabulary_

        def vector(text: str) -> Any:
            return self._vectorizer.transform([" ".join(w for w in query_terms(text) if w in vocabulary)])

        query = vector(question)
        for text in context:
            query = query + context_weight * vector(text)
        sims = (self._matrix @ query.T).toarray().ravel()
        return {name: float(s) for name, s in zip(self.names, sims, strict=True)}

    def rank(
        self, question: str, context: Sequence[str] = (), among: Iterable[str] | None = None
    ) -> list[str]:
        """Tool names with any relevance, best first (ties in catalogue order)."""
        allowed = set(among) if among is not None else None
        scored = self.scores(question, context)
        order = {n: i for i, n in enumerate(self.names)}
        hits = [(s, n) for n, s in scored.items() if s > 0 and (allowed is None or n in allowed)]
        return [n for _, n in sorted(hits, key=lambda h: (-h[0], order[h[1]]))]


_INDEXES: dict[tuple[tuple[str, str], ...], ToolIndex] = {}
_INDEX_LOCK = threading.Lock()


def index_for(tools: Sequence[Tool]) -> ToolIndex:
    """The index of these tools, built once per distinct catalogue (a few kept)."""
    key = tuple((t.name, t.description) for t in tools)
    with _INDEX_LOCK:
        found = _INDEXES.get(key)
    if found is None:
        found = ToolIndex(tools)
        with _INDEX_LOCK:
            if len(_INDEXES) >= 8:
                _INDEXES.pop(next(iter(_INDEXES)))
            _INDEXES[key] = found
    return found


def select(
    tools: Sequence[Tool],
    question: str,
    context: Sequence[str] = (),
    *,
    limit: int = 6,
    core: Sequence[str] = (),
) -> list[str]:
    """Names of the tools to offer first: the core (fnmatch patterns) and the best-ranked, `limit` in all.

    The core counts within the limit, so the offer stays the same size however large
    the catalogue grows.
    """
    names = [t.name for t in tools if t.name != SEARCH_TOOL]
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in core)][:limit]
    for name in index_for([t for t in tools if t.name != SEARCH_TOOL]).rank(question, context):
        if len(chosen) >= limit:
            break
        if name not in chosen:
            chosen.append(name)
    return chosen


def search_tool(tools: Sequence[Tool], *, limit: int = SEARCH_LIMIT) -> Tool:
    """The `search_tools` tool over `tools` (what this run may call): finds tools by what they do."""
    pool = [t for t in tools if t.name != SEARCH_TOOL]
    by_name = {t.name: t for t in pool}

    async def invoke(arguments: dict[str, Any], _key: str | None) -> Any:
        found = index_for(pool).rank(str(arguments.get("query") or ""))[
            : int(arguments.get("limit") or limit)
        ]
        return {
            "tools": [{"name": n, "description": by_name[n].description} for n in found],
            "note": "These tools are offered from your next step on." if found else "No tool matches.",
        }

    return Tool(
        name=SEARCH_TOOL,
        connection="switchboard",
        operation=SEARCH_TOOL,
        description=(
            "[switchboard, read] Find more tools by what they do (for example 'refund a charge' or "
            "'list deals of a contact'). Only some tools are offered at first; the tools found are "
            "offered from your next step on."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        effect="read",
        idempotency="none",
        invoke=invoke,
    )


@dataclass
class ToolOffer:
    """The tools a loop offers now (`offered`, by name) out of those it may call (`allowed`).

    `widened` adds what this step's `search_tools` calls found; the loop records the
    names it offers so that a replay offers the same, whatever the catalogue is by then.
    """

    allowed: dict[str, Tool]
    offered: list[str] = field(default_factory=list)

    @classmethod
    def fixed(cls, tools: Sequence[Tool]) -> ToolOffer:
        return cls({t.name: t for t in tools}, [t.name for t in tools])

    def tools(self) -> list[Tool]:
        """The offered tools in catalogue order, whatever order they were chosen in."""
        offered = set(self.offered)
        return [t for name, t in self.allowed.items() if name in offered]

    def widened(self, searches: Sequence[dict[str, Any]]) -> list[str]:
        """The offered names plus the tools found by these `search_tools` arguments."""
        pool = [t for t in self.allowed.values() if t.name != SEARCH_TOOL]
        names = list(self.offered)
        for arguments in searches:
            query = str(arguments.get("query") or "")
            limit = arguments.get("limit") if isinstance(arguments.get("limit"), int) else SEARCH_LIMIT
            for name in index_for(pool).rank(query)[:limit]:
                if name not in names:
                    names.append(name)
        return names

    def with_names(self, names: Iterable[str]) -> ToolOffer:
        return ToolOffer(self.allowed, [n for n in names if n in self.allowed])
