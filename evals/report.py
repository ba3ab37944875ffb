"""Reports: several models side by side, the difference from a committed baseline, and the gate.

`markdown()` and `html_page()` render the same tables; charts are SVG drawn
here (no JavaScript, no chart library): written beside the Markdown as files,
and inlined in the HTML page so it is one self-contained file.
`regressions()` is the gate: a headline figure below its baseline by more than
the tolerance is a failure, named with both values.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BASELINES = Path(__file__).parent / "baselines"

# (section, key, label, higher is better)
HEADLINES: list[tuple[str, str, str, bool]] = [
    ("tickets", "category_accuracy", "category accuracy", True),
    ("tickets", "macro_f1", "category macro-F1", True),
    ("tickets", "calibration_ece", "category calibration error (ECE)", False),
    ("tickets", "priority_accuracy", "priority accuracy", True),
    ("tickets", "article_hit_rate", "article hit rate", True),
    ("tickets", "no_article_abstain_rate", "no article cited when none answers", True),
    ("tickets", "fact_recall", "draft required-fact recall", True),
    ("tickets", "unsupported_claim_rate", "drafts with an unsupported claim", False),
    ("tickets", "action_precision", "action precision", True),
    ("tickets", "action_recall", "action recall", True),
    ("tickets", "spam_handled", "spam closed, not answered", True),
    ("chat", "fact_recall", "chat key-fact recall", True),
    ("chat", "answers_complete", "chat answers with every key fact", True),
    ("chat", "tool_precision", "chat tool-call precision", True),
    ("chat", "tool_recall", "chat tool-call recall", True),
    ("chat", "write_recall", "chat proposed writes", True),
    ("finance", "category_accuracy", "finance category accuracy", True),
    ("finance", "gl_account_accuracy", "finance GL account accuracy", True),
]
COSTS: list[tuple[str, str]] = [
    ("tokens_per_item", "tokens per item"),
    ("cost_usd", "cost, USD"),
    ("model_latency_ms_p50", "model call p50, ms"),
    ("model_latency_ms_p95", "model call p95, ms"),
    ("item_ms_p50", "item p50, ms"),
    ("item_ms_p95", "item p95, ms"),
]
COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"]


def value(summary: dict[str, Any], section: str, key: str) -> float | None:
    figures = (summary.get("metrics") or {}).get(section, {})
    v = figures.get(key)
    if key == "calibration_ece" and v is None:  # summaries written before the flat key
        v = (figures.get("calibration") or {}).get("ece")
    return float(v) if isinstance(v, int | float) else None


def fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


# --- the gate -------------------------------------------------------------------------------


def load_baseline(suite: str, folder: Path = BASELINES) -> dict[str, Any] | None:
    path = folder / f"{suite}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def baseline_from(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a run, in the shape `regressions` compares against."""
    if (why := not_a_score(summary)) is not None:
        raise ValueError(f"an incomplete run is no baseline: {why}")
    return {
        "suite": summary["suite"],
        "model": summary["model"],
        "split": summary["split"],
        "items": summary["items"],
        "figures": {
            f"{section}.{key}": v
            for section, key, _, _ in HEADLINES
            if (v := value(summary, section, key)) is not None
        },
    }


def regressions(summary: dict[str, Any], baseline: dict[str, Any], tolerance: float = 0.02) -> list[str]:
    """Every headline figure worse than the baseline by more than `tolerance`, said plainly."""
    better = {f"{s}.{k}": hi for s, k, _, hi in HEADLINES}
    out = []
    for name, base in sorted((baseline.get("figures") or {}).items()):
        section, _, key = name.partition(".")
        now = value(summary, section, key)
        if now is None:
            out.append(f"{name}: missing (baseline {base:.3f})")
            continue
        worse = (base - now) if better.get(name, True) else (now - base)
        if worse > tolerance:
            out.append(f"{name}: {now:.3f}, baseline {base:.3f}")
    return out


# --- charts ---------------------------------------------------------------------------------


