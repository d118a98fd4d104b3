"""Typed app settings, each declared once, read once from the environment.

Each field of `Settings` declares the environment variable(s) it is read from, how (`values`), its default, what
it means and whether it is a secret; the loader, the local stack, the settings table of the docs and the
deployment's checks all derive from those declarations. Every value is validated when read: a malformed one raises
`ConfigurationError` naming the setting. Required settings that are absent stay `None` here and are demanded with
`Settings.require(...)` by the part of the app that needs them, so `/api/health` and the history reads work
without an org configured.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from . import values
from .values import SHARED_STATES

__all__ = ["APP_SETTINGS", "SECRETS", "SHARED_STATES", "Declared", "Settings", "StorageConnection", "declarations",
           "load_settings"]

DEFAULT_SECRET_NAME = "dataverse-client-secret"  # noqa: S105 - the secret's name in Key Vault, not a secret
DEFAULT_SCHEDULE = "0 */5 * * * *"
DEFAULT_TABLE = "AvailabilitySnapshots"
DEFAULT_STATE_TABLE = "AvailabilityState"
DEFAULT_SUBSCRIPTIONS_TABLE = "AvailabilitySubscriptions"
DEFAULT_NOTIFY_SCHEDULE = "0 * * * * *"

Getter = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Declared:
    """One environment variable the app reads: its name, what it means and its default, as the docs say them.

    `platform`: set by the platform or the operating system, not as an app setting by an operator.
    """

    name: str
    about: str
    default: str
    secret: bool = False
    platform: bool = False


@dataclass(frozen=True)
class _Source:
    """How one field is read: its variables and a reader given only those (so that none goes undeclared)."""

    declared: tuple[Declared, ...]
    read: Callable[[Getter, Any], Any]
    isolated: bool = False  # a fault affects only the part using it (the public endpoints), not the app


def _shown(default: Any) -> str:
    """A default value as the docs write it."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def setting(name: str, read: values.Reader[Any], about: str, *, default: Any = None, shown: str | None = None,
            secret: bool = False, platform: bool = False, isolated: bool = False, hidden: bool = False) -> Any:
    """A field read from the one variable `name` by `read`; `shown` is its default as the docs say it.

    `secret`: never shown anywhere; `hidden`: kept out of the settings' repr (a value that may carry a key).
    """
    source = _Source((Declared(name, about, shown or _shown(default), secret, platform),),
                     lambda get, fallback: read(get(name), name, fallback), isolated)
    shown_in_repr = not (secret or hidden)
    if isinstance(default, (dict, list)):
        kind = type(default)
        return field(default_factory=lambda: kind(default), metadata={"source": source}, repr=shown_in_repr)
    return field(default=default, metadata={"source": source}, repr=shown_in_repr)


def derived(read: Callable[[Getter, Any], Any], *declared: Declared, default: Any = None) -> Any:
    """A field read from several variables at once by `read(get, default)`."""
    source = _Source(tuple(declared), read)
    if isinstance(default, (dict, list)):
        kind = type(default)
        return field(default_factory=lambda: kind(default), metadata={"source": source})
    return field(default=default, metadata={"source": source})


# -- fields read from several variables ----------------------------------------------------------------------

# Functions' identity-based connections: `<NAME>` holds a connection string, or `<NAME>__accountName` /
# `<NAME>__tableServiceUri` an account reached with a managed identity (`__credential`, `__clientId`).
HOST_STORAGE, STATE_STORAGE = "AzureWebJobsStorage", "AVAILABILITY_STATE_STORAGE"
_STORAGE = (HOST_STORAGE, f"{HOST_STORAGE}__accountName", f"{HOST_STORAGE}__tableServiceUri",
            STATE_STORAGE, f"{STATE_STORAGE}__accountName", f"{STATE_STORAGE}__tableServiceUri")


def _shared_state(get: Getter, default: str) -> str:
    # Shared by default wherever there is storage to share through: scaled out, per-instance state multiplies the
    # org's calls by the instance count.
    chosen = values.choice(*SHARED_STATES)(get("AVAILABILITY_SHARED_STATE"), "AVAILABILITY_SHARED_STATE", None)
    return chosen or ("table" if any(get(name) for name in _STORAGE) else default)


