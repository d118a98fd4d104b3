"""The API's two descriptions, built from the shapes the requests are validated with (`availability.schemas`).

- `openapi_document(server_url)`: OpenAPI 3.1, served at `GET /api/openapi.json`; every endpoint.
- `swagger_document()`, `api_properties()`, `connector_files()`: the Power Platform custom connector (Swagger 2.0)
  with the operations a maker uses, checked in under `connector/` and regenerated with `python -m
  availability.openapi` (`main`); given a `Publisher`, as submitted for certification (`--release`).

Nothing is built at import: each document is built on first call and cached; callers get their own copy.
"""

from .cli import REGENERATE, main, write_release
from .connection import BRAND_COLOR, DEFINITION_HOST, HOST_PARAMETER
from .document import openapi_document
from .publisher import CATEGORIES, Publisher
from .swagger import (
    CONNECTOR_DIR,
    ICON_FILE,
    PICKERS,
    README_FILE,
    api_properties,
    connector_files,
    swagger_document,
)

__all__ = [
    "BRAND_COLOR",
    "CATEGORIES",
    "CONNECTOR_DIR",
    "DEFINITION_HOST",
    "HOST_PARAMETER",
    "ICON_FILE",
    "PICKERS",
    "README_FILE",
    "REGENERATE",
    "Publisher",
    "api_properties",
    "connector_files",
    "main",
    "openapi_document",
    "swagger_document",
    "write_release",
]
