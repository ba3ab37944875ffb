"""Scores for one eval item, and the figures for a whole run.

Tickets: category accuracy, macro-F1 and the confusion matrix; calibration
(expected calibration error over ten confidence bins); priority and language;
whether the draft cites the article that answers the ticket (or none when none
does); required-fact recall; unsupported claims (every order number, amount,
date and URL in a draft must appear in what the run read); action precision
and recall (operation and key arguments). Chat: key-fact recall of the answer,
tool-call precision and recall, proposed writes. Every suite: tokens, cost and
latency p50/p95.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

# --- text -----------------------------------------------------------------------------------


def norm(text: str) -> str:
    text = (
        html.unescape(text or "").lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u00a0", " ")
    )
    return " ".join(text.split())


def found_facts(facts: Sequence[Sequence[str]], text: str) -> list[bool]:
    """For each required fact (a list of acceptable phrasings), whether the text states it."""
    t = norm(text)
    return [any(norm(alt) in t for alt in alts) for alts in facts]


ORDER = re.compile(r"\bNW-\d{4,6}\b")
URL = re.compile(r"https?://[^\s<>\"')\]]+")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
DATE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b(?:{MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?(?:, \d{{4}})?\b"
    rf"|\b\d{{1,2}} (?:{MONTHS})(?: \d{{4}})?\b"
)
AMOUNT = re.compile(
    r"[$€£]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:[.,]\d{2})?\s?(?:USD|EUR|GBP|SEK|€|dollars|euros)\b"
)
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def claims(text: str) -> list[tuple[str, str]]:
    """(kind, literal) for every order number, URL, date and amount in a draft."""
    out = [("order", m) for m in ORDER.findall(text)]
    out += [("url", m.rstrip(".,;:!?")) for m in URL.findall(text)]
    out += [("date", m) for m in DATE.findall(text)]
    out += [("amount", m) for m in AMOUNT.findall(text)]
    return out


def _amount_value(literal: str) -> float | None:
    digits = re.sub(r"[^\d.,]", "", literal)
    if re.search(r",\d{2}$", digits):  # 12,50 €
        digits = digits[:-3].replace(".", "").replace(",", "") + "." + digits[-2:]
    digits = digits.replace(",", "")
    try:
        return round(float(digits), 2)
    except ValueError:
        return None


def read_support(reads: Iterable[dict[str, Any]]) -> tuple[str, set[float]]:
    """All text the run read (lower-cased), and every amount in it (also cents as units)."""
    blob = norm(
        " ".join(
            r["result"] if isinstance(r.get("result"), str) else json.dumps(r.get("result")) for r in reads
        )
    )
    values: set[float] = set()
    for m in NUMBER.findall(blob):
        v = float(m)
        values.add(round(v, 2))
        if "." not in m:
            values.add(round(v / 100, 2))
    return blob, values


def unsupported(text: str, reads: list[dict[str, Any]]) -> list[str]:
    blob, values = read_support(reads)
    bad = []
    for kind, literal in claims(text):
        if kind == "amount":
            v = _amount_value(literal)
            ok = v is not None and v in values
        elif kind == "url":
            ok = norm(literal).rstrip("/") in blob
        else:
            ok = norm(literal) in blob
        if not ok:
            bad.append(literal)
    return bad


# --- actions --------------------------------------------------------------------------------


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, list):
        return isinstance(got, list) and all(any(_same(w, g) for g in got) for w in want)
    if isinstance(want, str) or isinstance(got, str):
        return str(want).lower() == str(got).lower()
    return bool(want == got)


def action_matches(gold: dict[str, Any], pred: dict[str, Any]) -> bool:
    if gold["operation"] != pred.get("operation"):
        return False
    if gold.get("connection") and gold["connection"] != pred.get("connection"):
        return False
    args = pred.get("arguments") or {}
    return all(k in args and _same(v, args[k]) for k, v in (gold.get("args") or {}).items())


def match_actions(gold: list[dict[str, Any]], pred: list[dict[str, Any]]) -> int:
    """How many gold actions a proposed action fulfils, one to one."""
    free = list(pred)
    hits = 0
    for g in gold:
        for i, p in enumerate(free):
            if action_matches(g, p):
                hits += 1
                free.pop(i)
                break
    return hits


# --- one item -------------------------------------------------------------------------------


def score_item(item: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    failed = trace.get("status") in ("failed", "error") or bool(
        trace.get("error") and not trace.get("run_id")
    )
    kind = item["dataset"]
    if kind == "tickets":
        return _score_ticket(item, trace) | {"failed": failed}
    if kind == "chat":
        return _score_chat(item, trace) | {"failed": failed}
    if kind == "finance":
        cls = trace.get("classification") or {}
        return {
            "failed": failed,
            "category": cls.get("category"),
            "category_ok": cls.get("category") == item["category"],
            "gl_account_ok": str(cls.get("gl_account")) == item["gl_account"],
        }
    return {"failed": failed}


def _score_ticket(item: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    cls = trace.get("classification") or {}
    draft = trace.get("draft") or {}
    body = str(draft.get("body") or "")
    cited = [str(s.get("title") or "") for s in draft.get("sources") or [] if isinstance(s, dict)]
    gold_article = item.get("article")
    facts = found_facts(item.get("facts") or [], body)
    bad = unsupported(body, trace.get("reads") or []) if body else []
    actions = trace.get("actions") or []
    return {
        "category": cls.get("category"),
        "confidence": cls.get("confidence"),
        "category_ok": cls.get("category") == item["category"],
        "priority_ok": cls.get("priority") == item["priority"],
        "language_ok": cls.get("language") == item["language"],
        "cited": cited,
        "article_hit": (gold_article in cited) if gold_article else None,
        "abstained_ok": (not cited) if not gold_article else None,
        "facts_found": sum(facts),
        "facts_total": len(facts),
        "missing_facts": [alts[0] for alts, ok in zip(item.get("facts") or [], facts, strict=True) if not ok],
        "claims": len(claims(body)),
        "unsupported": bad,
        "has_draft": bool(body),
        "actions_gold": len(item.get("actions") or []),
        "actions_pred": len(actions),
        "actions_hit": match_actions(item.get("actions") or [], actions),
    }


def _score_chat(item: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    answer = str(trace.get("answer") or "")
    facts = found_facts(item.get("facts") or [], answer)
    gold_tools = set(item.get("tools") or [])
    # Finding a tool is not choosing one: search_tools costs tokens, counted there, not here.
    called = [t for t in dict.fromkeys(trace.get("tools_called") or []) if t != "search_tools"]
    writes = item.get("writes") or []
    return {
        "facts_found": sum(facts),
        "facts_total": len(facts),
        "missing_facts": [alts[0] for alts, ok in zip(item.get("facts") or [], facts, strict=True) if not ok],
        "tools_called": called,
        "tools_right": sum(1 for t in called if t in gold_tools),
        "tools_gold": len(gold_tools),
        "tools_gold_hit": len(gold_tools & set(called)),
        "writes_gold": len(writes),
        "writes_hit": match_actions(writes, trace.get("actions") or []),
    }


# --- a whole run ----------------------------------------------------------------------------


def ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 2)


def macro_f1(gold: list[str], pred: list[str]) -> tuple[float, dict[str, dict[str, float]]]:
    labels = sorted(set(gold))
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    return (round(sum(v["f1"] for v in per.values()) / len(per), 4) if per else 0.0), per


def calibration(confidences: list[float], correct: list[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and the reliability table (confidence against accuracy per bin)."""
    table = []
    ece = 0.0
    n = len(confidences)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not idx:
            continue
        conf = sum(confidences[i] for i in idx) / len(idx)
        acc = sum(correct[i] for i in idx) / len(idx)
        ece += len(idx) / n * abs(conf - acc)
        table.append(
            {"from": lo, "to": hi, "confidence": round(conf, 4), "accuracy": round(acc, 4), "items": len(idx)}
        )
    return {
        "ece": round(ece, 4) if n else None,
        "mean_confidence": round(sum(confidences) / n, 4) if n else None,
        "bins": table,
    }


