"""Table Storage, as the app reaches it: the service client a storage connection describes (`AzureWebJobsStorage` or
`AVAILABILITY_STATE_STORAGE`: a connection string, or an identity with `__accountName` / `__tableServiceUri` and
`__clientId`), tables created on first need, per-call options that end a storage request in the time it has, and
azure-core's errors turned into the gateway's own (`StorageUnavailable`, `StorageTimeout`, `ConfigurationError`).

azure-data-tables and azure-identity are imported on first use, never at app import.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import AvailabilityError, ConfigurationError, StorageTimeout, StorageUnavailable
from .session import pooled_session

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient, TableServiceClient

    from .settings import Settings, StorageConnection

__all__ = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "CallOptions", "EnsuredTable", "create_table", "errors_translated",
           "options_until", "options_within", "service_from_account", "service_from_connection",
           "service_from_connection_string", "service_from_settings", "translate"]

log = logging.getLogger(__name__)

# One attempt of a storage request: at most 3 s to connect and 6 s to read. Without a deadline (the timers'
# writes) a request has three such attempts; with one, as many as fit (see `options_within`).
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 6.0
MIN_SECONDS = 0.1  # with less time left than this, no storage request is sent
_CLIENT_OPTIONS = {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT, "retry_total": 2,
                   "retry_backoff_factor": 0.4}


class CallOptions(TypedDict, total=False):
    """azure-core's per-call options for one storage request, its retries included."""

    connection_timeout: float
    read_timeout: float
    timeout: float
    retry_total: int
    retry_status: int


# -- the service client -------------------------------------------------------------------------------------

def _client_options(endpoint: str, ca_bundle: str | None) -> dict[str, Any]:
    """Client options with a transport whose pooled session has the CA bundle and proxies settled once."""
    from azure.core.pipeline.transport import RequestsTransport

    session = pooled_session(endpoint, 16, ca_bundle=ca_bundle)
    # azure-core sends its own `verify` with every request, which would override the session's CA bundle.
    return {**_CLIENT_OPTIONS,
            "transport": RequestsTransport(session=session, session_owner=False, connection_verify=session.verify)}


def service_from_connection_string(connection_string: str, *, ca_bundle: str | None = None,
                                   setting: str = "AzureWebJobsStorage", **client_options: Any) -> TableServiceClient:
    """A `TableServiceClient` for the account a connection string names (UseDevelopmentStorage=true works);
    `setting` is the app setting it comes from, named when it is not a connection string."""
    from azure.data.tables import TableServiceClient

    match = re.search(r"(?:TableEndpoint=|^)(https?://[^;/]+)", connection_string)
    endpoint = match.group(1) if match else "https://table.core.windows.net"
    try:
        return TableServiceClient.from_connection_string(
            connection_string, **{**_client_options(endpoint, ca_bundle), **client_options})
    except (ValueError, TypeError):
        raise ConfigurationError(message=f"The app setting {setting} is not a valid storage connection string.",
                                 setting=setting) from None


