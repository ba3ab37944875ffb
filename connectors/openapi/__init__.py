"""Connectors generated from OpenAPI 3.x documents, and a loopback Swagger Petstore.

`import_spec` reads a document (path, URL, bundled name or dict, JSON or YAML);
`OpenAPIConnector` turns its operations into tools; `auth_for` builds the httpx
auth from its securitySchemes. The Petstore simulator lives in
`connectors.openapi.petstore_simulator` and is imported on demand.
"""

from connectors.openapi.connector import OAuth2ClientCredentials, OpenAPIConnector, auth_for
from connectors.openapi.importer import OpenAPIOperation, OpenAPISpec, SpecError, import_spec

__all__ = [
    "OAuth2ClientCredentials",
    "OpenAPIConnector",
    "OpenAPIOperation",
    "OpenAPISpec",
    "SpecError",
    "auth_for",
    "import_spec",
]