def summarize(records: list[dict[str, Any]], calls: Sequence[Any] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by[r["item"]["dataset"]].append(r)
    if by.get("tickets"):
        out["tickets"] = _tickets(by["tickets"])
    if by.get("chat"):
        out["chat"] = _chat(by["chat"])
    if by.get("finance"):
        rs = by["finance"]
        out["finance"] = {
            "items": len(rs),
            "category_accuracy": ratio(sum(r["scores"].get("category_ok", False) for r in rs), len(rs)),
            "gl_account_accuracy": ratio(sum(r["scores"].get("gl_account_ok", False) for r in rs), len(rs)),
        }
    usage = [r["trace"].get("usage") or {} for r in records]
    walls = [r["trace"]["wall_ms"] for r in records if "wall_ms" in r["trace"]]
    latencies = [c.latency_ms for c in calls]
    out["cost"] = {
        "input_tokens": sum(u.get("input_tokens", 0) for u in usage),
        "output_tokens": sum(u.get("output_tokens", 0) for u in usage),
        "tokens_per_item": ratio(
            sum(u.get("input_tokens", 0) + u.get("output_tokens", 0) for u in usage), len(records)
        ),
        "cost_usd": round(sum(u.get("cost_usd", 0.0) for u in usage), 6),
        "model_calls": len(latencies),
        "model_latency_ms_p50": percentile(latencies, 0.5),
        "model_latency_ms_p95": percentile(latencies, 0.95),
        "item_ms_p50": percentile(walls, 0.5),
        "item_ms_p95": percentile(walls, 0.95),
        "failed_items": sum(1 for r in records if r["scores"].get("failed")),
    }
    return out


def _tickets(rs: list[dict[str, Any]]) -> dict[str, Any]:
    sc = [r["scores"] for r in rs]
    gold = [r["item"]["category"] for r in rs]
    pred = [s.get("category") or "(none)" for s in sc]
    f1, per = macro_f1(gold, pred)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        confusion[g][p] += 1
    hits = [s["article_hit"] for s in sc if s.get("article_hit") is not None]
    abstains = [s["abstained_ok"] for s in sc if s.get("abstained_ok") is not None]
    drafts = [s for s in sc if s.get("has_draft")]
    conf = [(float(s["confidence"]), bool(s["category_ok"])) for s in sc if s.get("confidence") is not None]
    spam = [r for r in rs if r["item"].get("spam")]
    return {
        "items": len(rs),
        "category_accuracy": ratio(sum(s.get("category_ok", False) for s in sc), len(sc)),
        "macro_f1": f1,
        "per_category": per,
        "confusion": {g: dict(c) for g, c in sorted(confusion.items())},
        "calibration": (cal := calibration([c for c, _ in conf], [ok for _, ok in conf])),
        "calibration_ece": cal["ece"],
        "priority_accuracy": ratio(sum(s.get("priority_ok", False) for s in sc), len(sc)),
        "language_accuracy": ratio(sum(s.get("language_ok", False) for s in sc), len(sc)),
        "article_hit_rate": ratio(sum(hits), len(hits)),
        "no_article_abstain_rate": ratio(sum(abstains), len(abstains)),
        "fact_recall": ratio(
            sum(s.get("facts_found", 0) for s in sc), sum(s.get("facts_total", 0) for s in sc)
        ),
        "drafts": len(drafts),
        "claims": sum(s.get("claims", 0) for s in sc),
        "unsupported_claims": sum(len(s.get("unsupported") or []) for s in sc),
        "unsupported_claim_rate": ratio(sum(1 for s in drafts if s.get("unsupported")), len(drafts)),
        "action_precision": ratio(
            sum(s.get("actions_hit", 0) for s in sc), sum(s.get("actions_pred", 0) for s in sc)
        ),
        "action_recall": ratio(
            sum(s.get("actions_hit", 0) for s in sc), sum(s.get("actions_gold", 0) for s in sc)
        ),
        "spam_handled": ratio(
            sum(
                r["scores"].get("actions_hit", 0) == r["scores"].get("actions_gold")
                and r["scores"].get("actions_pred") == r["scores"].get("actions_gold")
                for r in spam
            ),
            len(spam),
        ),
    }


def _chat(rs: list[dict[str, Any]]) -> dict[str, Any]:
    sc = [r["scores"] for r in rs]
    shapes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rs:
        shapes[r["item"].get("shape", "?")].append(r["scores"])
    return {
        "items": len(rs),
        "fact_recall": ratio(
            sum(s.get("facts_found", 0) for s in sc), sum(s.get("facts_total", 0) for s in sc)
        ),
        "answers_complete": ratio(
            sum(1 for s in sc if s.get("facts_found") == s.get("facts_total")), len(sc)
        ),
        "tool_precision": ratio(
            sum(s.get("tools_right", 0) for s in sc), sum(len(s.get("tools_called") or []) for s in sc)
        ),
        "tool_recall": ratio(
            sum(s.get("tools_gold_hit", 0) for s in sc), sum(s.get("tools_gold", 0) for s in sc)
        ),
        "write_recall": ratio(
            sum(s.get("writes_hit", 0) for s in sc), sum(s.get("writes_gold", 0) for s in sc)
        ),
        "by_shape": {
            shape: ratio(sum(s.get("facts_found", 0) for s in ss), sum(s.get("facts_total", 0) for s in ss))
            for shape, ss in sorted(shapes.items())
        },
    }
