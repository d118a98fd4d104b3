"""The few process-wide instances, built lazily on first use so importing the app stays cheap."""

from __future__ import annotations

import logging
import threading
from typing import Any

from .settings import Settings, load_settings

_lock = threading.RLock()
_instances: dict[str, Any] = {}


def settings() -> Settings:
    """The app settings, read once (a malformed one raises ConfigurationError, and is read again next time)."""
    return _once("settings", load_settings)


def quiet_sdk_logs() -> None:
    """The Azure SDKs log every request and response at INFO: keep only their warnings."""
    for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal"):
        logging.getLogger(name).setLevel(logging.WARNING)


def availability_service() -> Any:
    """The AvailabilityService bound to the configured org."""

    def build() -> Any:
        quiet_sdk_logs()
        from .credentials import DataverseCredential
        from .dataverse import DataverseClient
        from .service import AvailabilityService

        config = settings()
        credential = DataverseCredential(config)
        client = DataverseClient(config.dataverse_url, credential, timeout=config.timeout_seconds,
                                 attempt_timeout=min(10.0, config.timeout_seconds))
        return AvailabilityService(client, cache_seconds=config.cache_seconds, stale_seconds=config.stale_seconds)

    return _once("service", build)


def _once(name: str, build: Any) -> Any:
    instance = _instances.get(name)
    if instance is None:
        with _lock:
            instance = _instances.get(name)
            if instance is None:
                instance = _instances[name] = build()
    return instance
