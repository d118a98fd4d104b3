"""The checks callers ask for, and their validation: caller JSON → `BeforeConversationCheck` / `ForConversationCheck`.

A body is validated against its shape in `schemas/` (the definition the OpenAPI document publishes too) by
a compiled JSON Schema validator; a valid body then only needs reading. A refused body becomes one
`InvalidRequest` naming the field at fault in `target` (prefixed, inside a batch, with the check's place:
`checks[3].workstreamId`), worded from the keyword that failed and the schema's `_subject` / `_messages`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from . import schemas
from .errors import InvalidRequest
from .schemas import GUID_PATTERN, INT_MAX, INT_MIN, MAX_BATCH, MAX_CONTEXT_ITEMS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_BATCH",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_LENGTH",
    "BeforeConversationCheck",
    "Check",
    "ContextItem",
    "EscalationRequest",
    "ForConversationCheck",
    "is_guid",
    "parse_batch",
    "parse_before_conversation",
    "parse_escalation",
    "parse_for_conversation",
    "validated",
]

ItemType = Literal["text", "integer"]

_GUID = re.compile(GUID_PATTERN)


def is_guid(value: object) -> bool:
    """True for a GUID in its 8-4-4-4-12 hexadecimal form."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


@dataclass(frozen=True)
class ContextItem:
    """One custom context item, as route-to-queue rules see it."""

    name: str
    value: str | int
    type: ItemType = "text"
    is_displayable: bool = True


def _context_key(items: tuple[ContextItem, ...]) -> tuple[tuple[str, str, str | int, bool], ...]:
    # Order does not reach upstream (it becomes a JSON object), so it must not split the cache.
    return tuple(sorted(((i.name, i.type, i.value, i.is_displayable) for i in items), key=repr))


@dataclass(frozen=True)
class BeforeConversationCheck:
    """Where would a new customer of this workstream land, and is it staffed?"""

    workstream_id: str
    context_items: tuple[ContextItem, ...] = ()
    engagement_context: tuple[tuple[str, str], ...] = ()
    time_zone: str | None = None
    language: str | None = None  # the tag asked for; the language used is negotiated when answering

    def cache_key(self) -> tuple[Any, ...]:
        """Everything that can change the upstream answer; `time_zone` and `language` only reword `message`."""
        return (
            "before-conversation",
            self.workstream_id.lower(),
            _context_key(self.context_items),
            tuple(sorted(self.engagement_context)),
        )



@dataclass(frozen=True)
class ForConversationCheck:
    """Is the queue of this ongoing conversation staffed (the AI-agent escalation case)?"""

    conversation_id: str
    context_items: tuple[ContextItem, ...] = ()
    time_zone: str | None = None
    language: str | None = None

    def cache_key(self) -> tuple[Any, ...]:
        """Everything that can change the upstream answer; `time_zone` and `language` only reword `message`."""
        return ("for-conversation", self.conversation_id.lower(), _context_key(self.context_items))



Check = BeforeConversationCheck | ForConversationCheck


@dataclass(frozen=True)
class EscalationRequest:
    """A check to decide on, and how long this customer may wait (None: the app's default)."""

    check: Check
    max_wait_seconds: int | None = None

    def max_wait(self, default: int) -> int:
        """The longest acceptable wait in seconds: the request's, else `default`."""
        return default if self.max_wait_seconds is None else self.max_wait_seconds


# ----------------------------------------------------------------------------------- reading the requests


def parse_before_conversation(obj: Any, prefix: str = "") -> BeforeConversationCheck:
    """Validate a before-conversation body; `prefix` (e.g. "checks[3]") is put in front of every target."""
    body = _validated("BeforeConversationRequest", obj, prefix)
    return BeforeConversationCheck(
        workstream_id=body["workstreamId"].lower(),
        context_items=_context_items(body.get("contextItems")),
        engagement_context=tuple((body.get("engagementContext") or {}).items()),
        time_zone=body.get("timeZone"),
        language=body.get("language"),
    )


def parse_for_conversation(obj: Any, prefix: str = "") -> ForConversationCheck:
    """Validate a for-conversation body; `prefix` is put in front of every target."""
    body = _validated("ForConversationRequest", obj, prefix)
    return ForConversationCheck(
        conversation_id=body["conversationId"].lower(),
        context_items=_context_items(body.get("contextItems")),
        time_zone=body.get("timeZone"),
        language=body.get("language"),
    )


def parse_batch(obj: Any) -> list[BeforeConversationCheck | InvalidRequest]:
    """Validate a batch body; each entry becomes its check, or the `InvalidRequest` that entry alone gets."""
    body = _validated("BatchRequest", obj, "")
    checks: list[BeforeConversationCheck | InvalidRequest] = []
    for index, entry in enumerate(body["checks"]):
        try:
            checks.append(parse_before_conversation(entry, prefix=f"checks[{index}]"))
        except InvalidRequest as error:
            checks.append(error)
    return checks


