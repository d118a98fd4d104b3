"""Sandbox scenarios: a TOML description of an org's queues, workstreams and conversations.

The format is the one docs/sandbox.md describes. Fields added by the sandbox (all optional; a scenario without them gets
exactly the values written in it):

[org]
  token_lifetime_seconds = 3599   lifetime of every token minted (measured on the real clock); short values
                                  let tests see tokens expire.
  application_user = true         false: the app registration has no application user in the org, so every
                                  org call answers 403 0x80072560 (as the real org does).
[[queues]]
  type = "messaging"              msdyn_queuetype reported by the `queues` query: messaging | voice | entity.
  load = [ { between = "12:00-14:00", days = ["mon", "tue"],
             representatives = 1, waiting = 6, average_wait_seconds = 420, free_probability = 0.5 }, ... ]
                                  shifts in the queue's local time; the first entry covering the instant
                                  replaces the base values it names (days omitted = every day).
  variation = 0.25                0..1: spreads representatives, waiting and average_wait_seconds by up to
                                  ±25 %, deterministically per queue and 5-minute slot (hash, no randomness),
                                  so a history looks alive; 0 (default) keeps the values exact.
  free_probability = 0.9          0..1: in each 5-minute slot the representatives are free (their number as
                                  given) with this probability, else none is (0); a load entry may set its own,
                                  so a scenario states how likely a free representative is per hour of the week.
                                  Drawn by a random generator seeded with `seed`, the queue id and the slot: the
                                  same answers on every run, independent from slot to slot. 1 (default): always.
  seed = 7                        the seed of those draws (default 0).
[[workstreams]]
  active = true                   false: statecode 1, left out of `$filter=statecode eq 0`.
[[conversations]]
  engagement = { msdyn_browser = "Edge" }   engagement context of the conversation, for `engagement.` rules.
  position defaults to 1, context to {}.
"""

from __future__ import annotations

import hashlib
import random
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.hours import DAYS, OperatingHours, merge_spans, parse_span

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TEXT = "text"
INTEGER = "integer"
CHANNELS = ("chat", "voice", "messaging", "sms", "whatsapp", "facebook", "teams")
QUEUE_TYPES = {"messaging": 192350000, "entity": 192350001, "voice": 192350002}
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte")
# How often the representative metrics change under `variation` (upstream refreshes them every 5 minutes).
SLOT_SECONDS = 300


class ScenarioError(Exception):
    """A scenario that cannot be run; the message names the file and the line or the field at fault."""


@dataclass(frozen=True)
class Org:
    tenant_id: str
    client_id: str
    client_secret: str
    secret_name: str
    token_lifetime_seconds: int = 3599
    application_user: bool = True


@dataclass(frozen=True)
class Shift:
    """A stretch of local time during which some of a queue's values differ from its base values."""

    days: frozenset[int] | None
    start: int
    end: int
    values: dict[str, int]
    free_probability: float | None = None  # None: the queue's own


@dataclass(frozen=True)
class Metrics:
    representatives: int
    waiting: int
    average_wait_seconds: int


@dataclass(frozen=True)
class Queue:
    id: str
    name: str
    timezone: str
    hours: OperatingHours
    representatives: int
    waiting: int
    average_wait_seconds: int
    type: str = "messaging"
    has_hours: bool = False
    load: tuple[Shift, ...] = ()
    variation: float = 0.0
    free_probability: float = 1.0
    seed: int = 0

    def _shift_at(self, t: datetime) -> Shift | None:
        """The first load entry covering instant `t` (in the queue's local time), if any."""
        if not self.load:
            return None
        local = self.hours.local_time(t)
        minute = local.hour * 60 + local.minute
        for shift in self.load:
            if (shift.days is None or local.weekday() in shift.days) and shift.start <= minute < shift.end:
                return shift
        return None

    def free_probability_at(self, t: datetime) -> float:
        """How likely the representatives are free at instant `t`: the covering load entry's, else the queue's."""
        shift = self._shift_at(t)
        if shift is not None and shift.free_probability is not None:
            return shift.free_probability
        return self.free_probability

    def metrics_at(self, t: datetime) -> Metrics:
        """Representatives, waiting customers and average wait at instant `t` (base values, shifts, variation,
        and whether the representatives are free in this slot at all)."""
        values = {"representatives": self.representatives, "waiting": self.waiting,
                  "average_wait_seconds": self.average_wait_seconds}
        shift = self._shift_at(t)
        if shift is not None:
            values.update(shift.values)
        slot = int(t.timestamp()) // SLOT_SECONDS
        if self.variation:
            for name, value in values.items():
                values[name] = max(0, round(value * (1 + self.variation * _spread(self.id, name, slot))))
        probability = self.free_probability_at(t)
        if probability < 1 and _draw(self.id, self.seed, slot) >= probability:
            values["representatives"] = 0
        return Metrics(**values)


