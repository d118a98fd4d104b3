"""The languages `message` is worded in: which tags are accepted, which language a request gets, and the
message catalogs (gettext `.po` files under `locales/`, read with Babel on first use of each language).

A request names its language with `language` (a BCP 47 tag), else with its `Accept-Language` header (q-values
respected); a regional tag falls back to its language (`fr-CA` → French), anything unsupported to English.
"""

from __future__ import annotations

import re
import threading
from gettext import NullTranslations  # what Babel's catalogs are (typed here, loaded on first use)
from pathlib import Path

SOURCE = "en"  # the catalogs' msgids are the English sentences
SUPPORTED = ("en", "fr", "de", "es", "it", "pt", "nl", "ja")
LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
MAX_TAG = 35  # RFC 5646 §4.4.1: 35 characters are enough for any tag in practice

# BCP 47 in the shape callers send it: a 2-3 letter language (or 4-8 for registered ones), then subtags of 1-8
# letters or digits (script, region, variants, extensions, private use), separated by hyphens.
LANGUAGE_TAG_PATTERN = r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"
_TAG = re.compile(LANGUAGE_TAG_PATTERN)
_WEIGHT = re.compile(r"q=([01](?:\.\d{0,3})?)\s*$")

_lock = threading.Lock()
_catalogs: dict[str, NullTranslations] = {}


def is_language_tag(value: object) -> bool:
    """True for a string shaped like a BCP 47 language tag (`fr`, `fr-CA`, `pt-BR`, `zh-Hant-TW`)."""
    return isinstance(value, str) and len(value) <= MAX_TAG and _TAG.fullmatch(value) is not None


def _supported(tag: str) -> str | None:
    primary = tag.split("-", 1)[0].lower()
    return primary if primary in SUPPORTED else None


def negotiate(language: str | None = None, accept_language: str | None = None) -> str:
    """The supported language for a request: its `language` tag, else its best `Accept-Language` match, else en."""
    if language:
        return _supported(language) or SOURCE
    if not accept_language:
        return SOURCE
    for tag in _preferences(accept_language):
        match = _supported(tag)
        if match:
            return match
    return SOURCE


def _preferences(header: str) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 and malformed entries left out)."""
    weighted = []
    for position, entry in enumerate(header.split(",")[:50]):
        tag, _, parameters = entry.strip().partition(";")
        tag = tag.strip()
        weight = 1.0
        if parameters:
            found = _WEIGHT.search(parameters.strip())
            if not found:
                continue
            weight = float(found.group(1))
        if weight > 0 and is_language_tag(tag):
            weighted.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def translations(language: str) -> NullTranslations:
    """The gettext translations of `language` (English: the msgids themselves), read once."""
    catalog = _catalogs.get(language)
    if catalog is None:
        with _lock:
            catalog = _catalogs.get(language)
            if catalog is None:
                catalog = _catalogs[language] = _load(language)
    return catalog


def _load(language: str) -> NullTranslations:
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    # Compiled in memory: the .po files are the one definition, no generated .mo to keep in step.
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
