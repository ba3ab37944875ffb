"""Issue tracker (Linear GraphQL API): the connector and its loopback simulator.

The simulator lives in `connectors.tracker.simulator` and is imported on demand,
so using the connector does not load FastAPI or graphql-core.
"""

from connectors.tracker.client import TrackerConnector

__all__ = ["TrackerConnector"]
