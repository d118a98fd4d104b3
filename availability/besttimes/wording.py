"""The sentences of the best times, in every language `message` speaks, times in the caller's zone.

The msgids are the English sentences; their translations are in locales/<language>/LC_MESSAGES/messages.po beside
those of the availability answer (see language.py), and the days and times are worded with Babel's CLDR data, as
there.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from ..language import SOURCE, translations
from ..localtime import day_of, local, zone
from .windows import Reason


def window_message(start: datetime, end: datetime, now: datetime, time_zone: str | None = None,
                   language: str = SOURCE) -> str:
    """The sentence that suggests [start, end) in `language`, its day and times worded for `time_zone`.

    `now` is the org's: "today" and "tomorrow" are counted from it, in `time_zone`.
    """
    where = zone(time_zone)
    return _window_sentence(start, end, day_of(start, now, where), local(now, where).year, time_zone=time_zone,
                            language=language)


@lru_cache(maxsize=4096)
def _window_sentence(start: datetime, end: datetime, day: str, year: int, *, time_zone: str | None,
                     language: str) -> str:
    # Memoized: the same window is worded again for every request of a slot.
    from babel.dates import format_date, format_skeleton, format_time

    words = translations(language)
    where = zone(time_zone)
    begin, finish = local(start, where), local(end, where)
    if finish.time() == time(0) and finish > begin:
        # A window runs to midnight at most (it is cut there): "until 12:00 AM" would read as the night before, and
        # "between 12:00 AM and 12:00 AM" as nothing. The last minute it covers is worded instead, in every language.
        finish -= timedelta(minutes=1)
    first, last = format_time(begin, "short", locale=language), format_time(finish, "short", locale=language)
    if where is UTC:
        last += " UTC"  # no zone asked for (or UTC itself): say which clock the times are on
    if day == "today":
        sentence = words.gettext("A good time to reach us is today between {start} and {end}.")
    elif day == "tomorrow":
        sentence = words.gettext("A good time to reach us is tomorrow between {start} and {end}.")
    elif day == "this-week":
        sentence = words.gettext("A good time to reach us is on {weekday} between {start} and {end}.")
    else:
        sentence = words.gettext("A good time to reach us is on {date} between {start} and {end}.")
    date = format_skeleton("MMMMd" if begin.year == year else "yMMMMd", begin, locale=language)
    return str(sentence).format(start=first, end=last, weekday=format_date(begin, "EEEE", locale=language),
                                date=date)


def empty_message(reason: Reason, language: str = SOURCE) -> str:
    """Why there is no suggestion, said plainly: too little history, or no hour ahead good enough."""
    words = translations(language)
    if reason == "not_enough_history":
        return str(words.gettext("There is not enough history yet to suggest a good time to reach us."))
    return str(words.gettext("None of the coming hours has had a representative free often enough to suggest it."))
