"""Table Storage, as the app reaches it: the service client `AzureWebJobsStorage` describes (a connection
string, or an identity with `__accountName` / `__tableServiceUri` and `__clientId`), and the translation of
azure-core's errors into the gateway's.

azure-data-tables and azure-identity are imported on first use, never at app import.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .dataverse.session import pooled_session
from .errors import AvailabilityError, ConfigurationError, UpstreamTimeout, UpstreamUnavailable
from .settings import Settings

log = logging.getLogger(__name__)

# Writes (the timer's): three attempts of at most 3 s to connect and 6 s to read. Reads inside a request get
# per-call timeouts from their deadline instead.
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 6.0
_CLIENT_OPTIONS = {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT, "retry_total": 2,
                   "retry_backoff_factor": 0.4}


def _client_options(endpoint: str, ca_bundle: str | None) -> dict[str, Any]:
    """Client options with a transport whose pooled session has the CA bundle and proxies settled once."""
    from azure.core.pipeline.transport import RequestsTransport

    session = pooled_session(endpoint, 16, ca_bundle=ca_bundle)
    # azure-core sends its own `verify` with every request, which would override the session's CA bundle.
    return {**_CLIENT_OPTIONS,
            "transport": RequestsTransport(session=session, session_owner=False, connection_verify=session.verify)}


def service_from_connection_string(connection_string: str, *, ca_bundle: str | None = None,
                                   **client_options: Any) -> Any:
    """A `TableServiceClient` for the account a connection string names (UseDevelopmentStorage=true works)."""
    from azure.data.tables import TableServiceClient

    match = re.search(r"(?:TableEndpoint=|^)(https?://[^;/]+)", connection_string)
    endpoint = match.group(1) if match else "https://table.core.windows.net"
    try:
        return TableServiceClient.from_connection_string(
            connection_string, **{**_client_options(endpoint, ca_bundle), **client_options})
    except (ValueError, TypeError):
        raise ConfigurationError(message="The app setting AzureWebJobsStorage is not a valid storage "
                                         "connection string.", setting="AzureWebJobsStorage") from None


def service_from_account(account_name: str, credential: Any = None, *, endpoint: str | None = None,
                         managed_identity_client_id: str | None = None, ca_bundle: str | None = None,
                         **client_options: Any) -> Any:
    """A `TableServiceClient` reached with an identity (`AzureWebJobsStorage__accountName` or `__tableServiceUri`).

    The credential is DefaultAzureCredential by default, with the user-assigned identity
    `managed_identity_client_id` (`AzureWebJobsStorage__clientId`) when given.
    """
    from azure.data.tables import TableServiceClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        # Unset, DefaultAzureCredential falls back to AZURE_CLIENT_ID, then the system-assigned identity.
        identity = {"managed_identity_client_id": managed_identity_client_id} if managed_identity_client_id else {}
        extra = {"connection_verify": ca_bundle} if ca_bundle else {}
        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True, **identity, **extra)
    endpoint = endpoint or f"https://{account_name}.table.core.windows.net"
    return TableServiceClient(endpoint, credential=credential,
                              **{**_client_options(endpoint, ca_bundle), **client_options})


def service_from_settings(settings: Settings, **client_options: Any) -> Any:
    """The `TableServiceClient` the settings describe; `ConfigurationError` naming AzureWebJobsStorage when none."""
    settings.require("storage_connection")
    if settings.storage_connection:
        return service_from_connection_string(settings.storage_connection, ca_bundle=settings.ca_bundle,
                                              **client_options)
    account = settings.storage_account_name
    if not settings.storage_table_uri and not re.fullmatch(r"[a-z0-9]{3,24}", account or ""):
        raise ConfigurationError(message="The app setting AzureWebJobsStorage__accountName must be a storage "
                                         "account name (3-24 lowercase letters or digits).",
                                 setting="AzureWebJobsStorage__accountName")
    return service_from_account(account or "", endpoint=settings.storage_table_uri,
                                managed_identity_client_id=settings.storage_client_id, ca_bundle=settings.ca_bundle,
                                **client_options)


class StorageErrors:
    """Turns azure-core errors into the gateway's: unreachable → upstream_unavailable, refused → configuration."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, AvailabilityError):
            return False
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceRequestTimeoutError,
            ServiceResponseError,
            ServiceResponseTimeoutError,
        )

        if not isinstance(exc, AzureError) or isinstance(exc, ResourceNotFoundError):
            return False  # a missing table is for the caller to handle
        status = getattr(getattr(exc, "response", None), "status_code", None)
        # The cause, for operators: the error's kind and first line, with any URL query (a SAS) cut off.
        cause = re.sub(r"\?\S*", "", str(exc).splitlines()[0] if str(exc) else "")[:300]
        log.warning("Table storage call failed: %s%s%s", type(exc).__name__, ": " if cause else "", cause)
        if isinstance(exc, ClientAuthenticationError) or status == 403:
            raise ConfigurationError(
                message="Table storage refused the app's credentials; check AzureWebJobsStorage (or the managed "
                        "identity's Storage Table Data Contributor role).", setting="AzureWebJobsStorage") from None
        if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
            raise UpstreamTimeout(message="Table storage did not answer in time.") from None
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)) or status is None:
            raise UpstreamUnavailable(message="Table storage could not be reached.") from None
        if isinstance(exc, HttpResponseError):
            raise UpstreamUnavailable(message=f"Table storage answered with HTTP {status}.") from None
        return False
