"""The finance anomaly corpus: well-formed, big enough, split, and its claim cases hold."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from evals.finance.harness import load_cases, run_case


def test_the_corpus_has_twenty_planted_anomalies_clean_records_and_a_held_out_part() -> None:
    cases = load_cases()
    anomalies = [c for c in cases if c["category"] != "clean"]
    assert len(anomalies) >= 20 and len([c for c in cases if c["category"] == "clean"]) >= 10
    assert {c["split"] for c in anomalies} == {"dev", "heldout"}
    kinds = Counter(c["category"] for c in anomalies)
    for category in (
        "duplicate",
        "near_duplicate",
        "changed_payee",
        "over_refund",
        "unknown_vendor",
        "false_claim",
    ):
        assert kinds[category] >= 2, category


def test_false_claims_are_refused_and_true_ones_kept(tmp_path: Path) -> None:
    claim_cases = [c for c in load_cases() if "claims" in c]
    outcomes = [asyncio.run(run_case(c, tmp_path)) for c in claim_cases]
    assert outcomes and all(o.caught for o in outcomes), [(o.id, o.found) for o in outcomes if not o.caught]
