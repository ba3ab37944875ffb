"""CRM (HubSpot CRM API): the connector and its loopback simulator.

The simulator lives in `connectors.crm.simulator` and is imported on demand, so using
the connector does not load FastAPI.
"""

from connectors.crm.client import CrmConnector, HubSpotError

__all__ = ["CrmConnector", "HubSpotError"]
