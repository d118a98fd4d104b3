"""How each kind of setting value is read: `(value, name, default) -> the typed value`.

`value` is the setting's text, stripped (None when absent or blank); `name` is the setting, named in the
`ConfigurationError` a malformed value raises. A refused value is never echoed when it may be a credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigurationError

T = TypeVar("T")
Reader = Callable[[str | None, str, T], T]

SHARED_STATES = ("table", "off")


def bad(name: str, why: str) -> ConfigurationError:
    return ConfigurationError(message=f"The app setting {name} {why}.", setting=name)


def text(value: str | None, name: str, default: str | None) -> str | None:
    return default if value is None else value


def present(value: str | None, name: str, default: bool) -> bool:
    """True when the variable is set at all (a platform's marker, such as WEBSITE_INSTANCE_ID)."""
    return value is not None or default


def url(example: str) -> Reader[str | None]:
    """An absolute https URL without user info, query or fragment, its trailing slash dropped."""

    def read(value: str | None, name: str, default: str | None) -> str | None:
        if value is None:
            return default
        try:
            parts = urlsplit(value)
            has_user = parts.username is not None or parts.password is not None
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise bad(name, f"must be an absolute https URL such as {example}") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise bad(name, f"must be an absolute https URL such as {example}")
        if parts.scheme == "http":
            raise bad(name, "must use https")
        if has_user:
            raise bad(name, "must not carry a user name or password")  # not echoed: user info is a credential
        if parts.query or parts.fragment:
            raise bad(name, "must not carry a query or a fragment")
        return value.rstrip("/")

    return read


def _uuid(value: str) -> str:
    from uuid import UUID  # uuid imports `platform`, a cost for every cold start: only when a GUID is read

    return str(UUID(value))


def guid(value: str | None, name: str, default: str | None) -> str | None:
    if value is None:
        return default
    try:
        return _uuid(value)
    except ValueError:
        raise bad(name, "must be a GUID such as 00000000-0000-0000-0000-000000000000") from None


def tenant(value: str | None, name: str, default: str | None) -> str | None:
    """A tenant GUID, or one of the tenant's domains (contoso.onmicrosoft.com)."""
    if value is None:
        return default
    try:
        return _uuid(value)
    except ValueError:
        pass
    if all(part.isalnum() or part.replace("-", "").isalnum() for part in value.split(".")) and "." in value:
        return value.lower()
    raise bad(name, "must be a tenant GUID or a domain such as contoso.onmicrosoft.com")


def secret_name(value: str | None, name: str, default: str) -> str:
    """A Key Vault secret name: 1-127 letters, digits and dashes."""
    value = default if value is None else value
    if not (1 <= len(value) <= 127 and value.replace("-", "").isalnum() and value.isascii()):
        raise bad(name, "must be 1-127 letters, digits or dashes")
    return value


def seconds(maximum: float, *, zero_is_default: bool = False) -> Reader[float]:
    """A number of seconds from 0 to `maximum` (`zero_is_default`: 0 means the default)."""

    def read(value: str | None, name: str, default: float) -> float:
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise bad(name, "must be a number of seconds") from None
        if not (0 <= number <= maximum):
            raise bad(name, f"must be between 0 and {maximum:g} seconds")
        return default if zero_is_default and number == 0 else number

    return read


def whole(low: int, high: int) -> Reader[int]:
    """A whole number from `low` to `high`."""

    def read(value: str | None, name: str, default: int) -> int:
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise bad(name, "must be a whole number") from None
        if not (low <= number <= high):
            raise bad(name, f"must be between {low} and {high}")
        return number

    return read


def schedule(value: str | None, name: str, default: str) -> str:
    """An NCRONTAB expression of 6 fields (the timers' own check of it comes when they run)."""
    fields = (default if value is None else value).split()
    if len(fields) != 6:
        raise bad(name, "must be an NCRONTAB expression with 6 fields (second minute hour day month weekday)")
    return " ".join(fields)


def flag(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise bad(name, "must be true or false")


def workstreams(value: str | None, name: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Workstream GUIDs, comma-separated, lowercase and each once; None for `auto`."""
    if value is None or value.lower() == "auto":
        return default
    ids = [guid(item.strip(), name, None) for item in value.split(",") if item.strip()]
    if not ids:
        raise bad(name, "must be 'auto' or a comma-separated list of workstream GUIDs")
    return tuple(dict.fromkeys(str(item) for item in ids))


def table(value: str | None, name: str, default: str) -> str:
    """A table name: 3-63 letters or digits, starting with a letter."""
    value = default if value is None else value
    if not (3 <= len(value) <= 63 and value.isalnum() and value.isascii() and not value[0].isdigit()):
        raise bad(name, "must be 3-63 letters or digits, starting with a letter")
    return value


def zone_name(value: str | None, name: str, default: str) -> str:
    """An IANA time zone name (Europe/Paris) of the tz database the app ships, or UTC."""
    if value is None:
        return default
    from ..localtime import is_zone_name

    if value.upper() in ("UTC", "ETC/UTC"):
        return "UTC"
    if not is_zone_name(value):
        raise bad(name, "must be an IANA time zone name such as Europe/Paris")
    return value


def choice(*choices: str) -> Reader[str | None]:
    """One of `choices` (any case), lowercase."""

    def read(value: str | None, name: str, default: str | None) -> str | None:
        if value is None:
            return default
        if value.lower() not in choices:
            raise bad(name, f"must be {' or '.join(choices)}")
        return value.lower()

    return read


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        # json.loads would keep the last of two equal names silently: which one was meant is unknowable.
        repeated = next(name for name in names if names.count(name) > 1)
        raise bad("PUBLIC_AVAILABILITY", f"names '{repeated[:40]}' twice in one object")
    return dict(pairs)


def public_checks(value: str | None, name: str, default: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A JSON object of alias -> check body (the check itself is validated where it is used)."""
    if value is None:
        return default
    example = 'such as {"support": {"workstreamId": "00000000-0000-0000-0000-000000000000"}}'
    try:
        checks = json.loads(value, object_pairs_hook=_unique_names)
    except (ValueError, RecursionError):
        raise bad(name, f"must be a JSON object of alias to check, {example}") from None
    if not isinstance(checks, dict):
        raise bad(name, f"must be a JSON object of alias to check, {example}")
    for alias, check in checks.items():
        if not _alias_pattern().fullmatch(alias):
            raise bad(name, f"has the alias {json.dumps(alias[:40])}: aliases are 1 to 40 of a-z, 0-9 and -")
        if not isinstance(check, dict):
            raise bad(name, f"must give the alias '{alias}' a check object, {example}")
    return checks


def origins(value: str | None, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Origins as browsers write an Origin header: scheme://host[:port], lowercase, no default port; ("*",)."""
    if value is None:
        return default
    why = "must be * or comma-separated origins such as https://www.contoso.com (no path)"
    found = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        if item == "*":
            return ("*",)
        try:
            parts = urlsplit(item)
            port = parts.port
        except ValueError:
            raise bad(name, why) from None
        if (parts.scheme.lower() not in ("https", "http") or not parts.hostname or parts.path not in ("", "/")
                or parts.query or parts.fragment or "@" in parts.netloc):
            raise bad(name, why)
        scheme = parts.scheme.lower()
        default_port = {"https": 443, "http": 80}[scheme]
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        found.append(f"{scheme}://{host}" + (f":{port}" if port not in (None, default_port) else ""))
    return tuple(dict.fromkeys(found))


def _alias_pattern() -> re.Pattern[str]:
    # The request shapes load with the first request that needs them, not with the app (cold start).
    from ..schemas import ALIAS_PATTERN

    return re.compile(ALIAS_PATTERN)
