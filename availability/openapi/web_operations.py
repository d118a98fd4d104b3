"""The public endpoints for web pages: anonymous, so never in the connector, which is for makers with keys."""

from __future__ import annotations

from typing import Any

from ..schemas import ref
from . import examples
from .operation import (
    BLANK_PATTERN,
    Ok,
    Operation,
)

_PUBLIC_HEADERS: dict[str, dict[str, Any]] = {
    "Cache-Control": {"description": "public, max-age=<seconds the answer stays fresh, rounded up: 1 to "
                                     "AVAILABILITY_CACHE_SECONDS, never past its next opening or closing (0 in the "
                                     "last second before one); a stale answer 5 at most>, stale-while-revalidate=0, "
                                     "stale-if-error=<seconds it may still be served stale after that>.",
                      "schema": {"type": "string"},
                      "example": "public, max-age=12, stale-while-revalidate=0, stale-if-error=287"},
    "ETag": {"description": "Weak validator of what the page shows (all but retrievedAt): send it back in "
                            "If-None-Match to get a 304 while it holds.",
             "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"description": "The request's Origin when PUBLIC_ALLOWED_ORIGINS lists it, or * "
                                                   "when it lists *; absent otherwise.",
                                    "schema": {"type": "string"}},
    "Access-Control-Expose-Headers": {"description": "Age, with Access-Control-Allow-Origin: a page may read how old "
                                                     "a shared cache's copy is.", "schema": {"type": "string"}},
    "Vary": {"description": "Origin, when PUBLIC_ALLOWED_ORIGINS lists origins.", "schema": {"type": "string"}},
}
_ALIAS_PARAMETER: dict[str, Any] = {
    "name": "alias", "in": "path", "required": True, "title": "Alias", "schema": ref("PublicAlias"),
    "example": "support",
    "description": "A name of PUBLIC_AVAILABILITY; an alias not there (or none configured) is a 404.",
}
_ORIGIN_PARAMETER: dict[str, Any] = {
    "name": "Origin", "in": "header", "required": False, "title": "Origin", "schema": {"type": "string"},
    "example": "https://www.contoso.com",
    "description": "Sent by browsers: the page's origin, granted CORS when PUBLIC_ALLOWED_ORIGINS lists it.",
}