def _spread(queue_id: str, name: str, slot: int) -> float:
    """A stable number in [-1, 1] for a queue, a metric and a time slot."""
    digest = hashlib.blake2b(f"{queue_id}:{name}:{slot}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 0xFFFFFFFF * 2 - 1


def _draw(queue_id: str, seed: int, slot: int) -> float:
    """A number in [0, 1) from a generator seeded with `seed`, the queue and the slot: the same on every run."""
    # A string seed is hashed with SHA-512 by `random`, whatever PYTHONHASHSEED says.
    return random.Random(f"{seed}:{queue_id}:{slot}").random()


@dataclass(frozen=True)
class Condition:
    """One condition of a route-to-queue rule: a context item (text/integer) or an engagement context attribute."""

    name: str
    kind: str  # "text" | "integer" | "engagement"
    tests: tuple[tuple[str, Any], ...]

    def holds(self, items: dict[str, tuple[str, Any]], engagement: dict[str, Any]) -> bool:
        if self.kind == "engagement":
            if self.name not in engagement:
                return False
            actual = engagement[self.name]
            expected = self.tests[0][1]
            return type(actual) is type(expected) and actual == expected
        item = items.get(self.name)
        if item is None or item[0] != self.kind:
            return False
        value = item[1]
        return all(_compare(op, value, expected) for op, expected in self.tests)


def _compare(op: str, value: Any, expected: Any) -> bool:
    if op == "eq":
        return value == expected
    if op == "ne":
        return value != expected
    if op == "gt":
        return value > expected
    if op == "gte":
        return value >= expected
    if op == "lt":
        return value < expected
    return value <= expected


@dataclass(frozen=True)
class Rule:
    queue: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Workstream:
    id: str
    name: str
    channel: str
    default_queue: str
    rules: tuple[Rule, ...] = ()
    active: bool = True

    def route(self, items: dict[str, tuple[str, Any]], engagement: dict[str, Any]) -> str:
        """The queue id of the first rule whose conditions all hold, else the default queue."""
        for rule in self.rules:
            if all(c.holds(items, engagement) for c in rule.conditions):
                return rule.queue
        return self.default_queue


@dataclass(frozen=True)
class Conversation:
    id: str
    workstream: str
    context: dict[str, tuple[str, Any]] = field(default_factory=dict)
    engagement: dict[str, Any] = field(default_factory=dict)
    position: int = 1


@dataclass(frozen=True)
class Scenario:
    path: Path
    org: Org
    queues: dict[str, Queue]
    workstreams: dict[str, Workstream]
    conversations: dict[str, Conversation]


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError naming the line or the field at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return _Reader(path, text).scenario(data)


_NO_QUOTES = str.maketrans("", "", "\"'")


class _Reader:
    """Turns parsed TOML into a Scenario, with error messages that point at the field (and line, when found)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.split("\n")  # TOML's lines: splitlines() would also split at U+2028 in a string
        # (line index, [[array]] or not, name) of every table header; `[[ queues . "load" ]]` is queues.load
        self.headers = [(n, bool(m.group(1)), re.sub(r"\s*\.\s*", ".", m.group(2).strip()).translate(_NO_QUOTES))
                        for n, line in enumerate(self.lines)
                        if (m := re.match(r"^\s*\[(\[)?([^\[\]]+)\]\]?\s*(?:#.*)?$", line))]

    def fail(self, where: str, message: str, needle: str | None = None, *, key: bool = False) -> ScenarioError:
        line = self._line_of(where, needle, key=key) if needle else None
        at = f" (line {line})" if line else ""
        return ScenarioError(f"{self.path}: {where}{at}: {message}")

    def _line_of(self, where: str, needle: str, *, key: bool = False) -> int | None:
        """The line of `needle` (a key, or a value as a whole word) inside the table `where` names.

        `queues[2].load[1]` is looked for below the third `[[queues]]` header and, when the loads are written
        as `[[queues.load]]` tables, below the second of those inside it. Where the path goes on inside one
        line or an inline array, only a needle found on exactly one line of what is left is placed: no line
        is better than a wrong one.
        """
        escaped = re.escape(needle)
        word = re.compile(rf"(?<![\w.-]){escaped}(?![\w-])")
        start, end, exact, table = 0, len(self.lines), True, ""
        path = where[1:-1] if re.fullmatch(r"\[\w+\]", where) else where  # "[org]"
        steps = re.findall(r"(\w+)(?:\[(\d+)\])?", path) if where != "the file" else []
        for name, index in steps:
            table = f"{table}.{name}" if table else name
            starts = [n for n, array, header in self.headers
                      if start <= n < end and array == bool(index) and header == table]
            if int(index or 0) >= len(starts):
                exact = False  # the rest of the path is inside the lines found so far
                break
            start = starts[int(index or 0)] + 1
            # The table goes on through its own sub-tables ([queues.hours]) up to the next other header.
            end = next((n for n, _, header in self.headers if start <= n < end
                        and not header.startswith(f"{table}.")), end)
        if key:
            # A table's own keys start their lines (bare, quoted or dotted); inline tables' keys follow a
            # brace or a comma; at the top, a table is also named by a header.
            name = rf"""(?:"{escaped}"|'{escaped}'|{escaped})\s*[=.]"""
            word = re.compile(rf"^\s*{name}" if exact else rf"(?:^|[{{,])\s*{name}")
            if not steps:  # the file's own keys come before its first header
                first = self.headers[0][0] if self.headers else len(self.lines)
                found = [n + 1 for n in range(first) if word.search(self.lines[n])]
                found += [n + 1 for n, _, header in self.headers if header.split(".")[0] == needle]
                return min(found, default=None)
        found = [n + 1 for n in range(start, end) if word.search(self.lines[n])]
        if exact:
            return found[0] if found else None
        return found[0] if len(found) == 1 else None

    def scenario(self, data: dict[str, Any]) -> Scenario:
        self.keys(data, "the file", {"org", "queues", "workstreams", "conversations"}, {"org"})
        org = self.org(data["org"])
        queues: dict[str, Queue] = {}
        for i, raw in enumerate(self.list_of_tables(data, "queues", "the file")):
            queue = self.queue(raw, f"queues[{i}]")
            if queue.id in queues:
                raise self.fail(f"queues[{i}].id", f"duplicate queue id '{raw['id']}'", raw["id"])
            queues[queue.id] = queue
        workstreams: dict[str, Workstream] = {}
        for i, raw in enumerate(self.list_of_tables(data, "workstreams", "the file")):
            workstream = self.workstream(raw, f"workstreams[{i}]", queues)
            if workstream.id in workstreams:
                raise self.fail(f"workstreams[{i}].id", f"duplicate workstream id '{raw['id']}'", raw["id"])
            workstreams[workstream.id] = workstream
        conversations: dict[str, Conversation] = {}
        for i, raw in enumerate(self.list_of_tables(data, "conversations", "the file")):
            conversation = self.conversation(raw, f"conversations[{i}]", workstreams)
            if conversation.id in conversations:
                raise self.fail(f"conversations[{i}].id", f"duplicate conversation id '{raw['id']}'", raw["id"])
            conversations[conversation.id] = conversation
        return Scenario(self.path, org, queues, workstreams, conversations)

    # -- sections -------------------------------------------------------------------------------------------

    def org(self, raw: Any) -> Org:
        where = "[org]"
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        self.keys(raw, where, {"tenant_id", "client_id", "client_secret", "secret_name",
                               "token_lifetime_seconds", "application_user"},
                  {"tenant_id", "client_id", "client_secret"})
        lifetime = self.integer(raw, "token_lifetime_seconds", where, default=3599, minimum=1)
        secret = self.string(raw, "client_secret", where)
        if not secret:
            raise self.fail(f"{where}.client_secret", "must not be empty")
        application_user = raw.get("application_user", True)
        if not isinstance(application_user, bool):
            raise self.fail(f"{where}.application_user", "must be true or false")
        return Org(
            tenant_id=self.guid(raw, "tenant_id", where),
            client_id=self.guid(raw, "client_id", where),
            client_secret=secret,
            secret_name=self.string(raw, "secret_name", where, default="dataverse-client-secret"),
            token_lifetime_seconds=lifetime,
            application_user=application_user,
        )

    def queue(self, raw: dict[str, Any], where: str) -> Queue:
        self.keys(raw, where, {"id", "name", "timezone", "hours", "holidays", "representatives", "waiting",
                               "average_wait_seconds", "type", "load", "variation", "free_probability", "seed"},
                  {"id", "name"})
        queue_id = self.guid(raw, "id", where)
        tz_name = self.string(raw, "timezone", where, default="UTC")
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(f"{where}.timezone", f"unknown IANA time zone '{tz_name}'", tz_name) from None
        week = None
        if "hours" in raw:
            week = self.week(raw["hours"], f"{where}.hours")
        holidays = frozenset(self.holiday(value, f"{where}.holidays[{j}]")
                             for j, value in enumerate(self.list_of(raw, "holidays", where)))
        queue_type = self.string(raw, "type", where, default="messaging")
        if queue_type not in QUEUE_TYPES:
            raise self.fail(f"{where}.type", f"'{queue_type}' is not one of {', '.join(QUEUE_TYPES)}")
        variation = self.share(raw, "variation", where, default=0)
        free_probability = self.share(raw, "free_probability", where, default=1)
        load = tuple(self.shift(value, f"{where}.load[{j}]")
                     for j, value in enumerate(self.list_of(raw, "load", where)))
        return Queue(
            id=queue_id,
            name=self.string(raw, "name", where),
            timezone=tz_name,
            hours=OperatingHours(tz, week, holidays),
            representatives=self.integer(raw, "representatives", where, default=0, minimum=0),
            waiting=self.integer(raw, "waiting", where, default=0, minimum=0),
            average_wait_seconds=self.integer(raw, "average_wait_seconds", where, default=0, minimum=0),
            type=queue_type,
            has_hours=week is not None,
            load=load,
            variation=variation,
            free_probability=free_probability,
            seed=self.integer(raw, "seed", where, default=0, minimum=0),
        )

    def week(self, raw: Any, where: str) -> dict[int, tuple[tuple[int, int], ...]]:
        if not isinstance(raw, dict):
            raise self.fail(where, 'must be a table like { mon = ["08:00-18:00"] }')
        week = {}
        for day, given in raw.items():
            if day not in DAYS:
                raise self.fail(f"{where}.{day}", f"'{day}' is not a day ({', '.join(DAYS)})")
            spans = [given] if isinstance(given, str) else given
            if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
                raise self.fail(f"{where}.{day}", 'must be a list of windows like ["08:00-12:00"]')
            try:
                week[DAYS.index(day)] = merge_spans([parse_span(s) for s in spans])
            except ValueError as exc:
                raise self.fail(f"{where}.{day}", str(exc)) from None
        return week

    def holiday(self, value: Any, where: str) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(where, f"{value!r} is not a date like \"2026-12-25\"")

    def shift(self, raw: Any, where: str) -> Shift:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        self.keys(raw, where, {"between", "days", "representatives", "waiting", "average_wait_seconds",
                               "free_probability"}, {"between"})
        try:
            start, end = parse_span(self.string(raw, "between", where))
        except ValueError as exc:
            raise self.fail(f"{where}.between", str(exc)) from None
        days = None
        if "days" in raw:
            names = raw["days"]
            if not isinstance(names, list) or not all(n in DAYS for n in names):
                raise self.fail(f"{where}.days", f"must be a list of days ({', '.join(DAYS)})")
            days = frozenset(DAYS.index(n) for n in names)
        values = {name: self.integer(raw, name, where, minimum=0)
                  for name in ("representatives", "waiting", "average_wait_seconds") if name in raw}
        free_probability = self.share(raw, "free_probability", where) if "free_probability" in raw else None
        return Shift(days, start, end, values, free_probability)

    def workstream(self, raw: dict[str, Any], where: str, queues: dict[str, Queue]) -> Workstream:
        self.keys(raw, where, {"id", "name", "channel", "default_queue", "rules", "active"},
                  {"id", "name", "default_queue"})
        channel = self.string(raw, "channel", where, default="chat")
        if channel not in CHANNELS:
            raise self.fail(f"{where}.channel", f"'{channel}' is not one of {', '.join(CHANNELS)}")
        active = raw.get("active", True)
        if not isinstance(active, bool):
            raise self.fail(f"{where}.active", "must be true or false")
        rules = tuple(self.rule(value, f"{where}.rules[{j}]", queues)
                      for j, value in enumerate(self.list_of(raw, "rules", where)))
        return Workstream(
            id=self.guid(raw, "id", where),
            name=self.string(raw, "name", where),
            channel=channel,
            default_queue=self.reference(raw, "default_queue", where, queues, "queue"),
            rules=rules,
            active=active,
        )

    def rule(self, raw: Any, where: str, queues: dict[str, Queue]) -> Rule:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table like { queue = \"<guid>\", when = { Language = \"fr\" } }")
        self.keys(raw, where, {"queue", "when"}, {"queue", "when"})
        when = raw["when"]
        if not isinstance(when, dict) or not when:
            raise self.fail(f"{where}.when", "must be a non-empty table of conditions")
        conditions = tuple(self.condition(name, value, f"{where}.when.{name}") for name, value in when.items())
        return Rule(self.reference(raw, "queue", where, queues, "queue"), conditions)

    def condition(self, name: str, value: Any, where: str) -> Condition:
        if name.startswith("engagement."):
            attribute = name[len("engagement."):]
            if not attribute or not _is_scalar(value):
                raise self.fail(where, "an engagement condition compares with one string or integer")
            return Condition(attribute, "engagement", (("eq", value),))
        if isinstance(value, str):
            return Condition(name, TEXT, (("eq", value),))
        if is_integer(value):
            return Condition(name, INTEGER, (("eq", value),))
        if isinstance(value, dict) and value:
            tests = []
            for op, operand in value.items():
                if op not in OPERATORS:
                    raise self.fail(where, f"'{op}' is not a comparison ({', '.join(OPERATORS)})")
                if not is_integer(operand):
                    raise self.fail(where, f"'{op}' compares integers, got {operand!r}")
                tests.append((op, operand))
            return Condition(name, INTEGER, tuple(tests))
        raise self.fail(where, "must be a string (Text item), an integer, or a table like { gte = 2 } (Integer item)")

    def conversation(self, raw: dict[str, Any], where: str, workstreams: dict[str, Workstream]) -> Conversation:
        self.keys(raw, where, {"id", "workstream", "context", "engagement", "position"}, {"id", "workstream"})
        context = raw.get("context", {})
        if not isinstance(context, dict):
            raise self.fail(f"{where}.context", "must be a table of context items")
        items: dict[str, tuple[str, str | int]] = {}
        for name, value in context.items():
            if isinstance(value, str):
                items[name] = (TEXT, value)
            elif is_integer(value):
                items[name] = (INTEGER, value)
            else:
                raise self.fail(f"{where}.context.{name}", "a context item is a string (Text) or an integer (Integer)")
        engagement = raw.get("engagement", {})
        if not isinstance(engagement, dict) or not all(_is_scalar(v) for v in engagement.values()):
            raise self.fail(f"{where}.engagement", "must be a table of string or integer attributes")
        return Conversation(
            id=self.guid(raw, "id", where),
            workstream=self.reference(raw, "workstream", where, workstreams, "workstream"),
            context=items,
            engagement=dict(engagement),
            position=self.integer(raw, "position", where, default=1, minimum=0),
        )

    # -- fields ---------------------------------------------------------------------------------------------

    def keys(self, raw: dict[str, Any], where: str, allowed: set[str], required: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                raise self.fail(where, f"unknown field '{key}' (expected one of {', '.join(sorted(allowed))})", key,
                                key=True)
        for key in sorted(required):
            if key not in raw:
                raise self.fail(where, f"missing field '{key}'")

    def list_of_tables(self, raw: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
        values = self.list_of(raw, key, where)
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                raise self.fail(f"{key}[{i}]", f"must be a table ([[{key}]])")
        return values

    def list_of(self, raw: dict[str, Any], key: str, where: str) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", "must be a list")
        return value

    def string(self, raw: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "must be a string")
        return value

    def integer(self, raw: dict[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
        value = raw.get(key, default)
        if not is_integer(value) or value < minimum:
            raise self.fail(f"{where}.{key}", f"must be an integer ≥ {minimum}")
        return value

    def share(self, raw: dict[str, Any], key: str, where: str, default: float = 0) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise self.fail(f"{where}.{key}", "must be a number between 0 and 1")
        return float(value)

    def guid(self, raw: dict[str, Any], key: str, where: str) -> str:
        value = self.string(raw, key, where)
        if not GUID.match(value):
            raise self.fail(f"{where}.{key}", f"'{value}' is not a GUID", value)
        return value.lower()

    def reference(self, raw: dict[str, Any], key: str, where: str, known: dict[str, Any], kind: str) -> str:
        value = self.guid(raw, key, where)
        if value not in known:
            raise self.fail(f"{where}.{key}", f"unknown {kind} id '{raw[key]}'", raw[key])
        return value


def is_integer(value: object) -> TypeGuard[int]:
    """An integer as read from TOML or JSON (a bool is not one, though Python says it is)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str) or is_integer(value)
