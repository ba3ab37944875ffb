"""Payments (Stripe API): the connector, webhook signatures, and its loopback simulator.

The simulator lives in `connectors.payments.simulator` and is imported on demand, so
using the connector (or verifying a webhook) does not load FastAPI.
"""

from connectors.payments.client import PaymentsConnector, StripeError
from connectors.payments.webhooks import SignatureError

__all__ = ["PaymentsConnector", "SignatureError", "StripeError"]
