"""The payments connector, speaking Stripe's REST API (`/v1/...`).

`base_url` is `https://api.stripe.com` (or the demo's `http://127.0.0.1:8000/sim/payments`);
auth is the secret key as a bearer token (`BearerAuth("sk_live_...")`). Stripe takes
form-encoded bodies with nested keys (`metadata[order]=7`, `evidence[uncategorized_text]=...`),
answers list objects (`{"object": "list", "data": [...], "has_more": ...}`) and errors as
`{"error": {"type", "message", "param", "code"}}`. Amounts are integers in the currency's
minor unit (cents), always next to a `currency`.

Writes are exactly-once: the approved action's id goes out as Stripe's `Idempotency-Key`.
Stripe stores the first answer for a key and replays it (`Idempotent-Replayed: true`) to
any retry with the same parameters, so a refund retried after a crash is one refund.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx
from pydantic import Field

from connectors.base import (
    Connector,
    ConnectorError,
    Facts,
    Money,
    about,
    objects,
    operation,
    path_segment,
    tried_before,
)
from connectors.payments import webhooks
from connectors.webhooks import WebhookEvent, lowered

RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]
DisputeStatus = Literal[
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "prevented",
]
Limit = Annotated[int, Field(ge=1, le=100)]
PayoutStatus = Literal["paid", "pending", "in_transit", "canceled", "failed"]

ACTION_KEY = "switchboard_action_id"  # metadata key that ties a Stripe object to the approved action


# --- form encoding ------------------------------------------------------------------


def encode_form(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as `a[b][c]`, lists as `a[0]`, booleans as
    `true`/`false`; None values are left out (Stripe reads "" as "unset")."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, bool):
            out.append((prefix, "true" if value else "false"))
        else:
            out.append((prefix, str(value)))

    walk("", params)
    return out


def _quote_search(value: str) -> str:
    """A value inside single quotes in Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


# --- errors -------------------------------------------------------------------------


def stripe_retry_advice(response: httpx.Response) -> bool | None:
    """Whether Stripe says to retry this answer, as stripe-python decides
    (`stripe/_http_client.py`, `HTTPClient._should_retry`): the `Stripe-Should-Retry`
    header first, then any 409 (an idempotency key still in use, a lock conflict);
    None leaves it to the general rules (429, 5xx)."""
    should = response.headers.get("stripe-should-retry")
    if should == "true":
        return True
    if should == "false":
        return False
    if response.status_code == 409:
        return True
    return None


LISTED_CHARGE_FIELDS = (
    "id",
    "object",
    "amount",
    "amount_captured",
    "amount_refunded",
    "currency",
    "customer",
    "description",
    "status",
    "paid",
    "captured",
    "refunded",
    "disputed",
    "created",
    "payment_intent",
    "invoice",
    "receipt_email",
    "receipt_url",
    "calculated_statement_descriptor",  # what the customer's bank statement shows
    "metadata",
)


