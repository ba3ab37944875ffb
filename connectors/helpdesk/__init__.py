"""Help desk (Zendesk Support API v2): the connector and its loopback simulator.

The simulator lives in `connectors.helpdesk.simulator` and is imported on demand,
so using the connector does not load FastAPI.
"""

from connectors.helpdesk.client import HelpdeskConnector

__all__ = ["HelpdeskConnector"]
