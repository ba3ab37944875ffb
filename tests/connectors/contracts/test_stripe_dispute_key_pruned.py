"""Dispute evidence resumed after Stripe pruned the idempotency key is not submitted again.

Vendor: docs.stripe.com/api/idempotent_requests (keys "removed from the system
automatically after they're at least 24 hours old, and a new request is generated if a key is
reused after the original has been pruned"); docs.stripe.com/api/disputes/update (`submit`
defaults to true and sends the evidence to the bank; `metadata` is kept on the dispute);
Dispute `evidence_details.submission_count`: "Typically, you may only submit evidence once."

`submit_dispute_evidence` writes its action id into the dispute's metadata; an action that may
have run before reads the dispute first and, finding its id there, does not send again.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl

import httpx

from connectors.payments.client import PaymentsConnector
from tests.connectors.contracts.recorder import Recorder, reply

BASE = "https://api.stripe.com"
TTL = 24 * 3600


class DocumentedStripe:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0
        self.keys: dict[str, tuple[float, bytes, dict[str, Any]]] = {}
        self.dispute: dict[str, Any] = {
            "id": "dp_1",
            "object": "dispute",
            "amount": 4599,
            "currency": "usd",
            "charge": "ch_1",
            "status": "needs_response",
            "metadata": {},
            "evidence": {"uncategorized_text": None},
            "evidence_details": {"submission_count": 0, "has_evidence": False},
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v1/disputes/dp_1":
            return reply(200, self.dispute)
        if request.method == "GET" and path == "/v1/disputes":
            return reply(200, {"object": "list", "data": [self.dispute], "has_more": False})
        if request.method == "POST" and path == "/v1/disputes/dp_1":
            key = request.headers.get("idempotency-key")
            if key in self.keys and self.now - self.keys[key][0] < TTL:
                return reply(200, self.keys[key][2], **{"Idempotent-Replayed": "true"})
            form = dict(parse_qsl(request.content.decode()))
            for name, value in form.items():
                if name.startswith("evidence["):
                    self.dispute["evidence"][name[9:-1]] = value
                elif name.startswith("metadata["):
                    self.dispute["metadata"][name[9:-1]] = value
            if form.get("submit", "true") == "true":
                self.dispute["status"] = "under_review"
                self.dispute["evidence_details"]["submission_count"] += 1
            answer = copy.deepcopy(self.dispute)
            if key:
                self.keys[key] = (self.now, request.content, answer)
            return reply(200, answer)
        return reply(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})


async def test_dispute_evidence_retried_after_24h_is_not_submitted_twice() -> None:
    stripe = DocumentedStripe()
    rec = Recorder(stripe)
    pay = PaymentsConnector(rec.client(BASE))
    args = {"dispute_id": "dp_1", "uncategorized_text": "Delivered, signed for.", "idempotency_key": "act-5"}
    await pay.submit_dispute_evidence(**args)
    stripe.now += 25 * 3600  # resumed a day later: Stripe has pruned the key
    again = await pay.submit_dispute_evidence(**args)
    count = stripe.dispute["evidence_details"]["submission_count"]
    assert count == 1, f"the evidence went to the card issuer {count} times for one approved action"
    assert again["deduplicated"] is True
    await pay.aclose()


def test_payments_simulator_submits_dispute_evidence_when_submit_is_left_out() -> None:
    """Vendor: docs.stripe.com/api/disputes/update, `submit`: "Whether to immediately submit
    evidence to the bank. If false, evidence is staged on the dispute ... set to true (the
    default)"; stripe-node DisputeUpdateParams.submit says the same. The simulator defaults it
    to false (`_bool_param(params, "submit") or False`), so a client that forgot `submit` would
    only stage a draft here while Stripe sends the evidence, irrevocably, to the bank."""
    from connectors.payments import seed as seed_data
    from connectors.payments.simulator import PaymentsState

    state = PaymentsState()
    seed_data.seed(state)
    dispute = next(d for d in state.disputes.values() if d["status"] == "needs_response")
    updated = state.update_dispute(dispute["id"], {"evidence": {"uncategorized_text": "Signed for."}})
    assert updated["status"] == "under_review"
    assert updated["evidence_details"]["submission_count"] == 1
