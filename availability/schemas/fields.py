"""The fields a check is asked with, shared by the check requests and the change subscription request: context
items, engagement context, time zone and language, with the `TimeZone` and `ContextItem` shapes they refer to."""

from __future__ import annotations

from typing import Any

from .core import (
    INT32,
    INTEGER_PATTERN,
    MAX_CONTEXT_ITEMS,
    MAX_NAME_LENGTH,
    MAX_VALUE_LENGTH,
    NOT_BLANK_PATTERN,
    TEXT_PATTERN,
    TYPE_PATTERN,
    ref,
)

__all__ = [
    "context_items",
    "engagement_context",
    "field_shapes",
    "language_field",
    "language_match",
    "time_zone_field",
]

_NAMES = (f"Names are 1 to {MAX_NAME_LENGTH} characters and not blank; at most {MAX_CONTEXT_ITEMS} entries. "
          "null is the same as leaving it out.")


def language_match() -> str:
    """How a requested language is matched, naming the supported ones."""
    from ..language import SUPPORTED

    return (f"The best supported match is used ({', '.join(SUPPORTED)}), else English: an unsupported language is "
            "not an error.")


def _named_values(values: dict[str, Any], **annotations: Any) -> dict[str, Any]:
    """An optional JSON object of name → value (context items, engagement context): the limits on its names."""
    return {
        "type": ["object", "null"],
        **annotations,
        "maxProperties": MAX_CONTEXT_ITEMS,
        "propertyNames": {"minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": NOT_BLANK_PATTERN},
        "additionalProperties": values,
        "_messages": {"propertyNames": f"Names in {{subject}} must be 1 to {MAX_NAME_LENGTH} characters long "
                                       "and not blank."},
    }


def _text_value(description: str, subject: str | None = None) -> dict[str, Any]:
    node = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "title": "Text value", "description": description}
    return {**node, "_subject": subject} if subject else node


def time_zone_field() -> dict[str, Any]:
    """A request's `timeZone`: the zone its message words times in."""
    description = ("IANA time zone name (e.g. Europe/Paris) used only to word the answer's message, such as \"it "
                   "opens again tomorrow at 08:00 CET\". Times in the other fields stay UTC. Default UTC.")
    return {
        "anyOf": [ref("TimeZone"), {"type": "null"}],
        "title": "Time zone",
        "description": description + " null is the same as leaving it out.",
        "examples": ["Europe/Paris"],
        "_visibility": "advanced",
        "_messages": {"*": "{subject} must be an IANA time zone name such as Europe/Paris."},
        "_swagger": {"anyOf": None, "type": ["string", "null"], "maxLength": 64, "description": description},
    }


def language_field() -> dict[str, Any]:
    """A request's `language`: the tag its message is worded in, else the Accept-Language header's."""
    from ..language import LANGUAGE_TAG_PATTERN, MAX_TAG

    return {
        "type": ["string", "null"],
        "maxLength": MAX_TAG,
        "pattern": f"^{LANGUAGE_TAG_PATTERN}$",
        "title": "Language",
        "description": "BCP 47 tag of the language to word message in (fr, fr-CA, pt-BR); without it, the request's "
                       f"Accept-Language. {language_match()} null is the same as leaving it out.",
        "examples": ["fr"],
        "_visibility": "advanced",
        "_messages": {"*": "{subject} must be a BCP 47 language tag such as fr or pt-BR."},
    }


def context_items() -> dict[str, Any]:
    """A request's `contextItems`: the custom context items routing reads, short or long form."""
    entry = {
        "oneOf": [
            _text_value("A Text context item."),
            {**INT32, "title": "Integer value", "description": "An Integer context item (32-bit)."},
            ref("ContextItem"),
        ],
        "description": "A string (Text item), an integer (Integer item) or the long form.",
        "_subject": "Context item '{name}'",
        "_messages": {"oneOf": "{subject} must be a string, an integer, or an object with value, type and "
                               "isDisplayable."},
    }
    return _named_values(
        entry,
        title="Context items",
        description="Custom context items the workstream's route-to-queue rules read (they add to or override the "
                    "conversation's context). A string value is a Text item, an integer an Integer item; the long "
                    "form {value, type, isDisplayable} is accepted too. Floats, booleans, nested objects and null "
                    "values are refused. " + _NAMES,
        examples=[{"Language": "fr", "Tier": 2}],
        _swagger={
            "title": "Context items",
            "description": "Custom context items the workstream's routing rules read, as name/value pairs, e.g. "
                           "Language = fr. Values given here are Text items. When the body is written as JSON, an "
                           "integer value is an Integer item (e.g. \"Tier\": 2) and the long form "
                           "{\"value\": ..., \"type\": \"text\"|\"integer\", \"isDisplayable\": true|false} is "
                           "accepted too. " + _NAMES,
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
            "examples": [{"Language": "fr"}],
        },
    )


def engagement_context() -> dict[str, Any]:
    """A request's `engagementContext`: channel attributes routing reads."""
    return _named_values(
        _text_value("An engagement-context attribute.", subject="Engagement context attribute '{name}'"),
        title="Engagement context",
        description="Channel engagement-context attributes the routing rules read, e.g. msdyn_browser = Edge; "
                    f"values are strings of at most {MAX_VALUE_LENGTH} characters. " + _NAMES,
        examples=[{"msdyn_browser": "Edge"}],
        _visibility="advanced",
        _swagger={"additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH}},
    )


def field_shapes() -> dict[str, dict[str, Any]]:
    """`TimeZone` and `ContextItem`, the shapes the fields refer to."""
    from ..localtime import zone_names

    int32_bounds = {key: INT32[key] for key in ("minimum", "maximum", "_messages")}
    return {
        "TimeZone": {
            "type": "string",
            "enum": list(zone_names()),
            "title": "IANA time zone",
            "description": "A time zone of the IANA tz database, as the app's tzdata package names it "
                           "(e.g. Europe/Paris, America/New_York, UTC).",
        },
        "ContextItem": {
            "type": "object",
            "title": "Context item (long form)",
            "description": "A context item with its type and display flag spelled out. value must match type "
                           "when type is given.",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {
                "value": {"type": ["string", "integer"], "maxLength": MAX_VALUE_LENGTH, **int32_bounds,
                          "title": "Value", "description": "The item's value: a string (Text) or a 32-bit integer "
                                                           "(Integer); must match type when type is given."},
                "type": {"type": "string", "pattern": TYPE_PATTERN,
                         "title": "Type", "examples": ["text", "integer"],
                         "description": "text (Text item) or integer (Integer item), any letter case; default: "
                                        "taken from the value.",
                         "_messages": {"*": "{subject} must be \"text\" or \"integer\"."},
                         "_swagger": {"pattern": None, "enum": ["text", "integer"]}},
                "isDisplayable": {"type": "boolean", "default": True, "title": "Is displayable",
                                  "description": "Whether representatives see the item; default true."},
            },
            # The declared type decides what value must be.
            "allOf": [
                {"if": {"required": ["type"], "properties": {"type": {"type": "string", "pattern": TEXT_PATTERN}}},
                 "then": {"properties": {"value": {"type": "string"}}}},
                {"if": {"required": ["type"],
                        "properties": {"type": {"type": "string", "pattern": INTEGER_PATTERN}}},
                 "then": {"properties": {"value": {"type": "integer"}}}},
            ],
            "_swagger": {"allOf": None},
        },
    }