class StripeError(ConnectorError):
    """A Stripe error with its machine-readable parts kept, so callers can act on `param`/`code`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message, status=status, retryable=retryable)
        self.type = type
        self.code = code
        self.param = param


# --- the connector ------------------------------------------------------------------


class PaymentsConnector(Connector):
    """Stripe: customers, charges, payment intents, refunds and disputes."""

    kind: ClassVar[str] = "payments"
    description: ClassVar[str] = (
        "Stripe payments: customers, charges, refunds and disputes (amounts in minor units: cents, "
        "whole yen for JPY)."
    )

    MAX_PAGES: ClassVar[int] = 20  # pagination safety net (100 objects a page)

    default_label: ClassVar[str] = "Stripe"
    retry_advice = staticmethod(stripe_retry_advice)
    # Events the endpoint is subscribed to that workflows may start on.
    events: ClassVar[tuple[str, ...]] = ("charge.dispute.created", "charge.refunded")

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """`Stripe-Signature: t=…,v1=…`, HMAC-SHA256 over `"{t}.{body}"`, five minutes' tolerance."""
        webhooks.check(body, lowered(headers).get(webhooks.HEADER.lower()), secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """An Event object; a `charge.dispute.created` brings the dispute as a record."""
        return webhooks.parse(body)

    @classmethod
    def webhook_not_ours(cls, event: WebhookEvent, config: Mapping[str, Any]) -> str | None:
        """A Connect endpoint's one secret signs the events of every connected account, each
        naming its account (`account`); the platform's own events name none. A connection acts
        for `stripe_account` (else the platform): an event of another account is not its own."""
        ours = str(config.get("stripe_account") or "") or None
        if event.account == ours:
            return None
        theirs = f"connected account {event.account}" if event.account else "the platform account"
        mine = f"connected account {ours}" if ours else "the platform account"
        return f"the event happened on {theirs}; this connection acts for {mine}"

    @classmethod
    def facts(cls, data: Any) -> Facts:
        """Customers (id -> email) and charges with what is left to refund, from any Stripe
        object in an answer (a list's `data`, an expanded `customer`)."""
        customers: dict[str, str] = {}
        charges: dict[str, dict[str, Any]] = {}
        for node in objects(data):
            kind, oid = node.get("object"), node.get("id")
            if not isinstance(oid, str) or not oid:
                continue
            if kind == "customer":
                customers[oid] = str(node.get("email") or "").lower()
            elif kind == "charge":
                owner = node.get("customer")
                charges[oid] = {
                    "customer": owner.get("id") if isinstance(owner, dict) else owner,
                    "amount": node.get("amount"),
                    "amount_refunded": node.get("amount_refunded") or 0,
                    "currency": node.get("currency"),
                }
        return {"customers": customers, "charges": charges}

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        version = self.config.get("stripe_version")
        if version:
            headers["Stripe-Version"] = str(version)
        account = self.config.get("stripe_account")
        if account:  # Connect: act on a connected account
            headers["Stripe-Account"] = str(account)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    # --- plumbing ---

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Iterable[tuple[str, str]] | None = None,
        form: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        what: str = "",
    ) -> httpx.Response:
        content = None
        headers = self._headers(idempotency_key)
        if form is not None:
            content = urlencode(encode_form(form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.send(
            method, path, what=what, params=list(params) if params else None, content=content, headers=headers
        )

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.json_object(await self._send(method, path, **kwargs))

    def error(self, response: httpx.Response, what: str = "") -> StripeError:
        """Stripe's own words, plus which parameter it objected to."""
        status = response.status_code
        err: dict[str, Any] = {}
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                err = body["error"]
        except ValueError:
            pass
        message = str(err.get("message") or " ".join(response.text.split())[:200] or response.reason_phrase)
        etype, code, param = err.get("type"), err.get("code"), err.get("param")
        tags = ", ".join(str(x) for x in (etype, code and f"code {code}", param and f"param {param}") if x)
        detail = f"{message} ({tags})" if tags else message
        if status == 401:
            text = f"{self.label} rejected the API key (401: {detail}); check the connection's secret key"
        elif status == 403:
            text = f"{self.label} refused access (403: {detail}); the key lacks permission for this"
        elif code == "idempotency_key_in_use" or (etype == "idempotency_error" and status == 409):
            text = (
                f"{self.label} is still running an earlier request with the same idempotency key "
                f"({status}: {detail}); retry the same action later"
            )
        elif etype == "idempotency_error":
            text = (
                f"{self.label} refused a reused idempotency key ({status}: {detail}); the same approved "
                "action was sent with different arguments"
            )
        else:
            text = f"{self.label} answered {status}: {detail}{about(what)}"
        advised = stripe_retry_advice(response)
        retryable = advised if advised is not None else status in (408, 425, 429) or status >= 500
        return StripeError(text, status=status, retryable=retryable, type=etype, code=code, param=param)

    async def _list(
        self, path: str, params: list[tuple[str, str]], *, limit: int, what: str = ""
    ) -> list[dict[str, Any]]:
        """Follow Stripe's cursor pagination (`starting_after`) until `limit` objects or the end."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(self.MAX_PAGES):
            page = [*params, ("limit", str(min(100, limit - len(items))))]
            if cursor:
                page.append(("starting_after", cursor))
            data = await self._json("GET", path, params=page, what=what)
            batch = [x for x in data.get("data") or [] if isinstance(x, dict)]
            items.extend(batch)
            if not data.get("has_more") or not batch or len(items) >= limit:
                break
            cursor = str(batch[-1].get("id"))
        return items[:limit]

    # --- reads ---

    @operation(effect="read")
    async def find_customer(self, email: str) -> dict[str, Any] | None:
        """Look up a Stripe customer by exact email address; null if there is none. Use its id
        with list_charges."""
        wanted = email.strip()
        if not wanted:
            raise ConnectorError("find_customer needs an email address")
        data = await self._json(
            "GET",
            "/v1/customers/search",
            params=[("query", f"email:'{_quote_search(wanted)}'"), ("limit", "10")],
        )
        for customer in data.get("data") or []:
            if str(customer.get("email") or "").lower() == wanted.lower():
                found: dict[str, Any] = customer
                return found
        return None

    @operation(effect="read")
    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        """Fetch one customer (cus_...): name, email, currency, balance, metadata."""
        return await self._json("GET", f"/v1/customers/{_id(customer_id)}", what=f"customer {customer_id}")

    @operation(effect="read")
    async def list_charges(self, customer_id: str, limit: Limit = 10) -> list[dict[str, Any]]:
        """A customer's charges, newest first: amount and amount_refunded in cents, currency,
        description, status, refunded and disputed flags, created (unix time). Two charges of the
        same amount minutes apart are the usual sign of a duplicate charge."""
        charges = await self._list(
            "/v1/charges", [("customer", customer_id)], limit=limit, what=f"customer {customer_id}"
        )
        # A Stripe charge carries ~60 fields (billing details, outcome, card checks): the list keeps
        # what it says it gives, so a customer's ten charges fit in what a model reads of a result.
        return [{k: c[k] for k in LISTED_CHARGE_FIELDS if k in c} for c in charges]

    @operation(effect="read")
    async def get_charge(self, charge_id: str) -> dict[str, Any]:
        """Fetch one charge (ch_...): amount, amount_refunded (cents), currency, status, refunded,
        disputed, payment_intent, card brand and last4."""
        return await self._json("GET", f"/v1/charges/{_id(charge_id)}", what=f"charge {charge_id}")

    @operation(effect="read")
    async def get_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """Fetch one payment intent (pi_...): amount, amount_received (cents), status, latest_charge."""
        return await self._json(
            "GET", f"/v1/payment_intents/{_id(payment_intent_id)}", what=f"payment intent {payment_intent_id}"
        )

    @operation(effect="read")
    async def list_refunds(self, charge_id: str) -> list[dict[str, Any]]:
        """Refunds of one charge, newest first: amount (cents), reason, status, created, and the
        bank reference (destination_details.card.reference, the ARN) a customer's bank can trace."""
        return await self._list(
            "/v1/refunds", [("charge", charge_id)], limit=100 * self.MAX_PAGES, what=f"charge {charge_id}"
        )

    @operation(effect="read")
    async def list_disputes(
        self, limit: Limit = 10, status: DisputeStatus | None = None
    ) -> list[dict[str, Any]]:
        """Disputes (chargebacks), newest first, optionally only those with one status
        (needs_response = evidence is due by evidence_details.due_by)."""
        if status is None:
            return await self._list("/v1/disputes", [], limit=limit)
        # Stripe cannot filter disputes by status: page through and keep the matching ones.
        matching = [
            d
            for d in await self._list("/v1/disputes", [], limit=100 * self.MAX_PAGES)
            if d.get("status") == status
        ]
        return matching[:limit]

    @operation(effect="read")
    async def get_dispute(self, dispute_id: str) -> dict[str, Any]:
        """Fetch one dispute (dp_...): amount, charge, reason, status, evidence and its due date."""
        return await self._json("GET", f"/v1/disputes/{_id(dispute_id)}", what=f"dispute {dispute_id}")

    # --- writes ---

    @operation(
        effect="write",
        idempotency="key",
        money=Money(amount="amount", currency=None, source="charge_id"),
        tags=("refund",),
    )
    async def create_refund(
        self,
        charge_id: str,
        amount: Annotated[int, Field(gt=0)] | None = None,
        reason: RefundReason | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Refund a charge, in full (no amount) or in part (amount in the charge currency's minor
        units, as the charge's own amount: cents, whole yen for JPY; at most what is not refunded
        yet). The money goes back to the card that paid."""
        form: dict[str, Any] = {"charge": charge_id, "amount": amount, "reason": reason}
        if idempotency_key and tried_before():
            # Stripe forgets idempotency keys after 24 hours: an action retried later than
            # that is recognised by the action id it left in its refund's metadata.
            earlier = await self._refund_with_key(charge_id, idempotency_key)
            if earlier is not None:
                if amount is not None and earlier.get("amount") != amount:
                    raise StripeError(
                        f"{self.label} already holds refund {earlier.get('id')} of {earlier.get('amount')} "
                        f"for action {idempotency_key}: a key can only be used again with the same "
                        f"parameters, and this retry asks for amount {amount} (different arguments)",
                        status=400,
                        type="idempotency_error",
                    )
                return {"refund": earlier, "deduplicated": True}
        if idempotency_key:
            form["metadata"] = {ACTION_KEY: idempotency_key}
        response = await self._send(
            "POST", "/v1/refunds", form=form, idempotency_key=idempotency_key, what=f"charge {charge_id}"
        )
        return {"refund": self.json_object(response), "deduplicated": _replayed(response)}

    async def _refund_with_key(self, charge_id: str, key: str) -> dict[str, Any] | None:
        refunds = await self._list(
            "/v1/refunds", [("charge", charge_id)], limit=100 * self.MAX_PAGES, what=f"charge {charge_id}"
        )
        return next((r for r in refunds if (r.get("metadata") or {}).get(ACTION_KEY) == key), None)

    @operation(effect="write", idempotency="key", final="submit")
    async def submit_dispute_evidence(
        self,
        dispute_id: str,
        uncategorized_text: str | None = None,
        customer_email_address: str | None = None,
        product_description: str | None = None,
        submit: bool = True,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Answer a dispute with evidence for the card issuer. submit=true sends it now (it can't
        be changed afterwards); submit=false only saves it as a draft."""
        evidence = {
            "uncategorized_text": uncategorized_text,
            "customer_email_address": customer_email_address,
            "product_description": product_description,
        }
        if all(v is None for v in evidence.values()) and not submit:
            raise ConnectorError("submit_dispute_evidence needs some evidence, or submit=true")
        if idempotency_key and tried_before():
            # Stripe forgets the key after 24 hours and evidence goes to the issuer once: an action
            # resumed later is recognised by the action id it left in the dispute's metadata.
            dispute = await self._json("GET", f"/v1/disputes/{_id(dispute_id)}", what=f"dispute {dispute_id}")
            if (dispute.get("metadata") or {}).get(ACTION_KEY) == idempotency_key:
                return {"dispute": dispute, "deduplicated": True}
        form: dict[str, Any] = {"evidence": evidence, "submit": submit}
        if idempotency_key:
            form["metadata"] = {ACTION_KEY: idempotency_key}
        response = await self._send(
            "POST",
            f"/v1/disputes/{_id(dispute_id)}",
            form=form,
            idempotency_key=idempotency_key,
            what=f"dispute {dispute_id}",
        )
        return {"dispute": self.json_object(response), "deduplicated": _replayed(response)}

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [
            ("check", self.check),
            ("find_customer", lambda: self.find_customer("switchboard-live-check@example.com")),
            ("list_disputes", lambda: self.list_disputes(limit=1)),
            ("list_refunds", lambda: self._list("/v1/refunds", [], limit=1)),
        ]

    # --- the balance: payouts and what they paid out ---

    @operation(effect="read")
    async def list_payouts(
        self,
        created_from: Annotated[int, Field(ge=0)] | None = None,
        created_to: Annotated[int, Field(ge=0)] | None = None,
        status: PayoutStatus | None = None,
    ) -> list[dict[str, Any]]:
        """Payouts to the bank, newest first: amount (cents), currency, status (paid, pending,
        in_transit, canceled, failed), created and arrival_date (unix time). `created_from` and
        `created_to` bound the creation time (unix seconds, inclusive)."""
        params: list[tuple[str, str]] = []
        if created_from is not None:
            params.append(("created[gte]", str(created_from)))
        if created_to is not None:
            params.append(("created[lte]", str(created_to)))
        if status:
            params.append(("status", status))
        return await self._list("/v1/payouts", params, limit=100 * self.MAX_PAGES)

    @operation(effect="read")
    async def list_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """What one payout (po_...) paid out: its balance transactions, each with type (charge,
        refund, payout, adjustment...), gross amount, fee and net in cents, source id and description."""
        return await self._list(
            "/v1/balance_transactions",
            [("payout", _id(payout_id))],
            limit=100 * self.MAX_PAGES,
            what=f"payout {payout_id}",
        )

    async def check(self) -> dict[str, Any]:
        """GET /v1/account: proves the key works and names the account it acts for."""
        account = await self._json("GET", "/v1/account")
        profile = account.get("business_profile") or {}
        return {
            "ok": True,
            "account": {
                "id": account.get("id"),
                "name": profile.get("name") or account.get("email"),
                "country": account.get("country"),
                "default_currency": account.get("default_currency"),
            },
        }


def _id(value: str) -> str:
    """An object id as a single path segment (ids never contain '/'; refuse anything that would)."""
    return path_segment(value.strip(), "Stripe object id")


def _replayed(response: httpx.Response) -> bool:
    return response.headers.get("idempotent-replayed", "").lower() == "true"
