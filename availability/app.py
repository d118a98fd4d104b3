"""The composition root: the one place the object graph is built, from `Settings` plus optional transports.

    settings → credential → DataverseClient → AvailabilityService → snapshot store and runner, org directory
                  state (memory, or shared through Table Storage) ↗          ↘ subscriptions, notifier
                                             ↘ workstream directory (the org's workstreams, shared likewise)

The blueprints ask `current()` for the process-wide `App`; tests, the benchmarks and the demo backfill build
their own `App(settings, Transports(...))`. Every part is built on first use, so importing the app (the cold
start) costs nothing, and a part whose settings are missing raises `ConfigurationError` when asked for, not
before — `/api/health` and the history reads work without an org configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the heavy modules load on first use only (settings too: it is read with the first request)
    import requests

    from .besttimes.cache import ProfileCache
    from .dashboard.directory import OrgDirectory
    from .dataverse import DataverseClient, DataverseCredential
    from .dataverse.clock import OrgClock
    from .notifications.store import SubscriptionStore
    from .notifications.watch import Notifier
    from .public.config import PublicChecks
    from .service import AvailabilityService
    from .settings import Settings
    from .snapshots import SnapshotRunner, SnapshotStore
    from .state import State
    from .workstreams import WorkstreamDirectory

T = TypeVar("T")

_SDK_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal")


@dataclass(frozen=True)
class Transports:
    """What the app talks through when not what Azure gives it by default.

    :param session: HTTP session to the org (default: a pooled session with the settings' CA bundle).
    :param vault_credential: the identity that reads Key Vault (default: `DefaultAzureCredential`).
    :param verify_vault_challenge: check the vault's 401 challenge against its host; only a local stand-in,
        whose loopback host can never be a subdomain of the real vault resource, turns it off.
    :param table_service: an `azure.data.tables.TableServiceClient` (default: the one `AzureWebJobsStorage`
        describes); the shared state's too, unless `AVAILABILITY_STATE_STORAGE` names its own.
    """

    session: requests.Session | None = None
    vault_credential: Any = None
    verify_vault_challenge: bool = True
    table_service: Any = None


class App:
    """The app's parts for one set of settings, each built once, on first use, thread-safely."""

    def __init__(self, settings: Settings, transports: Transports | None = None) -> None:
        self.settings = settings
        self.transports = transports or Transports()
        self._lock = threading.RLock()
        self._parts: dict[str, Any] = {}

    def _part(self, name: str, build: Callable[[], T]) -> T:
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._parts[name] = build()
        return part

    @property
    def credential(self) -> DataverseCredential:
        """Tokens for the org, from the client secret in Key Vault (or `DATAVERSE_CLIENT_SECRET` locally)."""

        def build() -> DataverseCredential:
            _quiet_sdk_logs()
            from .dataverse import DataverseCredential

            return DataverseCredential(self.settings, vault_credential=self.transports.vault_credential,
                                       verify_vault_challenge=self.transports.verify_vault_challenge)

        return self._part("credential", build)

    @property
    def client(self) -> DataverseClient:
        """The org's client: one token cache, one Retry-After gate, one calls budget, one connection pool."""

        def build() -> DataverseClient:
            from .dataverse import DataverseClient
            from .session import pooled_session

            config = self.settings
            org_url = config.required("dataverse_url")
            session = self.transports.session or pooled_session(org_url, 32, ca_bundle=config.ca_bundle,
                                                                proxies=config.proxies)
            state = self.state
            return DataverseClient(org_url, self.credential, timeout=config.timeout_seconds,
                                   attempt_timeout=min(10.0, config.timeout_seconds), session=session,
                                   gate=state.gate, budget=state.budget, slots=state.slots)

        return self._part("client", build)

    @property
    def org_clock(self) -> OrgClock:
        """The org's clock, learnt from its answers' `Date` (this machine's clock while no org is configured)."""

        def build() -> OrgClock:
            from .dataverse.clock import OrgClock
            from .errors import ConfigurationError

            try:
                return self.client.org_clock
            except ConfigurationError:  # history reads work without an org: the gateway's clock is all there is
                return OrgClock()

        return self._part("org_clock", build)

    @property
    def state(self) -> State:
        """Answers, calls in flight, the org's Retry-After and circuit, the calls budget and the cap on calls in
        flight: this instance's own, or with `AVAILABILITY_SHARED_STATE=table` every instance's through
        `AVAILABILITY_STATE_TABLE`."""

        def build() -> State:
            from .state import MemoryState, TableState, partition_for

            config = self.settings
            if config.shared_state != "table":
                return MemoryState(max_calls_per_minute=config.max_calls_per_minute,
                                   max_concurrent_calls=config.max_concurrent_calls)
            table = self.state_table_service.get_table_client(config.state_table)
            return TableState(table, partition_for(config.dataverse_url, config.client_id),
                              max_calls_per_minute=config.max_calls_per_minute,
                              max_concurrent_calls=config.max_concurrent_calls, cache_seconds=config.cache_seconds,
                              stale_seconds=config.stale_seconds)

        return self._part("state", build)

    @property
    def service(self) -> AvailabilityService:
        """Cache, single flight, stale answers and batches over the client."""

        def build() -> AvailabilityService:
            from .service import AvailabilityService

            return AvailabilityService(self.client, cache_seconds=self.settings.cache_seconds,
                                       stale_seconds=self.settings.stale_seconds, state=self.state,
                                       org_clock=self.org_clock)

        return self._part("service", build)

    @property
    def table_service(self) -> Any:
        """The `TableServiceClient` of `AzureWebJobsStorage` (`ConfigurationError` naming it when unset)."""

        def build() -> Any:
            _quiet_sdk_logs()
            from .tables import service_from_settings

            return self.transports.table_service or service_from_settings(self.settings)

        return self._part("table_service", build)

    @property
    def state_table_service(self) -> Any:
        """The `TableServiceClient` of the shared state: `AVAILABILITY_STATE_STORAGE`'s when it is set, else
        `table_service`."""

        def build() -> Any:
            connection = self.settings.state_storage
            if connection == self.settings.storage:
                return self.table_service
            _quiet_sdk_logs()
            from .tables import service_from_connection

            return service_from_connection(connection, ca_bundle=self.settings.ca_bundle)

        return self._part("state_table_service", build)

    @property
    def workstreams(self) -> WorkstreamDirectory:
        """The org's active workstreams, asked of the org once per `WORKSTREAMS_CACHE_SECONDS` (for every instance
        together through the state table when shared state is on)."""

        def build() -> WorkstreamDirectory:
            from .workstreams import SharedList, WorkstreamDirectory

            config = self.settings
            shared = None
            if config.shared_state == "table":
                from .state import partition_for

                shared = SharedList(self.state_table_service.get_table_client(config.state_table),
                                    partition_for(config.dataverse_url, config.client_id))
            def query(**when: Any) -> list[dict[str, Any]]:
                # The client is looked up when the org is asked, not now: an org not configured fails that only.
                return self.client.list_workstreams(**when)

            return WorkstreamDirectory(query, ttl=config.workstreams_cache_seconds,
                                       stale_seconds=config.stale_seconds, shared=shared)

        return self._part("workstreams", build)

    @property
    def snapshot_store(self) -> SnapshotStore:
        """Snapshot rows in `SNAPSHOT_TABLE`."""

        def build() -> SnapshotStore:
            from .snapshots import SnapshotStore

            return SnapshotStore(self.table_service.get_table_client(self.settings.snapshot_table))

        return self._part("snapshot_store", build)

    @property
    def snapshot_runner(self) -> SnapshotRunner:
        """What the snapshot timer runs: live checks through the service, rows into the store."""

        def build() -> SnapshotRunner:
            from .snapshots import SnapshotRunner, WorkstreamTargets

            config = self.settings
            store = self.snapshot_store  # storage first: without it a run has nowhere to write
            auto = config.snapshot_workstreams is None
            targets = WorkstreamTargets(config.snapshot_workstreams, self.workstreams if auto else None)
            return SnapshotRunner(schedule=config.snapshot_schedule, targets=targets, service=self.service,
                                  store=store, retention_days=config.snapshot_retention_days,
                                  time_zone=config.schedule_time_zone, org_clock=self.org_clock)

        return self._part("snapshot_runner", build)

    @property
    def profiles(self) -> ProfileCache:
        """Each workstream's history by hour of the week, read from `SNAPSHOT_TABLE` at most once per snapshot slot
        (on this instance), for the best times."""

        def build() -> ProfileCache:
            from .besttimes.cache import ProfileCache
            from .snapshots import schedule_zone

            config = self.settings
            return ProfileCache(self.snapshot_store, schedule=config.snapshot_schedule,
                                schedule_zone=schedule_zone(config.schedule_time_zone),
                                zone_name=config.best_times_time_zone, clock=self.org_clock.now)

        return self._part("profiles", build)

    @property
    def org_directory(self) -> OrgDirectory:
        """Names of the org's workstreams (from `workstreams`) and queues for the dashboard."""

        def build() -> OrgDirectory:
            from .dashboard.directory import OrgDirectory

            # The client is asked for on first use, not now.
            return OrgDirectory(lambda: self.client, workstreams=lambda: self.workstreams)

        return self._part("org_directory", build)

    @property
    def public_checks(self) -> PublicChecks:
        """The checks `PUBLIC_AVAILABILITY` publishes for anonymous callers and the origins that may read them (a
        malformed setting is kept as its fault, and logged once)."""

        def build() -> PublicChecks:
            from .public.config import PublicChecks

            return PublicChecks.from_settings(self.settings)

        return self._part("public_checks", build)

    @property
    def subscriptions(self) -> SubscriptionStore:
        """Change subscriptions and their watches in `SUBSCRIPTIONS_TABLE` (none while the callbacks' setting is
        refused: every subscription endpoint and the notify timer answer with that `ConfigurationError`)."""

        def build() -> SubscriptionStore:
            from .notifications.store import SubscriptionStore

            self.settings.private_callbacks()
            return SubscriptionStore(self.table_service.get_table_client(self.settings.subscriptions_table))

        return self._part("subscriptions", build)

    @property
    def notifier(self) -> Notifier:
        """What the notify timer runs: the watches through the service, the snapshot rows, signed deliveries."""

        def build() -> Notifier:
            from .notifications.delivery import CallbackSender
            from .notifications.watch import Notifier

            config = self.settings
            store = self.subscriptions
            sender = CallbackSender(allow_private=config.private_callbacks(), ca_bundle=config.ca_bundle)
            return Notifier(store=store, service=self.service, sender=sender,
                            snapshots=self.snapshot_store, schedule=config.notify_schedule,
                            snapshot_schedule=config.snapshot_schedule,
                            snapshot_workstreams=config.snapshot_workstreams, time_zone=config.schedule_time_zone,
                            org_clock=self.org_clock)

        return self._part("notifier", build)

    def close(self) -> None:
        """Close the connections of the parts built so far."""
        with self._lock:
            parts, self._parts = self._parts, {}
        closed: set[int] = set()
        for name in ("service", "client", "state", "snapshot_store", "subscriptions", "state_table_service",
                     "table_service"):
            part = parts.get(name)
            close = getattr(part, "close", None)
            if close is not None and id(part) not in closed:  # the shared state's service may be the host's
                closed.add(id(part))
                close()


_current: App | None = None
_transports = Transports()
_current_lock = threading.Lock()


def current() -> App:
    """The process-wide app, from the environment's settings (a malformed one raises, and is read again next time)."""
    global _current
    app = _current
    if app is None:
        with _current_lock:
            if _current is None:
                from .settings import load_settings

                _current = App(load_settings(), _transports)
            app = _current
    return app


def use_transports(transports: Transports) -> None:
    """Build the process-wide app with `transports`: for a host that gives the app transports of its own."""
    global _current, _transports
    with _current_lock:
        _transports, _current = transports, None


def use(app: App) -> None:
    """Make `app` the process-wide one: for a harness that calls the functions in process (the benchmarks)."""
    global _current
    with _current_lock:
        _current = app


def _quiet_sdk_logs() -> None:
    """The Azure SDKs log every request and response at INFO: keep only their warnings."""
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
