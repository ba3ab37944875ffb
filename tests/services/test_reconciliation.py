"""Month-end reconciliation over the seeded month (connectors/demo_books.py): last month's
payouts in payments against the ERP's journal, with three differences planted in the books."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from app.services import approvals, intake
from app.services.auth import Principal
from app.services.reconcile import Accounts, reconcile
from app.services.views import run_view
from connectors import demo_books
from tests.support.app import full_container

PAT = Principal("pat", "approver")
PAYOUT_A, PAYOUT_B, PAYOUT_C = (p.payout_id for p in demo_books.PAYOUTS)


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    c, sims = full_container(db_url, tmp_path)
    yield c, sims
    await c.pool.aclose()


def last_month() -> str:
    first, _ = demo_books.month_before(datetime.now(UTC).date())
    return f"{first:%Y-%m}"


async def reconcile_run(c: Any, period: str) -> dict[str, Any]:
    run_id = intake.submit(
        c.db,
        kind="record",
        run_kind="record",
        payload={"kind": "reconciliation", "period": period},
        source="api",
        actor="controller",
    )[0]
    await c.orchestrator.drain("w")
    return run_view(c.db, run_id)


async def test_the_seeded_month_finds_each_planted_difference_and_proposes_nothing_else(rig: Any) -> None:
    c, _ = rig
    view = await reconcile_run(c, last_month())
    assert view["status"] == "waiting_approval", view["error"]
    report = view["draft"]
    assert [p["id"] for p in report["payouts"]] == [PAYOUT_A, PAYOUT_B, PAYOUT_C]
    diffs = {d["kind"]: d for d in report["differences"]}
    assert sorted(diffs) == ["booked_twice", "in_transit", "missing"], report["differences"]

    _, fees_b, _, _ = demo_books.payout_totals(demo_books.PAYOUTS[1])
    missing = diffs["missing"]
    assert missing["item"] == f"processing fees of payout {PAYOUT_B}"
    assert missing["amount"] == f"{fees_b / 100:.2f}" and "not in the ERP's journal" in missing["explanation"]

    twice = diffs["booked_twice"]
    assert "NW-43103" in twice["item"] and twice["amount"] == "45.00"
    assert "booked 2 times" in twice["explanation"]

    transit = diffs["in_transit"]
    assert PAYOUT_C in transit["item"] and transit["proposal"] is None
    assert "not in the bank yet" in transit["explanation"]

    # every other expected booking matched: sales x3, fees x2, refunds x1 (NW-43102), cash x2
    assert len(report["matched"]) == 8, report["matched"]

    entries = [a for a in view["actions"] if a["operation"] == "post_journal_entry"]
    assert len(entries) == len(report["proposals"]) == 2 and len(view["actions"]) == 2
    by_memo = {e["arguments"]["memo"]: e for e in entries}
    fee_entry = next(e for m, e in by_memo.items() if "processing fees" in m)
    assert PAYOUT_B in fee_entry["arguments"]["memo"]
    assert [(x["account"], x["debit"], x["credit"]) for x in fee_entry["arguments"]["lines"]] == [
        ("6500", fees_b / 100, 0.0),
        ("1010", 0.0, fees_b / 100),
    ]
    reversal = next(e for m, e in by_memo.items() if m.startswith("Reverse"))
    assert [(x["account"], x["debit"], x["credit"]) for x in reversal["arguments"]["lines"]] == [
        ("1010", 45.0, 0.0),
        ("4900", 0.0, 45.0),
    ]
    assert all(e["risk"] != "low" and e["bulk"] is False for e in entries)  # a posted entry is final
    # Each books its debits, below the default threshold of 500.00: one approver each.
    assert (
        fee_entry["effects"]["money"]["amount"] == fees_b and reversal["effects"]["money"]["amount"] == 4500
    )
    assert [e["required_approvals"] for e in entries] == [1, 1]

    # While they wait, a second run proposes them again? No: waiting entries count as booked.
    again = await reconcile_run(c, last_month())
    assert [d["kind"] for d in again["draft"]["differences"]] == ["in_transit"]
    assert again["actions"] == []

    for e in entries:
        approvals.approve(c.db, e["id"], PAT, c.pool.catalogue)
    await c.orchestrator.drain("w")
    done = run_view(c.db, view["id"])
    assert done["status"] == "succeeded", (done["error"], [a["error"] for a in done["actions"]])
    after = await reconcile_run(c, last_month())
    assert [d["kind"] for d in after["draft"]["differences"]] == ["in_transit"]
    assert after["actions"] == [] and after["status"] == "succeeded"


def _txn(kind: str, amount: int, fee: int = 0, source: str = "ch_1", text: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "amount": amount,
        "fee": fee,
        "source": source,
        "description": text,
        "created": 1_790_000_000,
    }


def _je(entry_id: str, memo: str, lines: list[tuple[str, float, float]]) -> dict[str, Any]:
    return {
        "EntryId": entry_id,
        "JournalEntryNumber": f"JE-{entry_id}",
        "Date": "2026-10-05",
        "Memo": memo,
        "Lines": [{"Account": a, "Debit": d, "Credit": cr, "Description": ""} for a, d, cr in lines],
    }


def test_a_different_amount_is_explained_and_only_the_difference_is_proposed() -> None:
    payout = {
        "id": "po_X1",
        "amount": 9_670,
        "status": "paid",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }
    txns = {"po_X1": [_txn("charge", 10_000, 330)]}
    books = [
        _je("S", "Stripe payout po_X1: card sales", [("1010", 100.0, 0.0), ("4000", 0.0, 100.0)]),
        _je("F", "Stripe payout po_X1: fees", [("6500", 3.0, 0.0), ("1010", 0.0, 3.0)]),
        _je("C", "Stripe payout po_X1 received", [("1000", 96.70, 0.0), ("1010", 0.0, 96.70)]),
    ]
    report = reconcile((date(2026, 10, 1), date(2026, 10, 31)), [payout], txns, books, accounts=Accounts())
    [diff] = report["differences"]
    assert diff["kind"] == "amount_differs" and diff["amount"] == "0.30"
    assert "3.30 in the payments system but 3.00" in diff["explanation"]
    [entry] = report["proposals"]
    assert [(x["account"], x["debit"]) for x in entry["lines"]] == [("6500", 0.3), ("1010", 0.0)]


def test_a_payout_booked_as_received_while_in_transit_is_a_difference() -> None:
    payout = {
        "id": "po_T",
        "amount": 1_000,
        "status": "in_transit",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }
    books = [
        _je("S", "Stripe payout po_T sales", [("1010", 10.0, 0.0), ("4000", 0.0, 10.0)]),
        _je("C", "Stripe payout po_T received", [("1000", 10.0, 0.0), ("1010", 0.0, 10.0)]),
    ]
    report = reconcile(
        (date(2026, 10, 1), date(2026, 10, 31)), [payout], {"po_T": [_txn("charge", 1_000)]}, books
    )
    assert [d["kind"] for d in report["differences"]] == ["booked_before_arrival"]
    assert report["proposals"] == []


async def test_the_api_starts_one_names_a_bad_period_and_the_page_shows_the_report(rig: Any) -> None:
    import httpx

    from app.api.app import create_app
    from app.services.auth import create_token

    c, _ = rig
    token = create_token(c.db, "controller", "operator")[1]
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        for body, field in (
            ({"kind": "reconciliation", "period": "2026-13"}, "period"),
            ({"kind": "reconciliation"}, "period"),
            ({"kind": "reconciliation", "period": "2026-11-30..2026-11-01"}, "period"),
            ({"kind": "reconciliation", "period": "2026-11", "amount": "1"}, "amount"),
            ({"kind": "invoice", "currency": "EUR", "counterparty": "X"}, "amount"),  # records as before
        ):
            r = await api.post("/api/v1/records", json=body, headers=auth)
            assert r.status_code == 422 and r.json()["fields"] == [field], (body, r.text)
        r = await api.post(
            "/api/v1/records", json={"kind": "reconciliation", "period": last_month()}, headers=auth
        )
        assert r.status_code == 202
        run_id = r.json()["run_id"]
        await c.orchestrator.drain("w")

        page = await api.get(f"/ui/reconciliation?run={run_id}", headers={"Cookie": f"sb_token={token}"})
        assert page.status_code == 200
        html = page.text
        assert last_month() in html and PAYOUT_B in html and "processing fees of payout" in html
        for kind in ("missing", "booked twice", "in transit"):
            assert f'<span class="chip">{kind}</span>' in html, kind
        assert html.count("pending in the queue") == 2 and "Nothing to book." in html

        trace = await api.get(f"/ui/runs/{run_id}", headers={"Cookie": f"sb_token={token}"})
        assert trace.status_code == 200 and "Open the reconciliation" in trace.text

        form = await api.post(
            "/ui/reconciliation",
            data={"period": "last month"},
            headers={"Cookie": f"sb_token={token}", "Origin": "http://sb"},
        )
        assert form.status_code == 422 and "period must be a month" in form.text


def test_a_payout_in_a_currency_without_cents_is_left_to_a_person_not_booked_in_cents() -> None:
    """Stripe's yen have no minor unit: a ¥98,000 payout is amount=98000. Read as the ledger's
    cents it would be 980.00, and an entry for "missing" sales of 1000.00 would be proposed. It is
    named as a payout in another currency instead, with nothing proposed."""
    payout = {
        "id": "po_JP",
        "amount": 98_000,
        "currency": "jpy",
        "status": "paid",
        "created": 1_790_000_000,
        "arrival_date": 1_790_200_000,
    }
    report = reconcile(
        (date(2026, 10, 1), date(2026, 10, 31)), [payout], {"po_JP": [_txn("charge", 100_000, 2_000)]}, []
    )
    [diff] = report["differences"]
    assert (diff["kind"], diff["amount"]) == ("other_currency", "98,000 JPY"), diff
    assert "book it by hand" in diff["explanation"]
    assert report["proposals"] == [] and report["payouts"] == []