def bar_chart(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], width: int = 760
) -> str:
    """Horizontal grouped bars, one group per label, one bar per series; values in 0..1."""
    names = list(series)
    bar_h, gap, left, top = 12, 10, 270, 34
    group_h = bar_h * len(names) + gap
    height = top + group_h * len(labels) + 24
    scale = width - left - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<text x="8" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, name in enumerate(names):
        x = 8 + i * 180
        parts.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="33">{html.escape(name)}</text>')
    for t in (0.0, 0.5, 1.0):
        tx = left + t * scale
        parts.append(f'<line x1="{tx}" y1="{top + 6}" x2="{tx}" y2="{height - 18}" stroke="#ddd"/>')
        parts.append(f'<text x="{tx}" y="{height - 4}" text-anchor="middle" fill="#666">{t:g}</text>')
    for g, label in enumerate(labels):
        y0 = top + 8 + g * group_h
        parts.append(
            f'<text x="{left - 8}" y="{y0 + group_h / 2}" text-anchor="end">{html.escape(label)}</text>'
        )
        for i, name in enumerate(names):
            v = series[name][g]
            y = y0 + i * bar_h
            if v is None:
                parts.append(f'<text x="{left + 4}" y="{y + bar_h - 2}" fill="#999">n/a</text>')
                continue
            w = max(0.0, min(1.0, v)) * scale
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{COLOURS[i % len(COLOURS)]}"><title>{html.escape(name)}: {v:.3f}</title></rect>'
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 2}" fill="#333">{v:.2f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def confusion_svg(title: str, confusion: dict[str, dict[str, int]], cell: int = 34) -> str:
    """A confusion matrix as a heat map: rows gold, columns predicted."""
    labels = sorted(set(confusion) | {p for row in confusion.values() for p in row})
    left, top = 150, 130
    size = len(labels) * cell
    w, h = left + size + 110, top + size + 20
    peak = max([n for row in confusion.values() for n in row.values()] or [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="8" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="8" y="{top - 6}" fill="#666">gold ↓ / predicted →</text>',
    ]
    for j, label in enumerate(labels):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text x="{x}" y="{top - 6}" transform="rotate(-45 {x} {top - 6})">{html.escape(label)}</text>'
        )
    for i, gold in enumerate(labels):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end">{html.escape(gold)}</text>'
        )
        for j, pred in enumerate(labels):
            n = confusion.get(gold, {}).get(pred, 0)
            shade = 255 - int(200 * n / peak)
            colour = f"rgb({shade},{shade},255)" if gold == pred else f"rgb(255,{shade},{shade})"
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{colour if n else "#f7f7f7"}"/>'
            )
            if n:
                parts.append(
                    f'<text x="{left + j * cell + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle">{n}</text>'
                )
    parts.append("</svg>")
    return "\n".join(parts)


# --- pages ----------------------------------------------------------------------------------


def _label(s: dict[str, Any]) -> str:
    return f"{s['model']} ({s['split']})"


