"""What a local draft says: whole passages of the best article, and the facts the run read.

Passages: an article is cut at its blocks (paragraphs, lists, tables), a heading or a
lead-in ending in ":" stays with what follows it, and a block the connector cut short
(ending in "…") is dropped. The reply quotes whole passages only, in reading order,
so a list is never cut in the middle.

Account facts: sentences built from what the run read in the payment system (orders
named in the ticket, a duplicate charge, refunds with their bank reference, open
disputes). Every number in them comes from a read; the ticket's own text is used
only to decide which orders it is about, never quoted.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.llm.local.heuristics import words
from app.llm.local.retrieval import content_terms, strip_html
from connectors.currency import major_text

DATA_DIR = Path(__file__).parent / "data"
MAX_PASSAGES = 3
MAX_CHARS = 900
_ORDER = re.compile(r"\bNW-\d{4,6}\b")


@lru_cache(maxsize=1)
def lexicon() -> dict[str, str]:
    """German, French and Spanish support words with their English counterparts."""
    data = json.loads((DATA_DIR / "lexicon.json").read_text(encoding="utf-8"))
    return {k.lower(): v for lang in data.values() for k, v in lang.items()}


def gloss(text: str) -> str:
    """English words for the non-English support words in `text` (empty when there are none)."""
    table = lexicon()
    return " ".join(dict.fromkeys(table[w] for w in words(text) if w in table))


def with_gloss(text: str) -> str:
    extra = gloss(text)
    return f"{text}\n{extra}" if extra else text


# --- passages ---------------------------------------------------------------------------------


def _is_heading(block: str) -> bool:
    return "\n" not in block and len(block) < 80 and not block.rstrip().endswith((".", "!"))


_BLOCK_END = re.compile(r"</(p|ul|ol|h[1-6]|table|div|section)\s*>", re.I)
_ITEM = re.compile(r"<li\b[^>]*>", re.I)


def plain_blocks(body: str) -> list[str]:
    """Blocks of an article: HTML block elements, or blank-line separated plain text."""
    if "<" in body:
        body = _ITEM.sub("\n- ", _BLOCK_END.sub("\n\n", body))
        return [strip_html(b) for b in re.split(r"\n\s*\n", body) if strip_html(b)]
    return [b.strip() for b in re.split(r"\n\s*\n", body) if b.strip()]


def passages(body: str) -> list[str]:
    """An article's text as whole passages (see the module docstring)."""
    blocks = plain_blocks(body)
    if blocks and blocks[-1].endswith("…"):
        blocks.pop()
    out: list[str] = []
    pending = ""
    for block in blocks:
        if pending:
            block = f"{pending}\n{block}"
            pending = ""
        if _is_heading(block) or (block.endswith(":") and "\n" not in block):
            pending = block
            continue
        out.append(block)
    return out


def best_passages(query: str, body: str) -> list[str]:
    """The opening passage and the ones sharing the most words with the query, in reading order."""
    every = passages(body)
    if not every:
        return []
    q = set(content_terms(with_gloss(query)))
    scored = []
    for i, p in enumerate(every):
        overlap = len(q & set(content_terms(p)))
        scored.append((overlap, -i, i))
    chosen = {0}
    for overlap, _, i in sorted(scored, reverse=True):
        if len(chosen) >= MAX_PASSAGES or overlap == 0:
            break
        if sum(len(every[j]) for j in chosen) + len(every[i]) > MAX_CHARS and chosen != {0}:
            continue
        chosen.add(i)
    return [every[i] for i in sorted(chosen)]


# --- account facts ----------------------------------------------------------------------------

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def money(minor: Any, currency: Any) -> str:
    if not isinstance(minor, int | float):
        return ""
    value = major_text(int(minor), currency, grouped=True)
    cur = str(currency or "").lower()
    return f"{SYMBOLS[cur]}{value}" if cur in SYMBOLS else f"{value} {cur.upper()}".strip()


def _what(charge: Mapping[str, Any]) -> str:
    desc = str(charge.get("description") or "")
    order = charge.get("order")
    item = desc.split(":", 1)[1].strip() if ":" in desc else desc
    return f"order {order} ({item})" if order else (item or "a charge")


def account_facts(ticket_text: str, account: Mapping[str, Any] | None) -> list[str]:
    """Sentences about the requester's orders, charges, refunds and disputes, from the run's reads."""
    if not account:
        return []
    charges = [c for c in account.get("charges") or [] if isinstance(c, Mapping)]
    disputes = [d for d in account.get("disputes") or [] if isinstance(d, Mapping)]
    named = set(_ORDER.findall(ticket_text))
    facts: list[str] = []
    mentioned: set[str] = set()
    for ch in charges:
        if ch.get("order") not in named:
            continue
        mentioned.add(str(ch.get("id")))
        line = f"I can see {_what(ch)}, paid {money(ch.get('amount'), ch.get('currency'))}."
        refunds = [r for r in ch.get("refunds") or [] if isinstance(r, Mapping)]
        for r in refunds:
            line += f" A refund of {money(r.get('amount'), ch.get('currency'))} was issued for it"
            line += f" (bank reference, ARN: {r['reference']})." if r.get("reference") else "."
        if refunds and any(r.get("reference") for r in refunds):
            line += " Your bank can use that reference to trace the refund on your statement."
        facts.append(line)
    # A duplicate: the same amount for the same thing twice within a day, not refunded yet.
    if (dup := duplicate_charge(charges)) is not None:
        amount = money(dup.get("amount"), dup.get("currency"))
        facts.append(
            f"I can see two charges of {amount} for {_what(dup)} on your card within a day of each "
            "other, which looks like a duplicate. Once a colleague confirms it, the duplicate "
            "charge is refunded in full."
        )
    for d in disputes:
        if str(d.get("status") or "").startswith(("won", "lost")):
            continue
        paid = next((c for c in charges if c.get("id") == d.get("charge")), None)
        on = _what(paid) if paid else "one of your payments"
        facts.append(
            f"I also see an open dispute with your bank about {on} "
            f"({money(d.get('amount'), d.get('currency'))}); while it is open, your bank decides "
            "the outcome, and we will answer it with what we know."
        )
    return facts


DUPLICATE_WINDOW = 86400  # seconds: a monthly renewal is not a duplicate of last month's


def duplicate_charge(charges: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The later of two charges for the same amount and thing within a day, neither refunded."""
    ordered = sorted(
        (c for c in charges if not c.get("amount_refunded") and isinstance(c.get("created"), int | float)),
        key=lambda c: c["created"],
    )
    for earlier, later in itertools.pairwise(ordered):
        same = (earlier.get("amount"), earlier.get("description")) == (
            later.get("amount"),
            later.get("description"),
        )
        if same and later["created"] - earlier["created"] <= DUPLICATE_WINDOW:
            return later
    return None


def relevant_orders(ticket_text: str, charges: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    named = set(_ORDER.findall(ticket_text))
    return [c for c in charges if c.get("order") in named]
