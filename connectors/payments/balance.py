"""The simulator's balance: Stripe's balance transactions and payouts.

Every charge and refund moves the balance; Stripe records each movement as a balance
transaction (`txn_...`: gross `amount`, `fee`, `net`, `source`, `type`, `reporting_category`)
and sweeps available funds to the bank in payouts (`po_...`), each with its own balance
transaction. `GET /v1/balance_transactions?payout=po_...` lists what a payout paid out.
Shapes follow Stripe's API reference (stripe/stripe-node `types/BalanceTransactions.d.ts`,
`types/BalanceTransactionsResource.d.ts`, `types/Payouts.d.ts`): a refund's transaction
is described "REFUND FOR CHARGE (<charge description>)" and a payout's "STRIPE PAYOUT".

Balance transactions are made on demand from the state's charges and refunds (the charge or
refund already carries the transaction's id), so every write path stays as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from connectors.demo_books import fee

if TYPE_CHECKING:
    from connectors.payments.simulator import PaymentsState

DAY = 86400
PAYOUT_STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")


def _txn(
    txn_id: str, kind: str, amount: int, fee_amount: int, currency: str, created: int, source: str, text: str
) -> dict[str, Any]:
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * DAY,
        "created": created,
        "currency": currency,
        "description": text,
        "exchange_rate": None,
        "fee": fee_amount,
        "fee_details": [
            {
                "amount": fee_amount,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee_amount
        else [],
        "net": amount - fee_amount,
        "reporting_category": kind,
        "source": source,
        "status": "available",
        "type": kind,
    }


def balance_transactions(state: PaymentsState) -> dict[str, dict[str, Any]]:
    """All balance transactions by id: the stored ones (payouts) and one per charge and refund."""
    with state._lock:
        store = state.balance_txns
        for ch in state.charges.values():
            tid = ch.get("balance_transaction")
            if tid and tid not in store:
                store[tid] = _txn(
                    tid,
                    "charge",
                    ch["amount"],
                    fee(ch["amount"]) if ch["currency"] == "usd" else 0,
                    ch["currency"],
                    ch["created"],
                    ch["id"],
                    ch.get("description") or "",
                )
        for re_ in state.refunds.values():
            tid = re_.get("balance_transaction")
            if tid and tid not in store:
                charge = state.charges.get(re_["charge"]) or {}
                text = f"REFUND FOR CHARGE ({charge.get('description') or re_['charge']})"
                store[tid] = _txn(
                    tid, "refund", -re_["amount"], 0, re_["currency"], re_["created"], re_["id"], text
                )
        return store


def payouts(state: PaymentsState) -> dict[str, dict[str, Any]]:
    with state._lock:
        return state.payouts


def add_payout(
    state: PaymentsState,
    payout_id: str,
    txn_ids: list[str],
    *,
    created: int,
    arrival: int,
    status: str,
) -> dict[str, Any]:
    """A payout of the given transactions' net; they are marked as paid out by it."""
    with state._lock:
        txns = balance_transactions(state)
        net = sum(txns[t]["net"] for t in txn_ids)
        currency = txns[txn_ids[0]]["currency"] if txn_ids else "usd"
        own_txn = state.new_id("txn")
        txns[own_txn] = _txn(own_txn, "payout", -net, 0, currency, created, payout_id, "STRIPE PAYOUT")
        links = state.paid_out_by
        for t in txn_ids:
            links[t] = payout_id
        links[own_txn] = payout_id
        payout = {
            "id": payout_id,
            "object": "payout",
            "amount": net,
            "arrival_date": arrival,
            "automatic": True,
            "balance_transaction": own_txn,
            "created": created,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": "ba_1NwNorthwindBank01",
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "source_type": "card",
            "statement_descriptor": None,
            "status": status,
            "type": "bank_account",
        }
        payouts(state)[payout_id] = payout
        return copy.deepcopy(payout)


def _in_range(value: int, bounds: Any) -> bool:
    """Stripe's range filter: an exact unix time, or {gt, gte, lt, lte}."""
    if bounds is None:
        return True
    if isinstance(bounds, str):
        return str(value) == bounds
    checks: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(
        checks[k](value, int(v)) for k, v in bounds.items() if k in checks and str(v).lstrip("-").isdigit()
    )


def install(
    api: FastAPI,
    state: PaymentsState,
    *,
    query: Callable[[Request, tuple[str, ...]], dict[str, Any]],
    page: Callable[[Request, list[dict[str, Any]], dict[str, Any], str], dict[str, Any]],
    list_params: tuple[str, ...],
    missing: Callable[[str, str], Exception],
) -> None:
    """`GET /v1/payouts[/{id}]` and `GET /v1/balance_transactions[/{id}]` on the simulator's API."""

    def newest(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((copy.deepcopy(i) for i in reversed(items)), key=lambda o: o["created"], reverse=True)

    @api.get("/v1/payouts")
    async def list_payouts(request: Request) -> Any:
        params = query(request, (*list_params, "status", "arrival_date", "destination"))
        status = params.get("status")
        items = [
            p
            for p in payouts(state).values()
            if (not status or p["status"] == status)
            and _in_range(p["created"], params.get("created"))
            and _in_range(p["arrival_date"], params.get("arrival_date"))
        ]
        return page(request, newest(items), params, "/v1/payouts")

    @api.get("/v1/payouts/{payout_id}")
    async def get_payout(payout_id: str, request: Request) -> Any:
        query(request, ("expand",))
        found = payouts(state).get(payout_id)
        if found is None:
            raise missing("payout", payout_id)
        return copy.deepcopy(found)

    @api.get("/v1/balance_transactions")
    async def list_balance_transactions(request: Request) -> Any:
        params = query(request, (*list_params, "payout", "source", "type", "currency"))
        txns = balance_transactions(state)
        with state._lock:
            links = dict(state.paid_out_by)
        payout, source, kind = params.get("payout"), params.get("source"), params.get("type")
        if payout and payout not in payouts(state):
            raise missing("payout", str(payout))
        items = [
            t
            for t in txns.values()
            if (not payout or links.get(t["id"]) == payout)
            and (not source or t["source"] == source)
            and (not kind or t["type"] == kind)
            and (not params.get("currency") or t["currency"] == params["currency"])
            and _in_range(t["created"], params.get("created"))
        ]
        return page(request, newest(items), params, "/v1/balance_transactions")

    @api.get("/v1/balance_transactions/{txn_id}")
    async def get_balance_transaction(txn_id: str, request: Request) -> Any:
        query(request, ("expand",))
        found = balance_transactions(state).get(txn_id)
        if found is None:
            raise missing("balance_transaction", txn_id)
        return copy.deepcopy(found)
