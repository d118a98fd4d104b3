"""The API's two descriptions, built from the shapes the requests are validated with (`availability.schemas`).

- `openapi_document(server_url)`: OpenAPI 3.1, served at `GET /api/openapi.json`; every endpoint.
- `swagger_document(host)`, `api_properties()`, `connector_files(host)`: the Power Platform custom connector
  (Swagger 2.0) with the operations a maker uses, checked in under `connector/` and regenerated with
  `python -m availability.openapi` (`main`).

Nothing is built at import: each document is built on first call and cached; callers get their own copy.
"""

from .cli import REGENERATE, main
from .document import openapi_document
from .swagger import CONNECTOR_DIR, DEFAULT_HOST, api_properties, connector_files, swagger_document

__all__ = [
    "openapi_document",
    "swagger_document",
    "api_properties",
    "connector_files",
    "main",
    "DEFAULT_HOST",
    "CONNECTOR_DIR",
    "REGENERATE",
]
