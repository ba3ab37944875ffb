"""A loopback Stripe: the `/v1` endpoints the payments connector uses, plus webhooks.

It answers in Stripe's wire format: form-encoded request bodies with nested keys,
list objects with cursor pagination (`starting_after`), the search query language on
`/v1/customers/search`, `{"error": {"type", "message", "param", "code"}}` errors, and
Stripe's `Idempotency-Key` semantics on every POST (same key + same parameters: the
stored answer is replayed with `Idempotent-Replayed: true`; same key + other
parameters: 400 `idempotency_error`). Refunds move the charge's `amount_refunded` and
`refunded`, and cannot exceed what is left; dispute evidence can be staged or submitted.

Control endpoints (besides `/_faults` and `/_state` from `connectors.simulator_base`),
which skip faults and auth:

    POST /_webhook               {"url": ..., "secret": ...}: where events are delivered
    GET  /_webhook               that configuration and the deliveries made so far
    POST /_emit/dispute_created  {"charge": "ch_..."} opens a dispute (or {"dispute": "dp_..."}
                                 reuses one; an empty body picks the newest undisputed charge),
                                 records a `charge.dispute.created` event and POSTs it,
                                 signed (`Stripe-Signature`), to the webhook URL

A charge's `receipt_url` opens `/receipts/{id}`, a public page (no API key), as Stripe's does.

State is in memory behind a lock: the demo serves it from uvicorn's thread while tests
inspect it from theirs.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import random
import re
import string
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from connectors.currency import major_text, step
from connectors.payments import balance, webhooks
from connectors.payments import seed as seed_data
from connectors.simulator_base import (
    Faults,
    SimulatorAuth,
    answer_errors,
    mount_base,
    relative_path,
    simulator_app,
)

API_VERSION = "2024-06-20"
IDEMPOTENCY_TTL = 24 * 3600  # Stripe prunes idempotency keys once they are at least 24 hours old
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥", "sek": "SEK "}
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
CLOSED_DISPUTE = frozenset({"won", "lost", "warning_closed", "prevented"})
SUBMITTED_DISPUTE = frozenset({"under_review", "warning_under_review"})
_ID_CHARS = string.ascii_letters + string.digits


class StripeAPIError(Exception):
    """An error answered in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        return {"error": err}


