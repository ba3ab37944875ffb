"""Accounting/ERP (Northwind ERP, SOAP 1.1): the connector and its loopback simulator.

The simulator lives in `connectors.erp.simulator` and is imported on demand, so
using the connector does not load FastAPI.
"""

from connectors.erp.client import ERPConnector, JournalLine

__all__ = ["ERPConnector", "JournalLine"]
