"""Planted finance anomalies through the real finance pipeline: how many are caught, how many
clean records are flagged.

Each case in `cases.jsonl` is one of:
- a record (invoice or refund) that goes through the finance pipeline with the local model on
  fresh in-process simulators (payments, ERP, help desk, CRM, chat), after optional `setup`
  records (each approved, by two people where the write needs two, and executed; or left
  waiting in the queue);
- a `dispute` on a seeded customer's charge, run through the pipeline like a webhook would;
- `claims` checked directly against `facts` (app/services/evidence.py), for claims the local
  model would never draft.
A case is caught when any of its `expect` kinds is found (for claims: every expected claim is
refused); a clean case (`expect: []`) is flagged when anything is found or refused.

Placeholders resolve against the seeded systems: `@invoice:NUMBER` (that invoice's date or
total), `@charge:EMAIL:ORDER` (the charge id), `@vendor:ID` (the vendor's IBAN;
`@vendor:ID:one-digit` the same IBAN with one digit changed, in lower case with spaces).

`split` is `dev` (looked at while building the checks) or `heldout` (written apart and never
tuned on). `python -m evals.finance.harness [--split dev|heldout|all] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.services import approvals, evidence, intake
from app.services.auth import Principal
from app.services.views import run_view
from connectors.currency import to_major
from evals.wiring import full_container

CASES_PATH = Path(__file__).with_name("cases.jsonl")
CATEGORIES = (
    "duplicate",
    "near_duplicate",
    "changed_payee",
    "over_refund",
    "duplicate_refund",
    "unknown_vendor",
    "false_claim",
    "clean",
)
APPROVER = Principal("eval-approver", "approver")
# A money write above the two-approver threshold (a refund, or a journal entry's debits) needs a
# different second person; a setup step that approves gives it every approval it needs.
SECOND_APPROVER = Principal("eval-second-approver", "approver")
MONEY_WRITES = ("post_journal_entry", "create_refund")


@dataclass
class Outcome:
    id: str
    split: str
    category: str
    expect: list[str]
    found: list[str]
    caught: bool  # anomaly: an expected kind was found; clean: nothing was found
    seconds: float
    notes: str = ""
    reasons: list[str] = field(default_factory=list)


def load_cases(path: Path = CASES_PATH) -> list[dict[str, Any]]:
    cases, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        problems = [f"missing {k}" for k in ("id", "split", "category", "expect") if k not in raw]
        if raw.get("id") in seen:
            problems.append(f"duplicate id {raw['id']}")
        if raw.get("split") not in ("dev", "heldout"):
            problems.append("split must be dev or heldout")
        if raw.get("category") not in CATEGORIES:
            problems.append(f"category must be one of {', '.join(CATEGORIES)}")
        if sum(k in raw for k in ("record", "dispute", "claims")) != 1:
            problems.append("a case has exactly one of record, dispute, claims")
        if problems:
            raise ValueError(f"{path.name}:{n}: {'; '.join(problems)}")
        seen.add(raw["id"])
        cases.append(raw)
    return cases


# --- placeholders -------------------------------------------------------------------------------


async def resolve(c: Any, record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key, value in record.items():
        if not isinstance(value, str) or not value.startswith("@"):
            continue
        kind, _, rest = value[1:].partition(":")
        if kind == "invoice":
            inv = await c.pool.connector("erp").get_invoice(invoice_number=rest)
            out[key] = inv["InvoiceDate"] if key == "date" else f"{inv['TotalAmount']:.2f}"
        elif kind == "charge":
            email, _, order = rest.partition(":")
            payments = c.pool.connector("payments")
            customer = await payments.find_customer(email=email)
            charges = await payments.list_charges(customer_id=customer["id"], limit=100)
            out[key] = next(ch["id"] for ch in charges if order in str(ch.get("description")))
        elif kind == "vendor":
            vendor_id, _, how = rest.partition(":")
            iban = (await c.pool.connector("erp").get_vendor(vendor_id=vendor_id))["IBAN"]
            if how == "one-digit":
                i = next(n for n in range(len(iban) - 1, 0, -1) if iban[n].isdigit())
                iban = iban[:i] + str((int(iban[i]) + 1) % 10) + iban[i + 1 :]
                iban = " ".join(iban[n : n + 4] for n in range(0, len(iban), 4)).lower()
            out[key] = iban
    return out


# --- running --------------------------------------------------------------------------------------


async def _run(c: Any, record: dict[str, Any], actor: str) -> dict[str, Any]:
    run_id = intake.submit(
        c.db, kind="record", run_kind="record", payload=record, source="eval", actor=actor
    )[0]
    await c.orchestrator.drain("eval")
    return run_view(c.db, run_id)


async def _setup(c: Any, step: dict[str, Any], n: int) -> None:
    view = await _run(c, await resolve(c, step["record"]), actor=f"eval-setup-{n}")
    if not step.get("approve"):
        return
    for a in view["actions"]:
        if a["status"] != "pending":
            continue
        if a["operation"] in MONEY_WRITES:
            for who in (APPROVER, SECOND_APPROVER)[: a["required_approvals"]]:
                approvals.approve(c.db, a["id"], who, c.pool.catalogue)
        else:
            approvals.reject(c.db, a["id"], APPROVER, "not needed for the setup")
    await c.orchestrator.drain("eval")
    # A setup that says "approve" means the write happened: a booking left waiting for another
    # approval would make the case measure a pending duplicate instead of a booked one.
    after = run_view(c.db, view["id"])
    unwritten = [
        f"{a['operation']} ({a['status']})"
        for a in after["actions"]
        if a["operation"] in MONEY_WRITES and a["status"] != "succeeded"
    ]
    if unwritten:
        raise RuntimeError(f"setup record {n} was approved but not written: {', '.join(unwritten)}")


async def _dispute(c: Any, spec: dict[str, Any]) -> dict[str, Any]:
    payments = c.pool.connector("payments")
    customer = await payments.find_customer(email=spec["email"])
    charges = await payments.list_charges(customer_id=customer["id"], limit=100)
    charge = next(
        ch for ch in charges if spec["order"] is None or spec["order"] in str(ch.get("description"))
    )
    existing = [d for d in await payments.list_disputes(limit=100) if d["charge"] == charge["id"]]
    if existing:
        dispute = existing[0]
    else:
        emitted = await payments.client.post(
            "/_emit/dispute_created", json={"charge": charge["id"], "reason": spec["reason"]}
        )
        dispute = emitted.json()["event"]["data"]["object"]
    return {
        "kind": "dispute",
        "amount": str(to_major(dispute["amount"], dispute["currency"])),  # as the payments webhook reads it
        "currency": str(dispute["currency"]).upper(),
        "counterparty": charge["id"],
        "description": f"Dispute opened: {dispute['reason']}",
        "dispute_id": dispute["id"],
        "charge_id": charge["id"],
    }


async def run_case(case: dict[str, Any], workdir: Path) -> Outcome:
    started = time.perf_counter()
    reasons: list[str] = []
    if "claims" in case:
        checked = evidence.check_claims(
            case["claims"], case["facts"], dispute_opened=case.get("dispute_opened")
        )
        found = [r["claim"] for r in checked.rejected] + [x["kind"] for x in checked.contrary]
        reasons = [r["reason"] for r in checked.rejected] + [x["reason"] for x in checked.contrary]
    else:
        c, _ = full_container(f"sqlite:///{workdir / 'eval.db'}", workdir, crm=True)
        c.db.upgrade()
        try:
            for n, step in enumerate(case.get("setup") or []):
                await _setup(c, step, n)
            record = (
                await _dispute(c, case["dispute"]) if "dispute" in case else await resolve(c, case["record"])
            )
            view = await _run(c, record, actor="eval")
            if view["status"] == "failed":
                raise RuntimeError(f"{case['id']}: the run failed: {view['error']}")
            findings = (view.get("classification") or {}).get("findings") or []
            found = [str(f["kind"]) for f in findings]
            reasons = [str(f["reason"]) for f in findings]
        finally:
            await c.pool.aclose()
            c.db.dispose()
    expect = list(case["expect"])
    if not expect:
        caught = not found
    elif "claims" in case:
        caught = set(expect) <= set(found)
    else:
        caught = bool(set(expect) & set(found))
    return Outcome(
        case["id"],
        case["split"],
        case["category"],
        expect,
        sorted(set(found)),
        caught,
        round(time.perf_counter() - started, 2),
        case.get("notes", ""),
        reasons,
    )


async def run_all(cases: list[dict[str, Any]]) -> list[Outcome]:
    out = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="sb-finance-eval-") as tmp:
            out.append(await run_case(case, Path(tmp)))
    return out


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(Counter))  # type: ignore[arg-type]
    for o in outcomes:
        for split in (o.split, "all"):
            row = table[o.category][split]
            row["cases"] += 1
            row["caught" if o.category != "clean" else "flagged"] += int(
                o.caught if o.category != "clean" else not o.caught
            )
    return {cat: {split: dict(v) for split, v in rows.items()} for cat, rows in table.items()}


def render(outcomes: list[Outcome]) -> str:
    s = summary(outcomes)
    lines = [
        "| planted | dev: caught / cases | held-out: caught / cases | all |",
        "| --- | --- | --- | --- |",
    ]
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for cat in CATEGORIES:
        if cat not in s or cat == "clean":
            continue
        cells = []
        for split in ("dev", "heldout", "all"):
            row = s[cat].get(split, {})
            cells.append(f"{row.get('caught', 0)} / {row.get('cases', 0)}" if row else "–")
            if row and split != "all":
                totals[split].update({"caught": row.get("caught", 0), "cases": row.get("cases", 0)})
        lines.append(f"| {cat.replace('_', ' ')} | " + " | ".join(cells) + " |")
    t = {k: totals[k] for k in ("dev", "heldout")}
    both = t["dev"] + t["heldout"]
    lines.append(
        f"| **anomalies caught** | {t['dev']['caught']} / {t['dev']['cases']} | "
        f"{t['heldout']['caught']} / {t['heldout']['cases']} | {both['caught']} / {both['cases']} |"
    )
    clean = s.get("clean", {})
    cells = [
        f"{clean.get(split, {}).get('flagged', 0)} / {clean.get(split, {}).get('cases', 0)}"
        for split in ("dev", "heldout", "all")
    ]
    lines.append("| **clean records flagged** | " + " | ".join(cells) + " |")
    missed = [o for o in outcomes if not o.caught]
    if missed:
        lines.append("")
        for o in missed:
            what = "flagged" if o.category == "clean" else "missed"
            lines.append(
                f"- {what}: {o.id} ({o.split}) expected {o.expect or 'nothing'}, found {o.found or 'nothing'}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Planted finance anomalies through the finance pipeline.")
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="all")
    parser.add_argument("--json", action="store_true", help="every case's outcome as JSON")
    args = parser.parse_args(argv)
    cases = [c for c in load_cases() if args.split == "all" or c["split"] == args.split]
    started = time.perf_counter()
    outcomes = asyncio.run(run_all(cases))
    if args.json:
        print(json.dumps({"summary": summary(outcomes), "cases": [asdict(o) for o in outcomes]}, indent=2))
    else:
        print(render(outcomes))
        print(f"\n{len(outcomes)} cases in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