def _identity(connection: str) -> Callable[[Getter, str | None], str | None]:
    """How the user-assigned identity of the connection `connection` is read, as Functions reads identity-based
    connections.

    `__clientId` names a user-assigned identity only next to `__credential=managedidentity`; without it, Functions
    would take `__clientId` with `__clientSecret` as a service principal, which this app does not do (a secret for
    storage is what the managed identity is there to avoid), so that is refused.
    """

    def read(get: Getter, default: str | None) -> str | None:
        if get(f"{connection}__clientSecret") is not None:
            raise values.bad(f"{connection}__clientSecret", "is not supported: use a managed identity "
                             f"({connection}__credential=managedidentity) or a connection string")
        credential = get(f"{connection}__credential")
        if credential is None:
            return default
        if credential.lower() != "managedidentity":
            raise values.bad(f"{connection}__credential", "must be managedidentity when set")
        return values.guid(get(f"{connection}__clientId"), f"{connection}__clientId", None)

    return read


def _identity_declared(connection: str) -> tuple[Declared, ...]:
    return (Declared(f"{connection}__credential", "identity-based: `managedidentity` to name a user-assigned "
                     "identity with `__clientId`", "unset"),
            Declared(f"{connection}__clientId", "identity-based: the client id of that user-assigned identity",
                     "unset (the system-assigned identity)"),
            Declared(f"{connection}__clientSecret", "refused: a secret for storage is what the managed identity "
                     "avoids", "unset"))


@dataclass(frozen=True)
class StorageConnection:
    """One storage connection as Functions names them (`AzureWebJobsStorage`, `AVAILABILITY_STATE_STORAGE`): a
    connection string, or an account's name or table endpoint reached with a managed identity."""

    name: str
    connection_string: str | None = field(default=None, repr=False)  # may carry an account key
    account_name: str | None = None
    table_uri: str | None = None
    client_id: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.connection_string or self.account_name or self.table_uri)


def _ca_bundle(get: Getter, default: str | None) -> str | None:
    return get("REQUESTS_CA_BUNDLE") or get("CURL_CA_BUNDLE") or default


def _proxies(get: Getter, default: dict[str, str]) -> dict[str, str]:
    return {scheme: value for scheme in ("http", "https", "no")
            if (value := get(f"{scheme}_proxy") or get(f"{scheme.upper()}_PROXY"))} or default


def _proxy(scheme: str) -> tuple[Declared, Declared]:
    about = f"the proxy of outgoing {scheme} requests" if scheme != "no" else "hosts reached without the proxy"
    return (Declared(f"{scheme}_proxy", about, "unset", platform=True),
            Declared(f"{scheme.upper()}_PROXY", f"as `{scheme}_proxy`", "unset", platform=True))