def parse_escalation(obj: Any) -> EscalationRequest:
    """Validate an escalation decision body: a for-conversation or a before-conversation check, and the wait."""
    try:
        body = _validated("EscalationRequest", obj, "")
    except InvalidRequest as error:
        if error.target is None and isinstance(obj, dict):
            raise _which_check(obj) from None  # which of the two checks is meant: name the field at fault
        raise
    max_wait = body.get("maxWaitSeconds")
    if "conversationId" in body:
        return EscalationRequest(parse_for_conversation(_without(body, "maxWaitSeconds", "engagementContext")),
                                 None if max_wait is None else int(max_wait))
    return EscalationRequest(parse_before_conversation(_without(body, "maxWaitSeconds")),
                             None if max_wait is None else int(max_wait))


def _without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name not in names}


def _which_check(body: dict[str, Any]) -> InvalidRequest:
    """The refusal of a body that names neither check, or both."""
    from .schemas.escalation import WHICH_CHECK

    if "conversationId" in body and "workstreamId" in body:
        return InvalidRequest(WHICH_CHECK, target="workstreamId")
    if "conversationId" in body:
        return InvalidRequest(WHICH_CHECK, target="engagementContext")
    return InvalidRequest("conversationId or workstreamId is required. " + WHICH_CHECK, target="conversationId")


def _context_items(items: dict[str, Any] | None) -> tuple[ContextItem, ...]:
    found = []
    for name, raw in (items or {}).items():
        value, displayable = (raw["value"], raw.get("isDisplayable", True)) if isinstance(raw, dict) else (raw, True)
        if isinstance(value, str):
            found.append(ContextItem(name, value, "text", displayable))
        else:  # an integer, possibly written 2.0: JSON Schema counts that as the integer 2
            found.append(ContextItem(name, int(value), "integer", displayable))
    return tuple(found)


# ------------------------------------------------------------------------------------ validating them


@lru_cache(maxsize=1)
def _validators() -> dict[str, Any]:
    # Compiled once, on the first request: the validator's import and the build of the shapes stay off the
    # cold start. jsonschema_rs is a compiled validator (about a microsecond per body) and the very engine the
    # fuzzer of the test suite judges requests with.
    import jsonschema_rs

    shapes = ("BeforeConversationRequest", "ForConversationRequest", "BatchRequest", "SubscriptionRequest",
              "EscalationRequest", "WorkstreamsRequest")
    document = {"$schema": schemas.DIALECT, "components": {"schemas": schemas.public(schemas.components())}}
    compiled = jsonschema_rs.validator_map_for(document)
    return {shape: compiled[schemas.SCHEMA_PREFIX + shape] for shape in shapes}


def validated(shape: str, obj: Any) -> Any:
    """`obj` when it is a valid body of the request shape `shape` (e.g. "SubscriptionRequest"), else the
    `InvalidRequest` naming the field at fault."""
    return _validated(shape, obj, "")


def _validated(shape: str, obj: Any, prefix: str) -> Any:
    validator = _validators()[shape]
    try:
        if validator.is_valid(obj):
            return obj
        errors = list(validator.iter_errors(obj))
    except ValueError:  # text the validator cannot read as Unicode (a lone surrogate in a name)
        raise InvalidRequest("The request body is not valid JSON (UTF-8).", target=prefix or None) from None
    first = _first(errors)
    try:
        explained = _Explanation(schemas.components(), shape, prefix).of(first)
    except Exception:  # a shape the wording does not foresee must still be a 400 naming the place, not a 500
        where = ".".join([prefix] * bool(prefix) + [_shown(str(part)) for part in first.instance_path])
        explained = InvalidRequest(f"{where or 'The request body'} is not valid.", target=where or None)
    raise explained


def _first(errors: Sequence[Any]) -> Any:
    # Unknown fields first (a typo of a required field is the real fault), then the outermost fault.
    return min(enumerate(errors), key=lambda pair: (pair[1].kind.name != "additionalProperties",
                                                    len(pair[1].instance_path), pair[0]))[1]


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a JSON object", "array": "a list"}


