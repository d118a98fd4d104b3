"""Typed app settings, read once from the environment (contract §2).

Every value is validated when read; a malformed value raises `ConfigurationError` naming the setting.
Required settings that are absent stay `None` here and are demanded with `Settings.require(...)` by the
part of the app that needs them, so `/api/health` and the history reads work without an org configured.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import ConfigurationError

DEFAULT_SECRET_NAME = "dataverse-client-secret"
DEFAULT_SCHEDULE = "0 */5 * * * *"
DEFAULT_TABLE = "AvailabilitySnapshots"
DEFAULT_STATE_TABLE = "AvailabilityState"
DEFAULT_SUBSCRIPTIONS_TABLE = "AvailabilitySubscriptions"
DEFAULT_NOTIFY_SCHEDULE = "0 * * * * *"
SHARED_STATES = ("table", "off")

# Every app setting `load_settings` reads: name -> "required..." or its default (contract §2). The deployment's
# app settings (infra/) are tested against it. Left out, as platform variables an operator does not set as app
# settings: WEBSITE_INSTANCE_ID (App Service sets it), REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and the *_proxy ones.
APP_SETTINGS: dict[str, str] = {
    "DATAVERSE_URL": "required",
    "DATAVERSE_TENANT_ID": "required",
    "DATAVERSE_CLIENT_ID": "required",
    "KEY_VAULT_URL": "required unless DATAVERSE_CLIENT_SECRET is set",
    "DATAVERSE_CLIENT_SECRET_NAME": DEFAULT_SECRET_NAME,
    "DATAVERSE_CLIENT_SECRET": "unset (local development only)",
    "AVAILABILITY_CACHE_SECONDS": "15",
    "AVAILABILITY_STALE_SECONDS": "300",
    "AVAILABILITY_TIMEOUT_SECONDS": "20",
    "AVAILABILITY_MAX_CALLS_PER_MINUTE": "0",
    "AVAILABILITY_SHARED_STATE": "table when storage is configured, else off",
    "AVAILABILITY_STATE_TABLE": DEFAULT_STATE_TABLE,
    "SNAPSHOT_SCHEDULE": DEFAULT_SCHEDULE,
    "SNAPSHOT_WORKSTREAMS": "auto",
    "SNAPSHOT_TABLE": DEFAULT_TABLE,
    "SNAPSHOT_RETENTION_DAYS": "90",
    "AzureWebJobsStorage": "required for snapshots, unless the identity-based AzureWebJobsStorage__* are set",
    "AzureWebJobsStorage__accountName": "unset",
    "AzureWebJobsStorage__tableServiceUri": "unset",
    "AzureWebJobsStorage__credential": "unset (managedidentity: a managed identity)",
    "AzureWebJobsStorage__clientId": "unset (the system-assigned identity)",
    "AzureWebJobsStorage__clientSecret": "unset (refused: use a managed identity)",
    "AZURE_AUTHORITY_HOST": "unset (Entra ID's public cloud)",
    "WEBSITE_TIME_ZONE": "unset (UTC)",
    "PUBLIC_AVAILABILITY": "unset (no public checks)",
    "PUBLIC_ALLOWED_ORIGINS": "unset (no CORS headers)",
    "SUBSCRIPTIONS_TABLE": DEFAULT_SUBSCRIPTIONS_TABLE,
    "NOTIFY_SCHEDULE": DEFAULT_NOTIFY_SCHEDULE,
    "NOTIFY_ALLOW_PRIVATE_CALLBACKS": "false",
}

# attribute name -> environment name, for the settings that `require` may be asked for
_NAMES = {
    "dataverse_url": "DATAVERSE_URL",
    "tenant_id": "DATAVERSE_TENANT_ID",
    "client_id": "DATAVERSE_CLIENT_ID",
    "key_vault_url": "KEY_VAULT_URL",
    "storage_connection": "AzureWebJobsStorage",
}


@dataclass(frozen=True)
class Settings:
    """The app's settings; see contract §2 for each one's meaning."""

    dataverse_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    key_vault_url: str | None = None
    client_secret_name: str = DEFAULT_SECRET_NAME
    client_secret: str | None = field(default=None, repr=False)
    cache_seconds: float = 15.0
    stale_seconds: float = 300.0
    timeout_seconds: float = 20.0
    max_calls_per_minute: int = 0  # 0 = no budget of the app's own (with shared state, all instances together)
    shared_state: str = "off"  # "table": answers, in-flight calls, Retry-After and budget shared by all instances
    state_table: str = DEFAULT_STATE_TABLE
    snapshot_schedule: str = DEFAULT_SCHEDULE
    snapshot_workstreams: tuple[str, ...] | None = None  # None = auto (every active workstream)
    snapshot_table: str = DEFAULT_TABLE
    snapshot_retention_days: int = 90
    storage_connection: str | None = field(default=None, repr=False)
    storage_account_name: str | None = None
    storage_table_uri: str | None = None  # AzureWebJobsStorage__tableServiceUri
    storage_client_id: str | None = None  # AzureWebJobsStorage__clientId (a user-assigned identity)
    authority_host: str | None = None
    running_in_azure: bool = False
    ca_bundle: str | None = None  # REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE): the CAs every outgoing call trusts
    proxies: dict[str, str] = field(default_factory=dict)  # http / https / no, from the usual *_proxy variables
    schedule_time_zone: str | None = None  # WEBSITE_TIME_ZONE: where NCRONTAB schedules are evaluated
    # PUBLIC_AVAILABILITY: alias -> its check's body, validated as a check by the public endpoints
    public_checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    public_origins: tuple[str, ...] = ()  # PUBLIC_ALLOWED_ORIGINS; ("*",) for any origin
    # A malformed PUBLIC_* setting: only the public endpoints answer with it, the others keep working.
    public_fault: ConfigurationError | None = field(default=None, repr=False, compare=False)
    subscriptions_table: str = DEFAULT_SUBSCRIPTIONS_TABLE
    notify_schedule: str = DEFAULT_NOTIFY_SCHEDULE
    allow_private_callbacks: bool = False  # NOTIFY_ALLOW_PRIVATE_CALLBACKS: local development only

    def require(self, *names: str) -> None:
        """Raise `ConfigurationError` for the first of `names` (attribute names) that is not set."""
        for name in names:
            if name == "key_vault_url" and self.client_secret:
                continue
            if name == "storage_connection" and (self.storage_account_name or self.storage_table_uri):
                continue
            if not getattr(self, name):
                setting = _NAMES.get(name, name)
                hint = " (or DATAVERSE_CLIENT_SECRET for local development)" if name == "key_vault_url" else ""
                raise ConfigurationError(
                    message=f"The app setting {setting} is required{hint} but is not set.",
                    setting=setting,
                )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    public_checks, checks_fault = _kept(_public_checks, get("PUBLIC_AVAILABILITY"), {})
    public_origins, origins_fault = _kept(_origins, get("PUBLIC_ALLOWED_ORIGINS"), ())
    return Settings(
        dataverse_url=_url(get("DATAVERSE_URL"), "DATAVERSE_URL"),
        tenant_id=_tenant(get("DATAVERSE_TENANT_ID")),
        client_id=_guid(get("DATAVERSE_CLIENT_ID"), "DATAVERSE_CLIENT_ID"),
        key_vault_url=_url(get("KEY_VAULT_URL"), "KEY_VAULT_URL", "https://contoso-availability.vault.azure.net"),
        client_secret_name=_secret_name(get("DATAVERSE_CLIENT_SECRET_NAME") or DEFAULT_SECRET_NAME),
        client_secret=env.get("DATAVERSE_CLIENT_SECRET") or None,
        cache_seconds=_seconds(get("AVAILABILITY_CACHE_SECONDS"), "AVAILABILITY_CACHE_SECONDS", 15.0, 3600),
        stale_seconds=_seconds(get("AVAILABILITY_STALE_SECONDS"), "AVAILABILITY_STALE_SECONDS", 300.0, 86400),
        timeout_seconds=_seconds(get("AVAILABILITY_TIMEOUT_SECONDS"), "AVAILABILITY_TIMEOUT_SECONDS", 20.0, 24) or 20.0,
        max_calls_per_minute=_int(get("AVAILABILITY_MAX_CALLS_PER_MINUTE"), "AVAILABILITY_MAX_CALLS_PER_MINUTE",
                                  0, 0, 100_000),
        snapshot_schedule=_schedule(get("SNAPSHOT_SCHEDULE") or DEFAULT_SCHEDULE),
        snapshot_workstreams=_workstreams(get("SNAPSHOT_WORKSTREAMS")),
        snapshot_table=_table(get("SNAPSHOT_TABLE") or DEFAULT_TABLE),
        shared_state=_shared_state(get("AVAILABILITY_SHARED_STATE"), storage=bool(
            get("AzureWebJobsStorage") or get("AzureWebJobsStorage__accountName")
            or get("AzureWebJobsStorage__tableServiceUri"))),
        state_table=_table(get("AVAILABILITY_STATE_TABLE") or DEFAULT_STATE_TABLE, "AVAILABILITY_STATE_TABLE"),
        snapshot_retention_days=_int(get("SNAPSHOT_RETENTION_DAYS"), "SNAPSHOT_RETENTION_DAYS", 90, 1, 3650),
        storage_connection=get("AzureWebJobsStorage"),
        storage_account_name=get("AzureWebJobsStorage__accountName"),
        storage_table_uri=_url(get("AzureWebJobsStorage__tableServiceUri"), "AzureWebJobsStorage__tableServiceUri",
                               "https://contosohistory.table.core.windows.net"),
        storage_client_id=_storage_identity(get("AzureWebJobsStorage__credential"),
                                            get("AzureWebJobsStorage__clientId"),
                                            get("AzureWebJobsStorage__clientSecret")),
        authority_host=_url(get("AZURE_AUTHORITY_HOST"), "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com"),
        # WEBSITE_INSTANCE_ID is set by App Service on every instance and never by local hosts.
        running_in_azure=bool(get("WEBSITE_INSTANCE_ID")),
        ca_bundle=get("REQUESTS_CA_BUNDLE") or get("CURL_CA_BUNDLE"),
        proxies={scheme: value for scheme in ("http", "https", "no")
                 if (value := get(f"{scheme}_proxy") or get(f"{scheme.upper()}_PROXY"))},
        schedule_time_zone=get("WEBSITE_TIME_ZONE"),
        public_checks=public_checks,
        public_origins=public_origins,
        public_fault=checks_fault or origins_fault,
        subscriptions_table=_table(get("SUBSCRIPTIONS_TABLE") or DEFAULT_SUBSCRIPTIONS_TABLE, "SUBSCRIPTIONS_TABLE"),
        notify_schedule=_schedule(get("NOTIFY_SCHEDULE") or DEFAULT_NOTIFY_SCHEDULE, "NOTIFY_SCHEDULE"),
        allow_private_callbacks=_flag(get("NOTIFY_ALLOW_PRIVATE_CALLBACKS"), "NOTIFY_ALLOW_PRIVATE_CALLBACKS"),
    )


def _storage_identity(credential: str | None, client_id: str | None, client_secret: str | None) -> str | None:
    """The user-assigned identity for Table Storage, read as Functions reads identity-based connections.

    `__clientId` names a user-assigned identity only next to `__credential=managedidentity`; without it,
    Functions would take `__clientId` with `__clientSecret` as a service principal, which this app does not
    do (a secret for storage is what the managed identity is there to avoid), so that is refused.
    """
    if client_secret is not None:
        raise _bad("AzureWebJobsStorage__clientSecret", "is not supported: use a managed identity "
                   "(AzureWebJobsStorage__credential=managedidentity) or a connection string")
    if credential is None:
        return None
    if credential.lower() != "managedidentity":
        raise _bad("AzureWebJobsStorage__credential", "must be managedidentity when set")
    return _guid(client_id, "AzureWebJobsStorage__clientId")


def _uuid(value: str) -> object:
    from uuid import UUID  # uuid imports `platform`, a cost for every cold start: only when a GUID is read

    return UUID(value)


def _bad(setting: str, why: str) -> ConfigurationError:
    return ConfigurationError(message=f"The app setting {setting} {why}.", setting=setting)


def _url(value: str | None, setting: str, example: str = "https://contoso.crm.dynamics.com") -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        has_user = parts.username is not None or parts.password is not None
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _bad(setting, f"must be an absolute https URL such as {example}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _bad(setting, f"must be an absolute https URL such as {example}")
    if parts.scheme == "http":
        raise _bad(setting, "must use https")
    if has_user:
        # The value is not echoed: user info is a credential.
        raise _bad(setting, "must not carry a user name or password")
    if parts.query or parts.fragment:
        raise _bad(setting, "must not carry a query or a fragment")
    return value.rstrip("/")


def _guid(value: str | None, setting: str) -> str | None:
    if value is None:
        return None
    try:
        return str(_uuid(value))
    except ValueError:
        raise _bad(setting, "must be a GUID such as 00000000-0000-0000-0000-000000000000") from None


def _tenant(value: str | None) -> str | None:
    # A tenant may also be named by one of its domains (contoso.onmicrosoft.com).
    if value is None:
        return None
    try:
        return str(_uuid(value))
    except ValueError:
        pass
    if all(part.isalnum() or part.replace("-", "").isalnum() for part in value.split(".")) and "." in value:
        return value.lower()
    raise _bad("DATAVERSE_TENANT_ID", "must be a tenant GUID or a domain such as contoso.onmicrosoft.com")


def _secret_name(value: str) -> str:
    # Key Vault secret names: 1-127 characters, letters, digits and dashes.
    if not (1 <= len(value) <= 127 and value.replace("-", "").isalnum() and value.isascii()):
        raise _bad("DATAVERSE_CLIENT_SECRET_NAME", "must be 1-127 letters, digits or dashes")
    return value


def _seconds(value: str | None, setting: str, default: float, maximum: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise _bad(setting, "must be a number of seconds") from None
    if not (0 <= seconds <= maximum):
        raise _bad(setting, f"must be between 0 and {maximum:g} seconds")
    return seconds


def _int(value: str | None, setting: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(setting, "must be a whole number") from None
    if not (low <= number <= high):
        raise _bad(setting, f"must be between {low} and {high}")
    return number


def _schedule(value: str, setting: str = "SNAPSHOT_SCHEDULE") -> str:
    fields = value.split()
    if len(fields) != 6:
        raise _bad(setting, "must be an NCRONTAB expression with 6 fields (second minute hour day month weekday)")
    return " ".join(fields)


def _flag(value: str | None, setting: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise _bad(setting, "must be true or false")


def _workstreams(value: str | None) -> tuple[str, ...] | None:
    if value is None or value.lower() == "auto":
        return None
    ids = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        ids.append(_guid(item, "SNAPSHOT_WORKSTREAMS"))
    if not ids:
        raise _bad("SNAPSHOT_WORKSTREAMS", "must be 'auto' or a comma-separated list of workstream GUIDs")
    return tuple(dict.fromkeys(ids))


def _table(value: str, setting: str = "SNAPSHOT_TABLE") -> str:
    # Table names: 3-63 alphanumeric characters, not starting with a digit.
    if not (3 <= len(value) <= 63 and value.isalnum() and value.isascii() and not value[0].isdigit()):
        raise _bad(setting, "must be 3-63 letters or digits, starting with a letter")
    return value


def _shared_state(value: str | None, *, storage: bool) -> str:
    # Shared by default wherever there is storage to share through: scaled out, per-instance state multiplies
    # the org's calls by the instance count.
    if value is None:
        return "table" if storage else "off"
    if value.lower() not in SHARED_STATES:
        raise _bad("AVAILABILITY_SHARED_STATE", "must be table or off")
    return value.lower()


def _kept(read: Any, value: str | None, empty: Any) -> tuple[Any, ConfigurationError | None]:
    """`read(value)`, or `empty` and the fault: a malformed public setting must not stop the app loading."""
    try:
        return read(value), None
    except ConfigurationError as fault:
        return empty, fault


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # json.loads would keep the last of two equal names silently: which one was meant is unknowable.
        repeated = next(name for name in names if names.count(name) > 1)
        raise _bad("PUBLIC_AVAILABILITY", f"names '{repeated[:40]}' twice in one object")
    return dict(pairs)


def _public_checks(value: str | None) -> dict[str, dict[str, Any]]:
    """PUBLIC_AVAILABILITY: a JSON object of alias -> check body (the check itself is validated where it is used)."""
    if value is None:
        return {}
    example = 'such as {"support": {"workstreamId": "00000000-0000-0000-0000-000000000000"}}'
    try:
        checks = json.loads(value, object_pairs_hook=_unique_names)
    except (ValueError, RecursionError):
        raise _bad("PUBLIC_AVAILABILITY", f"must be a JSON object of alias to check, {example}") from None
    if not isinstance(checks, dict):
        raise _bad("PUBLIC_AVAILABILITY", f"must be a JSON object of alias to check, {example}")
    for alias, check in checks.items():
        if not _alias_pattern().fullmatch(alias):
            raise _bad("PUBLIC_AVAILABILITY", f"has the alias {json.dumps(alias[:40])}: aliases are 1 to 40 of "
                                              "a-z, 0-9 and -")
        if not isinstance(check, dict):
            raise _bad("PUBLIC_AVAILABILITY", f"must give the alias '{alias}' a check object, {example}")
    return checks


def _origins(value: str | None) -> tuple[str, ...]:
    """PUBLIC_ALLOWED_ORIGINS as browsers write an Origin header: scheme://host[:port], lowercase, no default port."""
    if value is None:
        return ()
    why = "must be * or comma-separated origins such as https://www.contoso.com (no path)"
    origins = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        if item == "*":
            return ("*",)
        try:
            parts = urlsplit(item)
            port = parts.port
        except ValueError:
            raise _bad("PUBLIC_ALLOWED_ORIGINS", why) from None
        if (parts.scheme.lower() not in ("https", "http") or not parts.hostname or parts.path not in ("", "/")
                or parts.query or parts.fragment or "@" in parts.netloc):
            raise _bad("PUBLIC_ALLOWED_ORIGINS", why)
        scheme = parts.scheme.lower()
        default = {"https": 443, "http": 80}[scheme]
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        origins.append(f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else ""))
    return tuple(dict.fromkeys(origins))


def _alias_pattern() -> re.Pattern[str]:
    # The request shapes load with the first request that needs them, not with the app (cold start).
    from .schemas import ALIAS_PATTERN

    return re.compile(ALIAS_PATTERN)