def service_from_account(account_name: str, credential: TokenCredential | None = None, *,
                         endpoint: str | None = None, managed_identity_client_id: str | None = None,
                         ca_bundle: str | None = None, **client_options: Any) -> TableServiceClient:
    """A `TableServiceClient` reached with an identity (`<connection>__accountName` or `__tableServiceUri`).

    The credential is DefaultAzureCredential by default, with the user-assigned identity
    `managed_identity_client_id` (`<connection>__clientId`) when given.
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


def service_from_connection(connection: StorageConnection, *, ca_bundle: str | None = None,
                            **client_options: Any) -> TableServiceClient:
    """The `TableServiceClient` of one storage connection (`ConfigurationError` naming it when it is not set)."""
    if not connection.configured:
        raise ConfigurationError(message=f"The app setting {connection.name} is required but is not set.",
                                 setting=connection.name)
    if connection.connection_string:
        return service_from_connection_string(connection.connection_string, ca_bundle=ca_bundle,
                                              setting=connection.name, **client_options)
    account = connection.account_name
    if not connection.table_uri and not re.fullmatch(r"[a-z0-9]{3,24}", account or ""):
        raise ConfigurationError(message=f"The app setting {connection.name}__accountName must be a storage "
                                         "account name (3-24 lowercase letters or digits).",
                                 setting=f"{connection.name}__accountName")
    return service_from_account(account or "", endpoint=connection.table_uri,
                                managed_identity_client_id=connection.client_id, ca_bundle=ca_bundle,
                                **client_options)


def service_from_settings(settings: Settings, **client_options: Any) -> TableServiceClient:
    """The `TableServiceClient` of `AzureWebJobsStorage`; `ConfigurationError` naming it when it is not set."""
    return service_from_connection(settings.storage, ca_bundle=settings.ca_bundle, **client_options)


# -- time: a storage request ends in the time it has ------------------------------------------------------------

def options_within(seconds: float, *, connect: float = CONNECT_TIMEOUT, read: float = READ_TIMEOUT) -> CallOptions:
    """Per-call options that end one storage request, its retry included, within `seconds`.

    An attempt gets at most `connect` (and a third of the time) to connect and `read` to read, cut to the time
    left; a second attempt (after a connection or read error) only when two whole attempts fit; no retry after a
    5xx, whose Retry-After the SDK would sleep whatever the time left.
    """
    first = min(connect, seconds / 3)
    return {"connection_timeout": first, "read_timeout": min(read, seconds - first), "timeout": seconds,
            "retry_total": 1 if seconds >= 2 * (connect + read) + 1 else 0, "retry_status": 0}


def options_until(deadline: float | None, *, message: str | None = None) -> CallOptions:
    """Per-call options that end a storage request by `deadline` (monotonic); the client's own without one.

    :raises StorageTimeout: (with `message`, when given) when too little time is left to send the request.
    """
    if deadline is None:
        return {}
    left = deadline - time.monotonic()
    if left < MIN_SECONDS:
        raise StorageTimeout(message=message)
    return options_within(left)


# -- tables -------------------------------------------------------------------------------------------------

def create_table(table: TableClient, **options: Any) -> bool:
    """Create `table` unless it exists; True when this call created it (azure-core's errors as they come)."""
    from azure.core.exceptions import ResourceExistsError

    try:
        table.create_table(**options)
    except ResourceExistsError:
        return False
    log.info("Created the table %s", table.table_name)
    return True


class EnsuredTable:
    """A table created the first time a write needs it, and again once it is found gone. Thread-safe.

    :param table: an `azure.data.tables.TableClient`.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self, deadline: float | None = None) -> None:
        """Create the table unless this process has made sure of it already (storage errors translated)."""
        if self._ready:
            return
        with self._lock, errors_translated():
            if not self._ready:
                create_table(self._table, **options_until(deadline))
                self._ready = True

    def forget(self) -> None:
        """The table was found gone (deleted behind the app's back): the next `ensure` creates it again."""
        self._ready = False


# -- errors -------------------------------------------------------------------------------------------------

def translate(error: BaseException) -> AvailabilityError | None:
    """The gateway's error for an azure-core error; None for an error the caller handles, or not storage's.

    Refused credentials are a `ConfigurationError` naming AzureWebJobsStorage, an attempt out of time a
    `StorageTimeout`, anything else `StorageUnavailable`. A missing table or row (`ResourceNotFoundError`) and a
    conditional write that lost (`ResourceModifiedError`) are left to the caller.
    """
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceModifiedError,
        ResourceNotFoundError,
        ServiceRequestTimeoutError,
        ServiceResponseTimeoutError,
    )

    if not isinstance(error, AzureError) or isinstance(error, (ResourceNotFoundError, ResourceModifiedError)):
        return None
    status = getattr(getattr(error, "response", None), "status_code", None)
    # The cause, for operators: the error's kind and first line, with any URL query (a SAS) cut off.
    cause = re.sub(r"\?\S*", "", str(error).splitlines()[0] if str(error) else "")[:300]
    log.warning("Table storage call failed: %s%s%s", type(error).__name__, ": " if cause else "", cause)
    if isinstance(error, ClientAuthenticationError) or status == 403:
        return ConfigurationError(
            message="Table storage refused the app's credentials; check AzureWebJobsStorage (or the managed "
                    "identity's Storage Table Data Contributor role).", setting="AzureWebJobsStorage")
    if isinstance(error, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return StorageTimeout()
    if isinstance(error, HttpResponseError) and status is not None:
        return StorageUnavailable(message=f"Table storage answered with HTTP {status}.")
    return StorageUnavailable()


@contextmanager
def errors_translated() -> Iterator[None]:
    """azure-core's errors raised inside as the gateway's (see `translate`); any other error as it is."""
    try:
        yield
    except AvailabilityError:
        raise
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from None
