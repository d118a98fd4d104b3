"""The few process-wide instances, built lazily on first use so importing the app stays cheap."""

from __future__ import annotations

import logging
import threading
from typing import Any


_lock = threading.RLock()
_instances: dict[str, Any] = {}


def settings() -> Any:
    """The app `Settings`, read once (a malformed one raises ConfigurationError, and is read again next time)."""
    from .settings import load_settings

    return _once("settings", load_settings)


def quiet_sdk_logs() -> None:
    """The Azure SDKs log every request and response at INFO: keep only their warnings."""
    for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal"):
        logging.getLogger(name).setLevel(logging.WARNING)


def dataverse_client() -> Any:
    """The DataverseClient for the configured org (one token cache, one throttle state, one pool)."""

    def build() -> Any:
        quiet_sdk_logs()
        from .credentials import DataverseCredential
        from .dataverse import DataverseClient

        config = settings()
        credential = DataverseCredential(config)
        return DataverseClient(config.dataverse_url, credential, timeout=config.timeout_seconds,
                               attempt_timeout=min(10.0, config.timeout_seconds),
                               max_calls_per_minute=config.max_calls_per_minute)

    return _once("client", build)


def availability_service() -> Any:
    """The AvailabilityService bound to the configured org."""

    def build() -> Any:
        from .service import AvailabilityService

        config = settings()
        return AvailabilityService(dataverse_client(), cache_seconds=config.cache_seconds,
                                   stale_seconds=config.stale_seconds)

    return _once("service", build)


def snapshot_store() -> Any:
    """The SnapshotStore on `SNAPSHOT_TABLE` (ConfigurationError naming AzureWebJobsStorage when unset)."""

    def build() -> Any:
        quiet_sdk_logs()
        from .snapshots import SnapshotStore

        return SnapshotStore.from_settings(settings())

    return _once("snapshot_store", build)


def snapshot_runner() -> Any:
    """The SnapshotRunner the timer calls: live checks through the shared service, rows into the store."""

    def build() -> Any:
        from .snapshots import SnapshotRunner, WorkstreamTargets

        config = settings()
        store = snapshot_store()  # storage first: without it a run has nowhere to write
        auto = config.snapshot_workstreams is None
        targets = WorkstreamTargets(config.snapshot_workstreams, dataverse_client() if auto else None)
        return SnapshotRunner(schedule=config.snapshot_schedule, targets=targets, service=availability_service(),
                              store=store, retention_days=config.snapshot_retention_days)

    return _once("snapshot_runner", build)


def org_directory() -> Any:
    """Names of the org's workstreams and queues for the dashboard, refreshed every 10 minutes."""

    def build() -> Any:
        from .dashboard import OrgDirectory

        return OrgDirectory(dataverse_client)  # the client is asked for on first use, not now

    return _once("org_directory", build)


def _once(name: str, build: Any) -> Any:
    instance = _instances.get(name)
    if instance is None:
        with _lock:
            instance = _instances.get(name)
            if instance is None:
                instance = _instances[name] = build()
    return instance