def public_operations() -> list[Operation]:
    from ..language import SUPPORTED

    blank = {"type": "string", "pattern": BLANK_PATTERN}
    return [
        Operation(
            path="/public/availability/{alias}", method="get",
            operation_id="GetPublicAvailability", tag="Web pages", public=True, not_modified=True,
            summary="Get a published check's availability (no key)",
            description=(
                "For web pages: whether to offer a chat now and what to say, for one of the checks the operator "
                "published in PUBLIC_AVAILABILITY (a workstream with its routing context, fixed there: the caller "
                "can add nothing). No queue ID and no staffing figures. Cacheable: Cache-Control max-age is what is "
                "left of the answer's freshness and the ETag answers If-None-Match with a 304; a cacheable answer "
                "carries the gateway's own x-correlation-id, never the caller's. Readable by the "
                "pages of PUBLIC_ALLOWED_ORIGINS (CORS). Whatever the traffic, Dynamics 365 sees at most one call "
                "per alias per AVAILABILITY_CACHE_SECONDS."
            ),
            parameters=(
                _ALIAS_PARAMETER,
                {"name": "tz", "in": "query", "required": False, "title": "Time zone",
                 "description": "IANA time zone the message words times in; blank or absent: the alias's own "
                                "timeZone, else UTC. Changes the wording only.",
                 "schema": {"anyOf": [ref("TimeZone"), blank]}, "example": "Europe/Paris"},
                {"name": "lang", "in": "query", "required": False, "title": "Language",
                 "description": f"BCP 47 tag of the language of message ({', '.join(SUPPORTED)}; else "
                                "English); blank or absent: the alias's own language, else English. Accept-Language "
                                "is not read: the URL alone decides the wording, as shared caches key by it.",
                 "schema": {"anyOf": [ref("LanguageTag"), blank]}, "example": "fr"},
                {"name": "include", "in": "query", "required": False, "title": "Optional fields",
                 "description": "nextGoodTime: add the time the history suggests to come back (null when it "
                                "suggests none). Blank or absent: none. Part of the URL, so each variant is cached "
                                "on its own.",
                 "schema": {"anyOf": [{"type": "string", "enum": ["nextGoodTime"]}, blank]},
                 "example": "nextGoodTime"},
                {"name": "If-None-Match", "in": "header", "required": False, "title": "If-None-Match",
                 "description": "An ETag of an earlier answer: a 304 without a body while it still holds.",
                 "schema": {"type": "string"}},
                _ORIGIN_PARAMETER,
            ),
            ok=Ok("PublicAvailability", "The published check's availability.", headers=_PUBLIC_HEADERS,
                  examples={"closed": {"summary": "Closed, worded in French for Europe/Paris",
                                        "value": examples.public_answer()},
                            "nextGoodTime": {"summary": "Closed, with the next good time (include=nextGoodTime)",
                                             "value": examples.public_answer(next_good_time=True)}}),
            errors=(400, 404, 500, 502, 503, 504),
            error_notes={
                400: ("invalid_request: tz is not an IANA time zone name, lang is not a BCP 47 tag, include names "
                      "something other than nextGoodTime, or the query has another parameter; target names it.",
                      ("invalid_request",)),
                404: ("not_found: no check is published under this alias (or none at all), or Dynamics 365 does "
                      "not know its workstream.", ("not_found",)),
                503: ("configuration_error (PUBLIC_AVAILABILITY or PUBLIC_ALLOWED_ORIGINS is malformed, or another "
                      "setting is missing), upstream_throttled or upstream_unavailable.",
                      ("configuration_error", "upstream_throttled", "upstream_unavailable")),
            },
        ),
        Operation(
            path="/public/availability/{alias}", method="options",
            operation_id="PreflightPublicAvailability", tag="Web pages", public=True,
            summary="CORS preflight of a published check (no key)",
            description=(
                "A browser's CORS preflight (Origin and Access-Control-Request-Method) is answered by the Functions "
                "host itself on Flex Consumption, before the app and whatever the path: a 204 granting an origin of "
                "the platform's CORS list (set from PUBLIC_ALLOWED_ORIGINS) the method and headers it asked for, and "
                "a 204 that grants nothing to any other origin. Any other OPTIONS reaches the app: a 204 with Allow "
                "(granting an allowed origin GET and OPTIONS, with Access-Control-Max-Age), or a 404 for an alias "
                "not published, as for GET."
            ),
            parameters=(_ALIAS_PARAMETER, _ORIGIN_PARAMETER),
            ok=Ok(None, "The preflight's answer.", media=None, status=204, headers={
                "Allow": {"description": "GET, OPTIONS", "schema": {"type": "string"}},
                "Access-Control-Allow-Origin": _PUBLIC_HEADERS["Access-Control-Allow-Origin"],
                "Access-Control-Allow-Methods": {"description": "For an allowed origin: the method the preflight "
                                                                "asked for (the host's answer), or GET, OPTIONS "
                                                                "(the app's).",
                                                 "schema": {"type": "string"}},
                "Access-Control-Allow-Headers": {"description": "For an allowed origin: the headers the preflight "
                                                                "asked for (the host's answer), or those the app "
                                                                "lets a page add.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Max-Age": {"description": "Seconds a browser may remember the app's grant (the "
                                                          "host's answer has none).",
                                           "schema": {"type": "string"}},
                "Vary": _PUBLIC_HEADERS["Vary"]}),
            errors=(404, 500, 503),
            error_notes={404: ("not_found: no check is published under this alias (or none at all).", ("not_found",)),
                         503: ("configuration_error: PUBLIC_AVAILABILITY or PUBLIC_ALLOWED_ORIGINS is malformed, or "
                               "another setting.", ("configuration_error",))},
        ),
        Operation(
            path="/public/widget.js", method="get",
            operation_id="GetWidgetScript", tag="Web pages", public=True, not_modified=True,
            summary="Get the drop-in script for web pages (no key)",
            description=(
                "A small script (no dependencies, no eval, no inline style) that shows or hides a page's elements "
                "by the current status of a published check: <script src=\"https://<app>/api/public/widget.js\" "
                "data-alias=\"support\" async></script>, then data-availability-show=\"available\" on the chat "
                "button and data-availability-text=\"message\" where the sentence goes."
            ),
            ok=Ok(None, "The script.", media="text/javascript", headers={
                "Cache-Control": {"description": "public, max-age=3600", "schema": {"type": "string"}},
                "ETag": {"description": "Validator of the script.", "schema": {"type": "string"}}}),
            parameters=({"name": "If-None-Match", "in": "header", "required": False, "title": "If-None-Match",
                         "description": "The script's ETag: a 304 while it is unchanged.",
                         "schema": {"type": "string"}},),
            errors=(500,),
        ),
    ]
