"""Team chat (Slack Web API): the connector, request signing, and its loopback simulator.

The simulator lives in `connectors.chat.simulator` and is imported on demand,
so using the connector does not load FastAPI.
"""

from connectors.chat.client import ChatConnector, SlackError
from connectors.chat.signing import SignatureError, sign, verify

__all__ = ["ChatConnector", "SignatureError", "SlackError", "sign", "verify"]