def missing(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeAPIError:
    return StripeAPIError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


def unknown_param(name: str) -> StripeAPIError:
    return StripeAPIError(400, f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def money(amount: int, currency: str) -> str:
    """'$9.99', '€59.90', '¥500', 'KWD 5.120': how Stripe quotes amounts in its messages."""
    cur = currency.lower()
    return SYMBOLS.get(cur, cur.upper() + " ") + major_text(amount, cur)


# --- form decoding ------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's nested form keys back into objects: `metadata[order]=7` -> {"metadata": {"order": "7"}},
    `expand[]=a` and `items[0][price]=p` -> lists. Values stay strings, as Stripe receives them."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY.match(key)
        if not m:
            raise StripeAPIError(400, f"Invalid parameter name: {key}", param=key)
        path = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: Any = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    child: Any = [] if path[i + 1] == "" else {}
                    node.append(child)
                    node = child
                continue
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if nxt is None or not isinstance(nxt, dict | list):
                    nxt = [] if path[i + 1] == "" else {}
                    node[part] = nxt
                node = nxt
    return _listify(root)


def _listify(value: Any) -> Any:
    """`{"0": a, "1": b}` (from `x[0]=a&x[1]=b`) -> [a, b]."""
    if isinstance(value, dict):
        out = {k: _listify(v) for k, v in value.items()}
        if out and all(k.isdigit() for k in out):
            return [out[k] for k in sorted(out, key=int)]
        return out
    if isinstance(value, list):
        return [_listify(v) for v in value]
    return value


def _check_keys(params: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed_set = set(allowed)
    for key in params:
        if key not in allowed_set:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def _int_param(params: dict[str, Any], name: str, *, positive: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise StripeAPIError(400, f"Invalid integer: {raw}", param=name) from None
    if positive and value <= 0:
        raise StripeAPIError(400, "Invalid positive integer", param=name)
    return value


def _in_steps(amount: int, currency: str) -> None:
    """Stripe's rule for three-decimal currencies (last digit 0) and ISK/UGX (whole units)."""
    if amount % step(currency):
        raise StripeAPIError(
            400,
            f"Amounts in {currency.upper()} must be a multiple of {step(currency)} (its smallest unit "
            f"Stripe accepts); {amount} is not",
            param="amount",
            code="invalid_charge_amount",
        )


def _bool_param(params: dict[str, Any], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise StripeAPIError(400, f"Invalid boolean: {raw}", param=name)


def _metadata(params: dict[str, Any], current: dict[str, str] | None = None) -> dict[str, str]:
    """Merge `metadata[...]` into `current`: "" unsets a key; Stripe's size limits apply."""
    out = dict(current or {})
    given = params.get("metadata")
    if given is None:
        return out
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise StripeAPIError(400, "Invalid object", param="metadata")
    for key, value in given.items():
        if len(key) > 40:
            raise StripeAPIError(400, "Metadata keys can have up to 40 characters", param=f"metadata[{key}]")
        if not isinstance(value, str):
            raise StripeAPIError(400, "Invalid string", param=f"metadata[{key}]")
        if len(value) > 500:
            raise StripeAPIError(
                400, "Metadata values can have up to 500 characters", param=f"metadata[{key}]"
            )
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    if len(out) > 50:
        raise StripeAPIError(400, "Metadata can have up to 50 keys", param="metadata")
    return out


# --- search -------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"\s*(?:(?P<field>[a-z_]+)|metadata\[['\"](?P<meta>[^'\"]+)['\"]\])\s*(?P<op>:|~)\s*"
    r"'(?P<value>(?:[^'\\]|\\.)*)'\s*"
)


def parse_search(query: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Stripe's search language (the part customers need): `field:'v'`, `field~'v'`,
    `metadata['k']:'v'`, joined by AND or OR (not both). Returns (joiner, clauses)."""
    clauses: list[tuple[str, str, str]] = []
    joiners: set[str] = set()
    pos = 0
    query = query.strip()
    while pos < len(query):
        m = _CLAUSE.match(query, pos)
        if not m:
            raise StripeAPIError(
                400, f"Invalid search query '{query}': could not parse at position {pos}", param="query"
            )
        field = f"metadata.{m.group('meta')}" if m.group("meta") else m.group("field")
        value = re.sub(r"\\(.)", r"\1", m.group("value"))
        clauses.append((field, m.group("op"), value))
        pos = m.end()
        joiner = re.match(r"(AND|OR)\s+", query[pos:])
        if joiner:
            joiners.add(joiner.group(1))
            pos += joiner.end()
    if not clauses:
        raise StripeAPIError(400, "query is required", param="query")
    if len(joiners) > 1:
        raise StripeAPIError(400, "Search queries cannot mix AND and OR", param="query")
    return (joiners.pop() if joiners else "AND"), clauses


_SEARCHABLE = frozenset({"email", "name", "phone", "created"})


def _matches(obj: dict[str, Any], field: str, op: str, value: str) -> bool:
    if field.startswith("metadata."):
        actual: Any = (obj.get("metadata") or {}).get(field.split(".", 1)[1])
    else:
        if field not in _SEARCHABLE:
            raise StripeAPIError(400, f"Field '{field}' is an unsupported search field", param="query")
        actual = obj.get(field)
    if actual is None:
        return False
    if op == "~":
        return value.lower() in str(actual).lower()
    return str(actual).lower() == value.lower()


# --- state --------------------------------------------------------------------------


class PaymentsState:
    """Customers, charges, payment intents, refunds, disputes, events, idempotency keys
    and the webhook endpoint, as Stripe would hold them for one account."""

    def __init__(self, *, clock: Callable[[], float] = time.time, rng_seed: int = 7):
        self._lock = threading.RLock()
        self._clock = clock
        self._rng = random.Random(rng_seed)
        self.account: dict[str, Any] = {
            "id": "acct_1NwThNorthwind0",
            "object": "account",
            "business_profile": {
                "name": "Northwind",
                "support_email": "support@northwind.example",
                "url": "https://northwind.example",
            },
            "business_type": "company",
            "charges_enabled": True,
            "payouts_enabled": True,
            "country": "US",
            "default_currency": "usd",
            "email": "billing@northwind.example",
            "settings": {"payments": {"statement_descriptor": "NORTHWIND"}},
            "type": "standard",
        }
        self.customers: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        # Idempotency-Key -> (request fingerprint, status, body, stored at)
        self.idempotency: dict[str, tuple[str, int, dict[str, Any], float]] = {}
        self.in_flight: set[str] = set()  # keys whose first request is still running
        # Tests set this to a callable run while a keyed request is in flight (to overlap two).
        self.hold_in_flight: Callable[[], None] | None = None
        self.webhook: dict[str, Any] = {"url": None, "secret": "whsec_" + self._random(32)}
        self.deliveries: list[dict[str, Any]] = []
        # The balance (connectors.payments.balance): transactions by id, payouts, and which paid out which.
        self.balance_txns: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.paid_out_by: dict[str, str] = {}

    # ids and time

    def _random(self, n: int) -> str:
        return "".join(self._rng.choice(_ID_CHARS) for _ in range(n))

    def new_id(self, prefix: str, n: int = 24) -> str:
        with self._lock:
            return f"{prefix}_{self._random(n)}"

    def now(self) -> int:
        return int(self._clock())

    # creation (seed and writes)

    def add_customer(
        self,
        *,
        name: str,
        email: str,
        currency: str = "usd",
        created: int | None = None,
        locale: str = "en-US",
        phone: str | None = None,
        address: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            cid = self.new_id("cus", 14)
            customer = {
                "id": cid,
                "object": "customer",
                "address": address,
                "balance": 0,
                "created": created or self.now(),
                "currency": currency,
                "default_source": None,
                "delinquent": False,
                "description": None,
                "discount": None,
                "email": email,
                "invoice_prefix": cid[4:12].upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
                "livemode": False,
                "metadata": dict(metadata or {}),
                "name": name,
                "phone": phone,
                "preferred_locales": [locale],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
            self.customers[cid] = customer
            return copy.deepcopy(customer)

    def add_charge(
        self,
        *,
        customer_id: str,
        amount: int,
        currency: str,
        description: str,
        created: int | None = None,
        card: tuple[str, str] = ("visa", "4242"),
        metadata: dict[str, str] | None = None,
        statement_descriptor: str = "NORTHWIND",
    ) -> dict[str, Any]:
        """A succeeded card payment: a payment intent and its charge."""
        with self._lock:
            customer = self.customers[customer_id]
            created = created or self.now()
            pi_id, ch_id, pm_id = self.new_id("pi"), self.new_id("ch"), self.new_id("pm")
            brand, last4 = card
            self.payment_intents[pi_id] = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": amount,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "created": created,
                "currency": currency,
                "customer": customer_id,
                "description": description,
                "last_payment_error": None,
                "latest_charge": ch_id,
                "livemode": False,
                "metadata": dict(metadata or {}),
                "payment_method": pm_id,
                "payment_method_types": ["card"],
                "receipt_email": customer["email"],
                "statement_descriptor": None,
                "status": "succeeded",
            }
            self.charges[ch_id] = {
                "id": ch_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "balance_transaction": self.new_id("txn"),
                "billing_details": {
                    "address": customer.get("address"),
                    "email": customer["email"],
                    "name": customer["name"],
                    "phone": None,
                },
                "calculated_statement_descriptor": statement_descriptor,
                "captured": True,
                "created": created,
                "currency": currency,
                "customer": customer_id,
                "description": description,
                "disputed": False,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": dict(metadata or {}),
                "outcome": {
                    "network_status": "approved_by_network",
                    "reason": None,
                    "risk_level": "normal",
                    "seller_message": "Payment complete.",
                    "type": "authorized",
                },
                "paid": True,
                "payment_intent": pi_id,
                "payment_method": pm_id,
                "payment_method_details": {
                    "card": {
                        "brand": brand,
                        "country": "US",
                        "exp_month": 8,
                        "exp_year": 2028,
                        "funding": "credit",
                        "last4": last4,
                    },
                    "type": "card",
                },
                "receipt_email": customer["email"],
                "receipt_number": None,
                "refunded": False,
                "statement_descriptor": None,
                "status": "succeeded",
            }
            return copy.deepcopy(self.charges[ch_id])

    def create_refund(self, params: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """POST /v1/refunds with Stripe's validation; moves the charge's refunded amount."""
        _check_keys(
            params,
            (
                "amount",
                "charge",
                "payment_intent",
                "reason",
                "metadata",
                "expand",
                "instructions_email",
                "refund_application_fee",
                "reverse_transfer",
            ),
        )
        with self._lock:
            charge_id = params.get("charge")
            pi_id = params.get("payment_intent")
            if not charge_id and not pi_id:
                raise StripeAPIError(
                    400,
                    "One of the following params should be provided for this request: payment_intent or charge.",
                )
            if not charge_id:
                pi = self.payment_intents.get(str(pi_id))
                if pi is None:
                    raise missing("payment_intent", str(pi_id), param="payment_intent", status=400)
                charge_id = pi["latest_charge"]
            charge = self.charges.get(str(charge_id))
            if charge is None:
                raise missing("charge", str(charge_id), param="charge", status=400)
            reason = params.get("reason") or None
            if reason is not None and reason not in REFUND_REASONS:
                raise StripeAPIError(
                    400,
                    "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                    param="reason",
                )
            metadata = _metadata(params)
            left = charge["amount"] - charge["amount_refunded"]
            if left <= 0:
                raise StripeAPIError(
                    400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
                )
            amount = _int_param(params, "amount", positive=True)
            if amount is None:
                amount = left
            _in_steps(amount, charge["currency"])
            if amount > left:
                cur = charge["currency"]
                raise StripeAPIError(
                    400,
                    f"Refund amount ({money(amount, cur)}) is greater than unrefunded amount on charge "
                    f"({money(left, cur)})",
                    param="amount",
                    code="amount_too_large",
                )
            refund = self._refund(charge, amount, reason, metadata, created=created)
            self.record_event("charge.refunded", self.charges[charge["id"]])
            return copy.deepcopy(refund)

    def _refund(
        self,
        charge: dict[str, Any],
        amount: int,
        reason: str | None,
        metadata: dict[str, str],
        *,
        created: int | None = None,
        arn: str | None = None,
    ) -> dict[str, Any]:
        rid = self.new_id("re")
        refund = {
            "id": rid,
            "object": "refund",
            "amount": amount,
            "balance_transaction": self.new_id("txn"),
            "charge": charge["id"],
            "created": created or self.now(),
            "currency": charge["currency"],
            "destination_details": {
                "card": {
                    "reference": arn,
                    "reference_status": "available" if arn else "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[rid] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        for dispute in self.disputes.values():
            if dispute["charge"] == charge["id"]:
                dispute["is_charge_refundable"] = not charge["refunded"]
        return refund

    def add_refund(
        self, charge_id: str, *, amount: int | None = None, reason: str | None, created: int, arn: str | None
    ) -> dict[str, Any]:
        """A refund made in the past (seed data), with its bank reference if it has one."""
        with self._lock:
            charge = self.charges[charge_id]
            left = charge["amount"] - charge["amount_refunded"]
            return copy.deepcopy(self._refund(charge, amount or left, reason, {}, created=created, arn=arn))

    def open_dispute(
        self,
        charge_id: str,
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
        created: int | None = None,
        due_in_days: int = 21,
    ) -> dict[str, Any]:
        """The card issuer opened a chargeback: the dispute needs a response by its due date."""
        with self._lock:
            charge = self.charges.get(charge_id)
            if charge is None:
                raise missing("charge", charge_id, param="charge", status=400)
            created = created or self.now()
            did = self.new_id("dp")
            dispute = {
                "id": did,
                "object": "dispute",
                "amount": amount or charge["amount"],
                "balance_transactions": [],
                "charge": charge_id,
                "created": created,
                "currency": charge["currency"],
                "evidence": {name: None for name in EVIDENCE_FIELDS},
                "evidence_details": {
                    "due_by": created + due_in_days * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": not charge["refunded"],
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "payment_method_details": {
                    "card": {"brand": charge["payment_method_details"]["card"]["brand"]}
                },
                "reason": reason,
                "status": "needs_response",
            }
            self.disputes[did] = dispute
            charge["disputed"] = True
            return copy.deepcopy(dispute)

    def update_dispute(self, dispute_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/disputes/{id}: stage or submit evidence."""
        _check_keys(params, ("evidence", "metadata", "submit", "expand"))
        evidence = params.get("evidence") or {}
        if not isinstance(evidence, dict):
            raise StripeAPIError(400, "Invalid object", param="evidence")
        _check_keys(evidence, EVIDENCE_FIELDS, prefix="evidence")
        submit = _bool_param(params, "submit") is not False  # Stripe: true, the default
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise missing("dispute", dispute_id)
            if dispute["status"] in CLOSED_DISPUTE:
                raise StripeAPIError(
                    400, f"This dispute is already closed ({dispute['status']}) and can no longer be updated."
                )
            if dispute["status"] in SUBMITTED_DISPUTE and (evidence or submit):
                raise StripeAPIError(
                    400,
                    "Evidence for this dispute has already been submitted; it can no longer be changed.",
                    param="evidence" if evidence else "submit",
                )
            for name, value in evidence.items():
                if not isinstance(value, str):
                    raise StripeAPIError(400, "Invalid string", param=f"evidence[{name}]")
                dispute["evidence"][name] = value or None
            dispute["metadata"] = _metadata(params, dispute["metadata"])
            details = dispute["evidence_details"]
            details["has_evidence"] = any(v for v in dispute["evidence"].values())
            if submit:
                dispute["status"] = (
                    "warning_under_review" if dispute["status"].startswith("warning") else "under_review"
                )
                details["submission_count"] += 1
                self.record_event("charge.dispute.updated", dispute)
            return self.dispute(dispute_id)

    def record_event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            eid = self.new_id("evt")
            event = {
                "id": eid,
                "object": "event",
                "api_version": API_VERSION,
                "created": self.now(),
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 1 if self.webhook["url"] else 0,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }
            self.events[eid] = event
            return copy.deepcopy(event)

    def configure_webhook(self, **changes: str | None) -> dict[str, Any]:
        """Where events are delivered (`url`, None for nowhere) and the endpoint's signing
        secret (`secret`), as a Stripe webhook endpoint holds them; leaves out what is not given."""
        with self._lock:
            if "url" in changes:
                self.webhook["url"] = changes["url"]
            if changes.get("secret"):
                self.webhook["secret"] = changes["secret"]
            return dict(self.webhook)

    # reads

    def _get(self, table: dict[str, dict[str, Any]], kind: str, object_id: str) -> dict[str, Any]:
        with self._lock:
            obj = table.get(object_id)
            if obj is None:
                raise missing(kind, object_id)
            return copy.deepcopy(obj)

    def customer(self, object_id: str) -> dict[str, Any]:
        return self._get(self.customers, "customer", object_id)

    def charge(self, object_id: str) -> dict[str, Any]:
        return self._get(self.charges, "charge", object_id)

    def payment_intent(self, object_id: str) -> dict[str, Any]:
        return self._get(self.payment_intents, "payment_intent", object_id)

    def refund(self, object_id: str) -> dict[str, Any]:
        return self._get(self.refunds, "refund", object_id)

    def dispute(self, object_id: str) -> dict[str, Any]:
        with self._lock:
            dispute = self._get(self.disputes, "dispute", object_id)
        details = dispute["evidence_details"]
        details["past_due"] = dispute["status"] == "needs_response" and self.now() > details["due_by"]
        return dispute

    def event(self, object_id: str) -> dict[str, Any]:
        return self._get(self.events, "event", object_id)

    def newest_first(
        self, table: dict[str, dict[str, Any]], keep: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Stripe's list order: newest first; among equal `created`, the later one first."""
        with self._lock:
            items = [copy.deepcopy(o) for o in reversed(list(table.values())) if keep is None or keep(o)]
        return sorted(items, key=lambda o: o["created"], reverse=True)

    def search_customers(self, query: str) -> list[dict[str, Any]]:
        joiner, clauses = parse_search(query)
        combine = all if joiner == "AND" else any
        return [
            c
            for c in self.newest_first(self.customers)
            if combine(_matches(c, field, op, value) for field, op, value in clauses)
        ]

    # idempotency

    def idempotent(
        self, key: str, fingerprint: str, run: Callable[[], tuple[int, dict[str, Any]]]
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, replayed). A key is bound to the first request's parameters; only
        successful answers are stored (a request that failed validation never ran, as in Stripe)."""
        if len(key) > 255:
            raise StripeAPIError(
                400, "Idempotency keys can be at most 255 characters long.", type="idempotency_error"
            )
        with self._lock:
            earlier = self.idempotency.get(key)
            if earlier is not None and self._clock() - earlier[3] >= IDEMPOTENCY_TTL:
                del self.idempotency[key]  # Stripe prunes keys once they are 24 hours old
                earlier = None
            if key in self.in_flight:
                raise StripeAPIError(
                    409,
                    "There is currently another in-progress request using this Idempotent Key (that "
                    "probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    type="idempotency_error",
                    code="idempotency_key_in_use",
                    headers={"Stripe-Should-Retry": "true"},
                )
            if earlier is not None:
                stored_fingerprint, status, body, _ = earlier
                if stored_fingerprint != fingerprint:
                    raise StripeAPIError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{key}' if you meant to execute a "
                        "different request.",
                        type="idempotency_error",
                    )
                return status, copy.deepcopy(body), True
            self.in_flight.add(key)
        try:
            if self.hold_in_flight is not None:
                self.hold_in_flight()
            status, body = run()
        finally:
            with self._lock:
                self.in_flight.discard(key)
        with self._lock:
            if 200 <= status < 300:
                self.idempotency[key] = (fingerprint, status, copy.deepcopy(body), self._clock())
            return status, body, False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(
                {
                    "customers": list(self.customers.values()),
                    "charges": list(self.charges.values()),
                    "payment_intents": list(self.payment_intents.values()),
                    "refunds": list(self.refunds.values()),
                    "disputes": list(self.disputes.values()),
                    "events": list(self.events.values()),
                    "idempotency_keys": sorted(self.idempotency),
                    "webhook": {"url": self.webhook["url"]},
                    "deliveries": self.deliveries,
                }
            )


def stripe_error_body(status: int) -> dict[str, Any]:
    """Stripe's bodies for injected faults and auth failures."""
    if status == 401:
        return {
            "error": {"message": "Invalid API Key provided: sk_test_****", "type": "invalid_request_error"}
        }
    if status == 429:
        return {
            "error": {
                "message": "Too many requests hit the API too quickly. We recommend an exponential backoff "
                "of your requests.",
                "type": "invalid_request_error",
                "code": "rate_limit",
            }
        }
    if status >= 500:
        return {"error": {"message": "An unknown error occurred", "type": "api_error"}}
    return {"error": {"message": f"Injected error {status}", "type": "invalid_request_error"}}


# --- the app ------------------------------------------------------------------------

_LIST_PARAMS = ("limit", "starting_after", "ending_before", "expand", "created")


def _state(request: Request) -> PaymentsState:
    """The simulator's state, on `app.state` of both the outer app and the API app."""
    state: PaymentsState = request.app.state.payments
    return state


async def _stripe_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Request-Id", "req_" + _state(request)._random(14))
    response.headers.setdefault("Stripe-Version", request.headers.get("stripe-version") or API_VERSION)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        message = (
            f"Unrecognized request URL ({request.method}: {relative_path(request)}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=404)
    return JSONResponse(
        {"error": {"message": str(exc.detail), "type": "invalid_request_error"}},
        status_code=exc.status_code,
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"error": {"message": str(exc.errors()), "type": "invalid_request_error"}}, status_code=400
    )


def _render(request: Request, obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("object") == "charge":
        obj = {**obj, "receipt_url": f"{mount_base(request)}/receipts/{obj['id']}"}
    return obj


def _query(request: Request, allowed: Iterable[str]) -> dict[str, Any]:
    params = decode_form(request.query_params.multi_items())
    _check_keys(params, allowed)
    return params


async def _form(request: Request) -> dict[str, Any]:
    raw = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and ctype != "application/x-www-form-urlencoded":
        raise StripeAPIError(
            400,
            f"Invalid request: unsupported Content-Type {ctype or 'none'}. If error persists and you need "
            "assistance, please contact support@stripe.com.",
        )
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise StripeAPIError(400, "Invalid request: the body is not UTF-8") from None
    return decode_form(pairs)


def _page(request: Request, items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """One page of a Stripe list: `limit` (1-100, default 10) after `starting_after`
    or before `ending_before`, newest first, with `has_more`."""
    limit = _int_param(params, "limit")
    limit = 10 if limit is None else limit
    if limit > 100:
        message = f"This value must be less than or equal to 100 (it currently is '{limit}')"
        raise StripeAPIError(400, message, param="limit")
    if limit < 1:
        raise StripeAPIError(400, "This value must be greater than or equal to 1.", param="limit")
    kind = url.removeprefix("/v1/").removesuffix("s")  # "/v1/payment_intents" -> "payment_intent"
    ids = [o["id"] for o in items]
    for name in ("starting_after", "ending_before"):
        cursor = params.get(name)
        if cursor and cursor not in ids:
            raise missing(kind, str(cursor), param=name, status=400)
    if params.get("starting_after"):
        items = items[ids.index(params["starting_after"]) + 1 :]
    elif params.get("ending_before"):
        items = items[: ids.index(params["ending_before"])][-limit:]
    return {
        "object": "list",
        "data": [_render(request, o) for o in items[:limit]],
        "has_more": len(items) > limit,
        "url": url,
    }


async def _write(request: Request, run: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    """A POST with Stripe's idempotency: the body is parsed, then run once per key."""
    params = await _form(request)
    key = request.headers.get("idempotency-key")
    if not key:
        return JSONResponse(_render(request, run(params)))
    fingerprint = json.dumps([request.method, relative_path(request), params], sort_keys=True)
    status, body, replayed = _state(request).idempotent(key, fingerprint, lambda: (200, run(params)))
    headers = {"Idempotency-Key": key}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(_render(request, body), status_code=status, headers=headers)


def _has(obj: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether `obj` has each of the given field values (a falsy value matches anything)."""
    return all(not value or obj[name] == value for name, value in wanted.items())


# --- routers per resource --------------------------------------------------------------

account_router = APIRouter()


@account_router.get("/v1/account")
async def get_account(request: Request) -> Any:
    return _state(request).account


customers_router = APIRouter()


@customers_router.get("/v1/customers/search")
async def search_customers(request: Request) -> Any:
    params = _query(request, ("query", "limit", "page", "expand"))
    q = str(params.get("query") or "")
    if not q.strip():
        raise StripeAPIError(400, "Missing required param: query.", param="query", code="parameter_missing")
    limit = _int_param(params, "limit") or 10
    offset = int(params["page"]) if str(params.get("page") or "").isdigit() else 0
    results = _state(request).search_customers(q)
    more = offset + limit < len(results)
    return {
        "object": "search_result",
        "data": results[offset : offset + limit],
        "has_more": more,
        "next_page": str(offset + limit) if more else None,
        "url": "/v1/customers/search",
    }


@customers_router.get("/v1/customers")
async def list_customers(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "email", "test_clock"))
    email = params.get("email")
    state = _state(request)
    items = state.newest_first(state.customers, (lambda c: c["email"] == email) if email else None)
    return _page(request, items, params, "/v1/customers")


@customers_router.get("/v1/customers/{customer_id}")
async def get_customer(customer_id: str, request: Request) -> Any:
    _query(request, ("expand",))
    return _state(request).customer(customer_id)


charges_router = APIRouter()


@charges_router.get("/v1/charges")
async def list_charges(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "customer", "payment_intent", "transfer_group"))
    wanted = {"customer": params.get("customer"), "payment_intent": params.get("payment_intent")}
    state = _state(request)
    items = state.newest_first(state.charges, lambda c: _has(c, wanted))
    return _page(request, items, params, "/v1/charges")


@charges_router.get("/v1/charges/{charge_id}")
async def get_charge(charge_id: str, request: Request) -> Any:
    _query(request, ("expand",))
    return _render(request, _state(request).charge(charge_id))


@charges_router.get("/v1/payment_intents")
async def list_payment_intents(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "customer"))
    customer = params.get("customer")
    state = _state(request)
    items = state.newest_first(state.payment_intents, lambda p: _has(p, {"customer": customer}))
    return _page(request, items, params, "/v1/payment_intents")


@charges_router.get("/v1/payment_intents/{payment_intent_id}")
async def get_payment_intent(payment_intent_id: str, request: Request) -> Any:
    _query(request, ("expand", "client_secret"))
    return _state(request).payment_intent(payment_intent_id)


refunds_router = APIRouter()


@refunds_router.get("/v1/refunds")
async def list_refunds(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "charge", "payment_intent"))
    wanted = {"charge": params.get("charge"), "payment_intent": params.get("payment_intent")}
    state = _state(request)
    items = state.newest_first(state.refunds, lambda r: _has(r, wanted))
    return _page(request, items, params, "/v1/refunds")


@refunds_router.post("/v1/refunds")
async def create_refund(request: Request) -> Response:
    return await _write(request, _state(request).create_refund)


@refunds_router.get("/v1/refunds/{refund_id}")
async def get_refund(refund_id: str, request: Request) -> Any:
    _query(request, ("expand",))
    return _state(request).refund(refund_id)


disputes_router = APIRouter()


@disputes_router.get("/v1/disputes")
async def list_disputes(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "charge", "payment_intent"))
    wanted = {"charge": params.get("charge"), "payment_intent": params.get("payment_intent")}
    state = _state(request)
    items = [state.dispute(d["id"]) for d in state.newest_first(state.disputes, lambda d: _has(d, wanted))]
    return _page(request, items, params, "/v1/disputes")


@disputes_router.get("/v1/disputes/{dispute_id}")
async def get_dispute(dispute_id: str, request: Request) -> Any:
    _query(request, ("expand",))
    return _state(request).dispute(dispute_id)


@disputes_router.post("/v1/disputes/{dispute_id}")
async def update_dispute(dispute_id: str, request: Request) -> Response:
    state = _state(request)
    return await _write(request, lambda params: state.update_dispute(dispute_id, params))


events_router = APIRouter()


@events_router.get("/v1/events")
async def list_events(request: Request) -> Any:
    params = _query(request, (*_LIST_PARAMS, "type", "types", "delivery_success"))
    wanted = params.get("type")
    state = _state(request)
    items = state.newest_first(state.events, lambda e: not wanted or e["type"] == wanted)
    return _page(request, items, params, "/v1/events")


@events_router.get("/v1/events/{event_id}")
async def get_event(event_id: str, request: Request) -> Any:
    return _state(request).event(event_id)


# --- the outer app's control endpoints and public pages (no faults, no auth) -----------


async def _control_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise StripeAPIError(400, "the control request body is not JSON") from None
    if not isinstance(data, dict):
        raise StripeAPIError(400, "the control request body must be a JSON object")
    return data


control_router = APIRouter(include_in_schema=False)


@control_router.get("/_webhook")
async def get_webhook(request: Request) -> Any:
    state = _state(request)
    with state._lock:
        return copy.deepcopy({**state.webhook, "deliveries": state.deliveries})


@control_router.post("/_webhook")
async def set_webhook(request: Request) -> Any:
    data = await _control_body(request)
    unknown = set(data) - {"url", "secret"}
    if unknown:
        raise StripeAPIError(400, f"unknown fields: {', '.join(sorted(unknown))}", param=sorted(unknown)[0])
    url = data.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise StripeAPIError(400, "url must be an http(s) URL or null", param="url")
    secret = data.get("secret")
    if secret is not None and not (isinstance(secret, str) and secret):
        raise StripeAPIError(400, "secret must be a non-empty string", param="secret")
    return _state(request).configure_webhook(**data)


@control_router.post("/_emit/dispute_created")
async def emit_dispute_created(request: Request) -> Any:
    data = await _control_body(request)
    state = _state(request)
    if data.get("dispute"):
        dispute = state.dispute(str(data["dispute"]))
    else:
        charge_id = data.get("charge") or _default_dispute_charge(state)
        if not charge_id:
            raise StripeAPIError(400, "give a charge to dispute", param="charge")
        amount = data.get("amount")
        if amount is not None and (not isinstance(amount, int) or amount <= 0):
            raise StripeAPIError(400, "amount must be a positive integer (cents)", param="amount")
        dispute = state.open_dispute(
            str(charge_id), reason=str(data.get("reason") or "fraudulent"), amount=amount
        )
    event = state.record_event("charge.dispute.created", dispute)
    delivery = await _deliver(state, event)
    return {"event": event, "delivery": delivery}


@control_router.get("/receipts/{charge_id}")
async def receipt(charge_id: str, request: Request) -> Response:
    """The public page a charge's receipt_url opens (no API key, as on pay.stripe.com)."""
    try:
        charge = _state(request).charge(charge_id)
    except StripeAPIError:
        return HTMLResponse("<h1>Receipt not found</h1>", status_code=404)
    paid = html.escape(money(charge["amount"], charge["currency"]))
    refunded = money(charge["amount_refunded"], charge["currency"]) if charge["amount_refunded"] else None
    card = charge["payment_method_details"]["card"]
    lines = [
        f"<h1>Receipt from Northwind</h1><p>Amount paid: <strong>{paid}</strong></p>",
        f"<p>{html.escape(charge['description'] or '')}</p>",
        f"<p>Paid with {html.escape(card['brand'].title())} ending in {html.escape(card['last4'])}</p>",
    ]
    if refunded:
        lines.append(f"<p>Refunded: {html.escape(refunded)}</p>")
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Northwind receipt</title></head>"
        f"<body><main>{''.join(lines)}</main></body></html>"
    )


async def _deliver(state: PaymentsState, event: dict[str, Any]) -> dict[str, Any] | None:
    """POST the event to the webhook URL, signed as Stripe signs it; None if none is set."""
    with state._lock:
        url, secret = state.webhook["url"], state.webhook["secret"]
    if not url:
        return None
    payload = json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        webhooks.HEADER: webhooks.sign(payload, secret, state.now()),
    }
    record: dict[str, Any] = {"event": event["id"], "type": event["type"], "url": url}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(url, content=payload, headers=headers)
        record["status"] = response.status_code
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    with state._lock:
        state.deliveries.append(record)
        if record.get("status", 0) // 100 == 2:
            state.events[event["id"]]["pending_webhooks"] = 0
    return record


_API_ROUTERS = (
    account_router,
    customers_router,
    charges_router,
    refunds_router,
    disputes_router,
    events_router,
)


def create_app(
    state: PaymentsState | None = None,
    *,
    seed: bool = True,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> FastAPI:
    """A Stripe-shaped ASGI app. `seed` fills an empty state with the demo data; `auth`
    sets the accepted secret keys (e.g. `SimulatorAuth(bearer=frozenset({"sk_test_..."}))`;
    default: anything); `clock` (unix seconds) stamps objects and webhook signatures. The
    state, faults and auth are also on `app.state` for in-process tests."""
    state = state if state is not None else PaymentsState(clock=clock or time.time)
    if seed and not state.customers:
        seed_data.seed(state)
    if webhook_url is not None:
        state.webhook["url"] = webhook_url
    if webhook_secret is not None:
        state.webhook["secret"] = webhook_secret
    faults = faults or Faults()
    auth = auth or SimulatorAuth()

    # The vendor API lives in `api`, behind the fault and auth layer; the outer app adds
    # the webhook control endpoints in front of it, so they skip faults and auth like /_faults.
    api = simulator_app(
        "Payments simulator (Stripe API)",
        state_name="payments",
        state=state,
        faults=faults,
        auth=auth,
        error_body=stripe_error_body,
        sleep=sleep,
        error_type=StripeAPIError,
    )
    api.middleware("http")(_stripe_headers)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    for router in _API_ROUTERS:
        api.include_router(router)
    balance.install(api, state, query=_query, page=_page, list_params=_LIST_PARAMS, missing=missing)

    app = FastAPI(title="Payments simulator (Stripe API)", docs_url=None, redoc_url=None)
    app.state.payments = state
    app.state.faults = faults
    app.state.auth = auth
    app.state.api = api
    answer_errors(app, StripeAPIError)
    app.include_router(control_router)
    app.router.routes.append(Mount("", app=api))
    return app


def _default_dispute_charge(state: PaymentsState) -> str | None:
    """For a bare `/_emit/dispute_created`: the newest charge not yet disputed or refunded."""
    for charge in state.newest_first(state.charges):
        if not charge["disputed"] and not charge["refunded"]:
            return str(charge["id"])
    return None