class _Explanation:
    """Words a validation error of one shape as the caller's 400: a sentence and the field at fault."""

    def __init__(self, components: dict[str, Any], shape: str, prefix: str) -> None:
        self.components = components
        self.shape = shape
        self.prefix = prefix

    def of(self, error: Any) -> InvalidRequest:
        kind = error.kind.name
        nodes, depths = self._walk(error.evaluation_path)
        if kind in ("oneOf", "anyOf"):
            # The branch meant for this kind of value explains best ("value too long", not "matches none").
            branches = [self._resolve(branch) for branch in nodes[-1][kind]]
            meant = [i for i, branch in enumerate(branches) if _admits(branch, error.instance)]
            if len(meant) == 1 and error.kind.context[meant[0]]:
                return self.of(_first(error.kind.context[meant[0]]))
        path = list(error.instance_path)
        if kind == "required":
            path.append(error.kind.property)
        elif kind == "additionalProperties":
            unknown = next(name for name in error.instance if name not in nodes[-1].get("properties", {}))
            allowed = list(nodes[-1].get("properties", {}))
            ending = next((f"; did you mean '{a}'?" for a in allowed if a.lower() == unknown.lower()), ".")
            return self._error(f"Unknown field '{_shown(unknown)}'{ending} Allowed fields: {', '.join(allowed)}.",
                               [*path, unknown])
        subject = self._subject(path, nodes, depths)
        # The innermost wording the schema gives for this keyword (or for any fault there), else a generic one.
        template = next((node["_messages"].get(kind) or node["_messages"].get("*") for node in reversed(nodes)
                         if {kind, "*"} & set(node.get("_messages", ()))), None) or _generic(kind, error, nodes[-1])
        return self._error(template.format(subject=subject), path)

    def _walk(self, steps: Sequence[str | int]) -> tuple[list[dict[str, Any]], list[int]]:
        """The schema nodes an evaluation path passes through, each with how deep in the instance it applies.

        The last node is the one holding the failing keyword (or, for a keyword holding a schema such as
        propertyNames, that schema).
        """
        node: Any = self.components[self.shape]
        nodes, depths, depth = [node], [0], 0
        for index, step in enumerate(steps):
            if step == "$ref":
                node = self._resolve(node)
            elif _leads_on(node, step):
                node = node[step]
                # Only these steps move into a part of the instance (a property, a map entry, an array item).
                if (index and steps[index - 1] == "properties") or step in ("additionalProperties", "items"):
                    depth += 1
            if not isinstance(node, (dict, list)):
                break
            if isinstance(node, dict):
                nodes.append(node)
                depths.append(depth)
        return nodes, depths

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.components[node["$ref"][len(schemas.SCHEMA_PREFIX):]]
        return node

    def _subject(self, path: list[Any], nodes: list[dict[str, Any]], depths: list[int]) -> str:
        for node, depth in zip(reversed(nodes), reversed(depths), strict=True):
            if "_subject" in node and 0 < depth <= len(path):
                rest = ".".join(_shown(str(part)) for part in path[depth:])
                named = node["_subject"].format(name=_shown(str(path[depth - 1])))
                return f"{named}: {rest}" if rest else named
        if path:
            return ".".join(_shown(str(part)) for part in path)
        return f"Each entry of {self.prefix.split('[')[0]}" if self.prefix else "The request body"

    def _error(self, message: str, path: list[Any]) -> InvalidRequest:
        target = ".".join([self.prefix] * bool(self.prefix) + [_shown(str(part)) for part in path]) or None
        return InvalidRequest(message, target=target)


def _leads_on(node: object, step: str | int) -> bool:
    """Whether an evaluation path's `step` goes into `node`: a key it holds, or an index into an array."""
    return (isinstance(node, dict) and step in node) or (isinstance(node, list) and isinstance(step, int))


def _admits(schema: dict[str, Any], value: Any) -> bool:
    declared = schema.get("type")
    if declared is None:
        return True
    kinds = {declared} if isinstance(declared, str) else set(declared)
    if isinstance(value, bool):
        return "boolean" in kinds
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return bool(kinds & {"integer", "number"})
    actual = {str: "string", float: "number", dict: "object", list: "array", type(None): "null"}.get(type(value))
    return actual in kinds


def _generic(kind: str, error: Any, node: dict[str, Any]) -> str:
    """The wording of a failed keyword when the schema gives none of its own ({subject} is filled in later)."""
    if kind == "type":
        words = [words for name, words in _TYPE_WORDS.items() if name in error.kind.types]
        return "{subject} must be " + " or ".join(words) + "."
    if kind == "required":
        return "{subject} is required."
    if kind == "maxLength":
        return f"{{subject}} may be at most {error.kind.limit} characters long."
    if kind == "minLength":
        return f"{{subject}} must be at least {error.kind.limit} characters long."
    if kind in ("minimum", "maximum"):
        return f"{{subject}} must be from {node.get('minimum')} to {node.get('maximum')}."
    if kind == "maxProperties":
        return f"{{subject}} may hold at most {error.kind.limit} entries."
    if kind in ("minItems", "maxItems"):
        return f"{{subject}} must hold {node.get('minItems', 0)} to {node.get('maxItems')} entries."
    if kind == "enum":
        return "{subject} is not one of the allowed values."
    return "{subject} is not valid."


def _shown(name: str) -> str:
    # Names end up in targets and messages: keep a runaway key from flooding the error body.
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"