@dataclass(frozen=True)
class Settings:
    """The app's settings, each field declared with the variable it is read from (see `declarations`)."""

    dataverse_url: str | None = setting(
        "DATAVERSE_URL", values.url("https://contoso.crm.dynamics.com"),
        "org URL, e.g. `https://contoso.crm.dynamics.com`", shown="required")
    tenant_id: str | None = setting(
        "DATAVERSE_TENANT_ID", values.tenant,
        "Entra tenant of the app registration (a GUID, or a domain such as `contoso.onmicrosoft.com`)",
        shown="required")
    client_id: str | None = setting(
        "DATAVERSE_CLIENT_ID", values.guid, "app registration (application user) client id", shown="required")
    key_vault_url: str | None = setting(
        "KEY_VAULT_URL", values.url("https://contoso-availability.vault.azure.net"), "vault holding the client secret",
        shown="required unless `DATAVERSE_CLIENT_SECRET` is set")
    client_secret_name: str = setting(
        "DATAVERSE_CLIENT_SECRET_NAME", values.secret_name, "secret name in the vault", default=DEFAULT_SECRET_NAME)
    client_secret: str | None = setting(
        "DATAVERSE_CLIENT_SECRET", values.text,
        "the secret itself; local development only (a warning is logged when used in Azure)", secret=True)
    cache_seconds: float = setting(
        "AVAILABILITY_CACHE_SECONDS", values.seconds(3600),
        "how long an answer is served from cache (`0` = no cache; at most 3600)", default=15.0)
    stale_seconds: float = setting(
        "AVAILABILITY_STALE_SECONDS", values.seconds(86400),
        "how old an answer may be when served as `stale` while upstream fails (at most 86400)", default=300.0)
    timeout_seconds: float = setting(
        "AVAILABILITY_TIMEOUT_SECONDS", values.seconds(24, zero_is_default=True),
        "time budget for one upstream call, retries and waits included (at most 24)", default=20.0)
    max_calls_per_minute: int = setting(
        "AVAILABILITY_MAX_CALLS_PER_MINUTE", values.whole(0, 100_000),
        "the app's own budget of availability action calls in any 60 s, for all instances together (`0`: none). The "
        "default is half of Dataverse's 6,000 requests per 5 minutes per user, which every caller of the org as the "
        "same application user shares; a call past it waits for room within its time budget, else "
        "`upstream_throttled` (or a `stale` answer). Snapshots count too. With `AVAILABILITY_SHARED_STATE=off` each "
        "instance keeps its own count", default=600)
    max_concurrent_calls: int = setting(
        "AVAILABILITY_MAX_CONCURRENT_CALLS", values.whole(0, 1_000),
        "calls to the org in flight at once, for all instances together (`0`: none); the default stays below "
        "Dataverse's 52 concurrent requests per user. A call past it waits for a free slot within its time budget, "
        "else `upstream_throttled` (or a `stale` answer). With `AVAILABILITY_SHARED_STATE=off`, per instance",
        default=24)
    shared_state: str = derived(_shared_state, Declared(
        "AVAILABILITY_SHARED_STATE", "`table`: all instances share answers, calls in flight, the org's `Retry-After`, "
        "its circuit, the calls budget and the concurrency cap through a table of `AVAILABILITY_STATE_STORAGE` (else "
        "`AzureWebJobsStorage`); `off`: each instance keeps its own (see [Many instances](instances.md))",
        "`table` when storage is configured, else `off`"), default="off")
    state_table: str = setting(
        "AVAILABILITY_STATE_TABLE", values.table, "table of the shared state", default=DEFAULT_STATE_TABLE)
    workstreams_cache_seconds: float = setting(
        "WORKSTREAMS_CACHE_SECONDS", values.seconds(86400),
        "how long the org's list of workstreams (`GET /api/workstreams`, the snapshot timer's `auto`, the dashboard's "
        "names) is kept before the org is asked again; with shared state, for all instances together (at most "
        "86400)", default=600.0)
    snapshot_schedule: str = setting(
        "SNAPSHOT_SCHEDULE", values.schedule, "NCRONTAB (6 fields) of the snapshot timer; in Azure it must be an app "
        "setting ([History](history.md#how-often))", default=DEFAULT_SCHEDULE)
    snapshot_workstreams: tuple[str, ...] | None = setting(
        "SNAPSHOT_WORKSTREAMS", values.workstreams, "comma-separated workstream ids, or `auto` (all active "
        "workstreams)", shown="`auto`")
    snapshot_table: str = setting(
        "SNAPSHOT_TABLE", values.table, "table of the snapshots", default=DEFAULT_TABLE)
    snapshot_retention_days: int = setting(
        "SNAPSHOT_RETENTION_DAYS", values.whole(1, 3650), "snapshots older than this are deleted by the timer "
        "(1–3650)", default=90)
    storage_connection: str | None = setting(
        "AzureWebJobsStorage", values.text, "storage connection string (`UseDevelopmentStorage=true` locally)",
        shown="required for snapshots and subscriptions (and shared state), unless `__accountName` or "
              "`__tableServiceUri` is set", hidden=True)
    storage_account_name: str | None = setting(
        "AzureWebJobsStorage__accountName", values.text,
        "identity-based: the storage account's name, instead of a connection string")
    storage_table_uri: str | None = setting(
        "AzureWebJobsStorage__tableServiceUri", values.url("https://contosohistory.table.core.windows.net"),
        "identity-based: the table endpoint itself (sovereign clouds, private endpoints), instead of `__accountName`")
    storage_client_id: str | None = derived(_identity(HOST_STORAGE), *_identity_declared(HOST_STORAGE))
    state_storage_connection: str | None = setting(
        STATE_STORAGE, values.text, "storage connection string of the shared state's own account (see [Scaling]"
        "(scaling.md)); with it, or its `__accountName` or `__tableServiceUri`, the shared state lives there instead "
        "of in `AzureWebJobsStorage`", shown="unset (`AzureWebJobsStorage`)", hidden=True)
    state_storage_account_name: str | None = setting(
        f"{STATE_STORAGE}__accountName", values.text,
        "identity-based: the shared state's storage account name, instead of a connection string")
    state_storage_table_uri: str | None = setting(
        f"{STATE_STORAGE}__tableServiceUri", values.url("https://contosostate.table.core.windows.net"),
        "identity-based: the shared state's table endpoint, instead of `__accountName`")
    state_storage_client_id: str | None = derived(_identity(STATE_STORAGE), *_identity_declared(STATE_STORAGE))
    authority_host: str | None = setting(
        "AZURE_AUTHORITY_HOST", values.url("https://login.microsoftonline.com"),
        "Entra ID's authority host for the org's tokens (sovereign clouds)",
        shown="unset (the public cloud, `https://login.microsoftonline.com`)")
    schedule_time_zone: str | None = setting(
        "WEBSITE_TIME_ZONE", values.text, "IANA zone the timers' schedules are evaluated in; Azure ignores it on "
        "Linux Consumption and Flex Consumption ([History](history.md#time-zone-of-the-schedule))",
        shown="unset (UTC)")
    best_times_time_zone: str = setting(
        "BEST_TIMES_TIME_ZONE", values.zone_name, "IANA zone whose hours of the week the best times are counted in: "
        "the zone the queues' operating hours and shifts follow, so that their hours stay put across daylight saving "
        "changes ([Best times](best-times.md#the-time-zone-of-the-hours))", default="UTC")
    # PUBLIC_AVAILABILITY: alias -> its check's body, validated as a check by the public endpoints
    public_checks: dict[str, dict[str, Any]] = setting(  # noqa: RUF009 - setting() returns a dataclass field
        "PUBLIC_AVAILABILITY", values.public_checks, "JSON object, alias → check (`{\"support\": {\"workstreamId\": "
        "\"<guid>\", \"contextItems\": {...}}}`): the only checks anonymous callers can ask for (see "
        "[Web pages](web-pages.md)); aliases are 1–40 of `a-z 0-9 -`. Malformed: the public endpoints answer "
        "`configuration_error` naming it, the others are unaffected", default={},
        shown="unset (no public checks)", isolated=True)
    public_origins: tuple[str, ...] = setting(
        "PUBLIC_ALLOWED_ORIGINS", values.origins, "comma-separated origins (`https://www.contoso.com`) whose pages "
        "may read public answers (CORS), or `*`", default=(), shown="unset (no CORS headers)", isolated=True)
    subscriptions_table: str = setting(
        "SUBSCRIPTIONS_TABLE", values.table, "table of the change subscriptions and their watches (see "
        "[Notifications](notifications.md))", default=DEFAULT_SUBSCRIPTIONS_TABLE)
    notify_schedule: str = setting(
        "NOTIFY_SCHEDULE", values.schedule, "NCRONTAB (6 fields) of the `notify_subscribers` timer; every minute "
        "keeps the 90 s promise for openings and closings; in Azure it must be an app setting",
        default=DEFAULT_NOTIFY_SCHEDULE)
    escalation_max_wait_seconds: int = setting(
        "ESCALATION_MAX_WAIT_SECONDS", values.whole(0, 86_400), "how long a customer may wait for a representative "
        "before the escalation decision offers an alternative instead, when the request gives no `maxWaitSeconds` "
        "(0–86400; see [For AI agents](agents.md#the-decision-rules))", default=600)
    allow_private_callbacks: bool = setting(
        "NOTIFY_ALLOW_PRIVATE_CALLBACKS", values.flag, "`true`: callback URLs may be `http://`, on any port, and point "
        "at loopback or private addresses (local development; `dev.py start` sets it). Refused in Azure: the "
        "subscriptions and the notify timer answer `configuration_error` naming it", default=False)
    running_in_azure: bool = setting(
        "WEBSITE_INSTANCE_ID", values.present, "set by App Service on every instance: the app is running in Azure",
        default=False, shown="unset", platform=True)
    ca_bundle: str | None = derived(
        _ca_bundle,
        Declared("REQUESTS_CA_BUNDLE", "the CAs every outgoing call trusts (the local stack points it at the "
                 "sandbox's CA)", "unset (certifi's)", platform=True),
        Declared("CURL_CA_BUNDLE", "as `REQUESTS_CA_BUNDLE`, when that is unset", "unset", platform=True))
    proxies: dict[str, str] = derived(  # noqa: RUF009 - derived() returns a dataclass field
        _proxies, *_proxy("http"), *_proxy("https"), *_proxy("no"), default={})
    # A malformed PUBLIC_* setting: only the public endpoints answer with it, the others keep working.
    public_fault: ConfigurationError | None = field(default=None, repr=False, compare=False)

    def private_callbacks(self) -> bool:
        """`NOTIFY_ALLOW_PRIVATE_CALLBACKS`, refused (`ConfigurationError` naming it) where the app runs in Azure:
        there it would open callbacks to the metadata endpoint and the private network."""
        if self.allow_private_callbacks and self.running_in_azure:
            raise ConfigurationError(message="The app setting NOTIFY_ALLOW_PRIVATE_CALLBACKS is for local development "
                                             "only and is refused in Azure: remove it (or set it to false).",
                                     setting="NOTIFY_ALLOW_PRIVATE_CALLBACKS")
        return self.allow_private_callbacks

    @property
    def storage(self) -> StorageConnection:
        """`AzureWebJobsStorage`: the host's storage, and the snapshots' and subscriptions'."""
        return StorageConnection(HOST_STORAGE, self.storage_connection, self.storage_account_name,
                                 self.storage_table_uri, self.storage_client_id)

    @property
    def state_storage(self) -> StorageConnection:
        """Where the shared state lives: `AVAILABILITY_STATE_STORAGE` when set, else `AzureWebJobsStorage`."""
        own = StorageConnection(STATE_STORAGE, self.state_storage_connection, self.state_storage_account_name,
                                self.state_storage_table_uri, self.state_storage_client_id)
        return own if own.configured else self.storage

    def require(self, *names: str) -> None:
        """Raise `ConfigurationError` for the first of `names` (attribute names) that is not set."""
        for name in names:
            if name == "key_vault_url" and self.client_secret:
                continue
            if name == "storage_connection" and (self.storage_account_name or self.storage_table_uri):
                continue
            if not getattr(self, name):
                raise self._missing(name)

    def required(self, name: str) -> str:
        """The text setting `name` (an attribute name), or `ConfigurationError` naming it when it is not set."""
        value = getattr(self, name)
        if not isinstance(value, str) or not value:
            raise self._missing(name)
        return value

    @staticmethod
    def _missing(name: str) -> ConfigurationError:
        setting_name = _source(name).declared[0].name
        hint = " (or DATAVERSE_CLIENT_SECRET for local development)" if name == "key_vault_url" else ""
        return ConfigurationError(message=f"The app setting {setting_name} is required{hint} but is not set.",
                                  setting=setting_name)