def charts(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """name -> SVG, for the headline figures and each model's confusion matrix."""
    rows = [
        (s, k, label) for s, k, label, _ in HEADLINES if any(value(x, s, k) is not None for x in summaries)
    ]
    out = {
        "headlines.svg": bar_chart(
            "Headline figures (higher is better, except unsupported claims and calibration error)",
            [label for _, _, label in rows],
            {_label(x): [value(x, s, k) for s, k, _ in rows] for x in summaries},
        )
    }
    for x in summaries:
        confusion = (x.get("metrics") or {}).get("tickets", {}).get("confusion")
        if confusion:
            name = f"confusion-{x['model'].replace(':', '_')}-{x['split']}.svg"
            out[name] = confusion_svg(f"Categories, {_label(x)}", confusion)
    return out


def _table(summaries: list[dict[str, Any]], baseline: dict[str, Any] | None) -> list[list[str]]:
    head = ["figure", *(_label(s) for s in summaries)]
    if baseline:
        head += [f"baseline ({baseline['model']}, {baseline['split']})", "change"]
    rows = [head]
    figures = (baseline or {}).get("figures") or {}
    for section, key, label, _ in HEADLINES:
        vals = [value(s, section, key) for s in summaries]
        if all(v is None for v in vals):
            continue
        row = [label, *(fmt(v) for v in vals)]
        if baseline:
            base = figures.get(f"{section}.{key}")
            now = next(
                (
                    value(s, section, key)
                    for s in summaries
                    if s["model"] == baseline["model"] and s["split"] == baseline["split"]
                ),
                None,
            )
            row += [fmt(base), "–" if base is None or now is None else f"{now - base:+.3f}"]
        rows.append(row)
    for key, label in COSTS:
        vals = [(s.get("metrics") or {}).get("cost", {}).get(key) for s in summaries]
        rows.append(
            [label, *(fmt(v, 2) if v is not None else "–" for v in vals)] + (["", ""] if baseline else [])
        )
    rows.append(["items", *(str(s["items"]) for s in summaries)] + (["", ""] if baseline else []))
    return rows


def markdown(
    title: str,
    summaries: list[dict[str, Any]],
    baseline: dict[str, Any] | None,
    chart_files: Sequence[str],
    notes: str = "",
) -> str:
    table = _table(summaries, baseline)
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    lines.append("")
    for name in chart_files:
        lines += [f"![{name}]({name})", ""]
    return "\n".join(lines)


def html_page(
    title: str,
    summaries: list[dict[str, Any]],
    baseline: dict[str, Any] | None,
    svgs: dict[str, str],
    notes: str = "",
) -> str:
    table = _table(summaries, baseline)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table[1:])
    notes_html = "".join(f"<p>{html.escape(p)}</p>" for p in notes.strip().split("\n\n") if p.strip())
    figures = "".join(f"<figure>{svg}</figure>" for svg in svgs.values())
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{notes_html}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{figures}</body></html>\n"
    )


def write_report(
    out_dir: Path,
    title: str,
    summaries: list[dict[str, Any]],
    baseline: dict[str, Any] | None = None,
    notes: str = "",
) -> dict[str, Path]:
    """report.md with its SVG charts beside it, and report.html with the same charts inlined."""
    out_dir.mkdir(parents=True, exist_ok=True)
    svgs = charts(summaries)
    for name, svg in svgs.items():
        (out_dir / name).write_text(svg + "\n", encoding="utf-8")
    md = out_dir / "report.md"
    md.write_text(markdown(title, summaries, baseline, list(svgs), notes), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(html_page(title, summaries, baseline, svgs, notes), encoding="utf-8")
    return {"markdown": md, "html": page}


def not_a_score(summary: dict[str, Any]) -> str | None:
    """Why a summary must not be reported or used as a baseline, or None.

    A summary `eval run` marked incomplete (items that did not finish or errored, or all
    failed). Summaries written before runs were checked carry no mark and are taken as
    they are.
    """
    if summary.get("complete", True):
        return None
    return str(summary.get("incomplete") or "the run did not complete")


def merge(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per (model, split): each suite's sections together, costs added up.

    Latency percentiles cannot be added: the merged figure is the worst suite's. An
    incomplete run is refused (ValueError), never merged into figures.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for s in summaries:
        if (why := not_a_score(s)) is not None:
            raise ValueError(f"{s.get('suite')} · {s.get('model')} · {s.get('split')} is not a score: {why}")
        key = (s["model"], s["split"])
        into = merged.setdefault(
            key, {"model": s["model"], "split": s["split"], "suite": [], "items": 0, "metrics": {}}
        )
        into["suite"].append(s["suite"])
        into["items"] += s["items"]
        for section, figures in (s.get("metrics") or {}).items():
            if section != "cost":
                into["metrics"][section] = figures
                continue
            cost = into["metrics"].setdefault("cost", {})
            for k, v in figures.items():
                if v is None:
                    continue
                if k.endswith(("_p50", "_p95")):
                    cost[k] = max(cost.get(k) or 0, v)
                elif k != "tokens_per_item":
                    cost[k] = round((cost.get(k) or 0) + v, 6)
    for m in merged.values():
        cost = m["metrics"].get("cost", {})
        if m["items"]:
            cost["tokens_per_item"] = round(
                (cost.get("input_tokens", 0) + cost.get("output_tokens", 0)) / m["items"], 1
            )
        m["suite"] = "+".join(m["suite"])
    return list(merged.values())
