"""The web pages' endpoint (`/api/public/...`): a published check's alias, the language a page asks for and
the answer an anonymous caller may see."""

from __future__ import annotations

from typing import Any

from .availability import answer_fields
from .core import ALIAS_PATTERN, ref
from .fields import language_match

__all__ = ["web_shapes"]


def _language_tag() -> dict[str, Any]:
    from ..language import LANGUAGE_TAG_PATTERN, MAX_TAG

    return {"type": "string", "maxLength": MAX_TAG, "pattern": f"^{LANGUAGE_TAG_PATTERN}$", "title": "Language",
            "examples": ["fr"],
            "description": f"A BCP 47 language tag (fr, fr-CA, pt-BR). {language_match()}"}


def web_shapes() -> dict[str, dict[str, Any]]:
    """`PublicAlias`, `LanguageTag` and the `PublicAvailability` answer."""
    answer = answer_fields()
    return {
        "PublicAlias": {
            "type": "string",
            "pattern": ALIAS_PATTERN,
            "title": "Alias",
            "examples": ["support"],
            "description": "A name of the app setting PUBLIC_AVAILABILITY (1 to 40 of a-z, 0-9 and -): the one check "
                           "it stands for is the only thing an anonymous caller can ask about.",
        },
        "LanguageTag": _language_tag(),
        "PublicAvailability": {
            "type": "object",
            "title": "Public availability",
            "description": "What a web page may know about a published check: whether to offer a chat now and what "
                           "to say, and when asked (include=nextGoodTime) when to come back. No queue ID and no "
                           "staffing figures.",
            "required": ["alias", "status", "canEscalate", "message", "language", "averageWaitSeconds",
                         "nextOpeningTime", "nextClosingTime", "retrievedAt"],
            "additionalProperties": False,
            "properties": {
                "alias": ref("PublicAlias"),
                "status": answer["status"],
                "canEscalate": {"type": "boolean", "title": "Can escalate",
                                "description": "True exactly when status is available: offer the chat now."},
                "message": {"type": "string", "title": "Message",
                            "description": "One plain sentence for the page, in language, with times in the time "
                                           "zone asked for (tz), else UTC."},
                "language": {"type": "string", "title": "Language", "examples": ["en"],
                             "description": "The language message is worded in: the best supported match of lang "
                                            "(en when none was asked for or none matched)."},
                **{name: answer[name]
                   for name in ("averageWaitSeconds", "nextOpeningTime", "nextClosingTime", "retrievedAt")},
                "nextGoodTime": ref("NextGoodTime"),
            },
        },
    }
