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


def test_a_setup_booking_above_the_threshold_gets_both_approvals_and_is_booked(tmp_path: Path) -> None:
    """Journal entries count their debits against the two-approver threshold: the setup's
    960.00 entry needs a second approver, and the case then finds it booked in the journal,
    not merely waiting in the queue."""
    [case] = [c for c in load_cases() if c["id"] == "dup-booked-number-spelled-differently"]
    assert float(case["setup"][0]["record"]["amount"]) * 100 > 50_000
    outcome = asyncio.run(run_case(case, tmp_path))
    assert outcome.caught and "already_booked" in outcome.found, outcome.found
    assert "duplicate_pending" not in outcome.found
