"""The published checks and the origins that may read them, from `PUBLIC_AVAILABILITY` and
`PUBLIC_ALLOWED_ORIGINS`.

Each alias stands for one fixed before-conversation check, validated as a request body is (`checks.py`), so no
caller input ever reaches the upstream call and callers cannot vary the cache key. A malformed setting is kept as
its fault: the public endpoints answer `configuration_error` naming it, the keyed endpoints are unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..checks import BeforeConversationCheck, parse_before_conversation
from ..errors import ConfigurationError, InvalidRequest, NotFound
from ..settings import Settings

log = logging.getLogger(__name__)

SETTING = "PUBLIC_AVAILABILITY"


@dataclass(frozen=True)
class PublicChecks:
    """The checks anonymous callers may ask for, by alias, and the origins whose pages may read the answers."""

    checks: Mapping[str, BeforeConversationCheck] = field(default_factory=dict)
    origins: frozenset[str] = frozenset()
    fault: ConfigurationError | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicChecks:
        """Read both settings once; a fault is logged here, so once per app, not once per request."""
        fault = settings.public_fault
        checks: dict[str, BeforeConversationCheck] = {}
        if fault is None:
            try:
                checks = {alias: _check(alias, body) for alias, body in settings.public_checks.items()}
            except ConfigurationError as error:
                fault = error
        if fault is not None:
            log.error("The public endpoints answer configuration_error: %s", fault.message)
        return cls(checks, frozenset(settings.public_origins), fault)

    @property
    def any_origin(self) -> bool:
        return "*" in self.origins

    def check(self, alias: str) -> BeforeConversationCheck:
        """The check published as `alias`; `ConfigurationError` while a setting is malformed, else `NotFound`."""
        if self.fault is not None:
            # A fresh error each time: raising one instance from many threads would grow its traceback.
            raise ConfigurationError(self.fault.message, setting=self.fault.setting)
        found = self.checks.get(alias)
        if found is None:
            raise NotFound("No availability is published under this alias.")
        return found


def _check(alias: str, body: object) -> BeforeConversationCheck:
    try:
        return parse_before_conversation(body, prefix=alias)
    except InvalidRequest as error:
        where = f" at {error.target}" if error.target else ""
        raise ConfigurationError(f"The app setting {SETTING} is malformed{where}: {error.message}",
                                 setting=SETTING) from None