def _source(attribute: str) -> _Source:
    found: _Source = next(f for f in dataclasses.fields(Settings) if f.name == attribute).metadata["source"]
    return found


def declarations() -> list[Declared]:
    """Every environment variable the app reads, in the order of `Settings`."""
    return [declared for f in dataclasses.fields(Settings) if "source" in f.metadata
            for declared in f.metadata["source"].declared]


# Every app setting an operator may set: name -> its default as the docs say it (the deployment is checked against
# it), and the secret ones (never shown: the local stack's stack.json masks them).
APP_SETTINGS: dict[str, str] = {d.name: d.default for d in declarations() if not d.platform}
SECRETS: frozenset[str] = frozenset(d.name for d in declarations() if d.secret)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    secret = {declared.name: declared.secret for declared in declarations()}

    def get(name: str) -> str | None:
        if name not in secret:  # a variable read but not declared: the docs and the checks would not know it
            raise LookupError(f"{name} is read but not declared")
        value = env.get(name)
        if value is None or not value.strip():
            return None
        return value if secret[name] else value.strip()  # a secret is taken as it is written

    read: dict[str, Any] = {}
    faults: list[ConfigurationError] = []
    for item in dataclasses.fields(Settings):
        source: _Source | None = item.metadata.get("source")
        if source is None:
            continue

        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        try:
            read[item.name] = source.read(get, default)
        except ConfigurationError as fault:
            if not source.isolated:
                raise
            read[item.name] = default  # a malformed public setting must not stop the app loading
            faults.append(fault)
    return Settings(**read, public_fault=faults[0] if faults else None)
