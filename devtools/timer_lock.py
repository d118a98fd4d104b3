"""The local host's singleton lock for timers: with several instances of one app, each occurrence of a timer runs
on one instance only, as in Azure.

Azure's host takes a blob lease in `AzureWebJobsStorage`; the local stack's Azurite runs only its Table service,
so the lock is a row per timer in a table of the same account (`LocalHostTimerLocks`, partition = the host id that
the instances of one app share, `AzureFunctionsWebHost__hostid` as in Azure). An occurrence is claimed with a
conditional write: an insert when the timer has no row yet, else a replace on the ETag just read, so of the
instances that fire for the same occurrence exactly one wins, whatever their clocks and timings.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("host")

TABLE = "LocalHostTimerLocks"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"


class TimerLock:
    """Claims timer occurrences for this instance; without storage every occurrence is this instance's."""

    def __init__(self, table: Any, host_id: str) -> None:
        self._table = table  # None: no storage configured, one instance assumed
        self.host_id = host_id
        self.instance = uuid.uuid4().hex[:12]
        self._created = False

    @classmethod
    def from_environment(cls) -> TimerLock:
        """The lock in the table service of `AzureWebJobsStorage`, for the host id the environment names."""
        host_id = os.environ.get(HOST_ID_SETTING) or f"host-{uuid.uuid4().hex[:12]}"
        try:
            from availability.settings import load_settings
            from availability.tables import service_from_settings

            settings = load_settings()
            if not (settings.storage_connection or settings.storage_account_name or settings.storage_table_uri):
                log.info("No AzureWebJobsStorage: timers run on this instance without a singleton lock")
                return cls(None, host_id)
            table = service_from_settings(settings).get_table_client(TABLE)
        except Exception as exc:  # a malformed setting is the app's to report; the host still runs its timers
            log.warning("Timers run without a singleton lock: %s", exc)
            return cls(None, host_id)
        return cls(table, host_id)

    def claim(self, timer: str, occurrence: datetime) -> bool:
        """True when this instance runs `timer`'s `occurrence`; False when another instance has it (or storage
        cannot say, as Azure's host does not run a timer whose lock it cannot take)."""
        if self._table is None:
            return True
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        due = occurrence.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entity = {"PartitionKey": self.host_id, "RowKey": timer.lower(), "Occurrence": due, "Owner": self.instance}
        try:
            self._ensure_table()
            try:
                row = self._table.get_entity(self.host_id, timer.lower())
            except ResourceNotFoundError:
                self._table.create_entity(entity)
                return True
            if str(row.get("Occurrence") or "") >= due:
                return False
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceExistsError, ResourceModifiedError):
            return False  # another instance claimed it first
        except AzureError as exc:
            log.warning("Timer %s: the occurrence %s is skipped, its lock could not be taken: %s", timer, due,
                        type(exc).__name__)
            return False

    def _ensure_table(self) -> None:
        if self._created:
            return
        from availability.tables import create_table

        create_table(self._table)
        self._created = True
