"""Finds date expressions in German and English questions and turns them into local date ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import get_day_names, get_month_names
from dateutil.relativedelta import relativedelta

from bot.text import fold


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive local dates; `label` is a key for templates ('day', 'week', 'month', ...)."""

    start: date
    end: date
    label: str
    explicit: bool = True  # a named date (may be in the past) rather than a relative window


class InvalidDate(ValueError):
    """The question names a date that does not exist, e.g. 31.02."""

    def __init__(self, written: str) -> None:
        super().__init__(written)
        self.written = written


def _names(getter: object, width: str) -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("de", "en"):
        for index, name in getter(width, locale=locale).items():  # type: ignore[operator]
            names[fold(name).rstrip(".")] = index
    return names


# Month names (wide and abbreviated, German and English) from Babel's locale data, folded.
MONTHS = {**_names(get_month_names, "abbreviated"), **_names(get_month_names, "wide"), "sept": 9, "maerz": 3}
# Weekday names: Babel counts Monday as 0.
WEEKDAYS = _names(get_day_names, "wide")
_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS if len(m) >= 3), key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted((re.escape(d) for d in WEEKDAYS), key=len, reverse=True))

_ISO = re.compile(r"(?<![\d.])(\d{4,})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"(?<![\d.])(\d{1,2})\.\s?(\d{1,2})(?:\.(?:\s?(\d{4,}|\d{2})(?!\d))?|(?![\d.]))")
_DAY_MONTH = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:\.|st|nd|rd|th)?\s*(?:of\s+)?({_MONTH_RE})\b\.?(?:\s*(\d{{4,}}))?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4,}}))?")
_MONTH_ONLY = re.compile(rf"\b(?:im|in|of|during|fuer|for)\s+({_MONTH_RE})\b(?:\s*(\d{{4,}}))?")
_WEEKDAY = re.compile(rf"\b(naechsten\s+|kommenden\s+|next\s+|this\s+|diesen\s+)?({_WEEKDAY_RE})s?\b")
_IN_N = re.compile(
    r"\b(?:in|within|innerhalb)\s+(?:den\s+naechsten\s+|the\s+next\s+)?(\d{1,3}|einem|einer|eines|"
    r"a|one|zwei|two|drei|three)\s+(tag|tagen|day|days|woche|wochen|week|weeks|monat|monaten|"
    r"monats|month|months)\b"
)
_NEXT_N = re.compile(
    r"\b(?:naechsten|next|kommenden|coming)\s+(\d{1,3}|zwei|two|drei|three|vier|four)\s+"
    r"(tage|tagen|days|wochen|weeks|monate|monaten|months)\b"
)
_NUMBER_WORDS = {
    "einem": 1,
    "einer": 1,
    "eines": 1,
    "a": 1,
    "one": 1,
    "zwei": 2,
    "two": 2,
    "drei": 3,
    "three": 3,
    "vier": 4,
    "four": 4,
}

_RELATIVE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:uebermorgen|day after tomorrow)\b"), "day_after_tomorrow"),
    (re.compile(r"\b(?:heute|today|tonight|heute abend)\b"), "today"),
    (re.compile(r"(?<!guten )\b(?:morgen|tomorrow)\b"), "tomorrow"),
    (re.compile(r"\b(?:uebernaechste[nr]?\s+woche|week after next)\b"), "week_after_next"),
    (re.compile(r"\b(?:naechste[nr]?\s+woche|kommende[nr]?\s+woche|next week|coming week)\b"), "next_week"),
    (re.compile(r"\b(?:diese[rn]?\s+woche|this week|der woche|laufenden woche)\b"), "this_week"),
    (re.compile(r"\b(?:(?:am|dieses|this)\s+wochenende|this weekend|on the weekend|weekend)\b"), "weekend"),
    (re.compile(r"\b(?:naechste[nr]?\s+monat|kommende[nr]?\s+monat|next month)\b"), "next_month"),
    (re.compile(r"\b(?:diese[nm]?\s+monat|this month)\b"), "this_month"),
]


def find_date_range(text: str, now: datetime) -> tuple[DateRange | None, str]:
    """Return the first date expression in `text` as a range (local dates) and the text without it.

    `now` must already be in the user's time zone. Raises InvalidDate for dates that do not exist.
    """
    folded = fold(text)
    today = now.date()
    for finder in (_explicit_date, _relative_window, _month_only, _weekday):
        found = finder(folded, today)
        if found is not None:
            found_range, span = found
            return found_range, folded[: span[0]] + " " + folded[span[1] :]
    return None, folded


# Years the assistant reads dates in; others (0, 9999, a 5,000-digit number) get the invalid-date answer.
FIRST_YEAR, LAST_YEAR = 1900, 2100


def _year(written: str | None, whole: str) -> int | None:
    """The year as written: two digits mean 20xx; four within FIRST_YEAR..LAST_YEAR; else InvalidDate."""
    if written is None:
        return None
    if len(written) == 2:
        return 2000 + int(written)
    if len(written) != 4 or not FIRST_YEAR <= int(written) <= LAST_YEAR:
        raise InvalidDate(whole)
    return int(written)


def _make_date(year: str | None, month: int, day: int, today: date, written: str) -> date:
    chosen = _year(year, written)
    try:
        if chosen is not None:
            return date(chosen, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        raise InvalidDate(written) from None
    # A day without a year means the next such day, unless it was only recently (then it is "this" one).
    if candidate < today - timedelta(days=90):
        try:
            candidate = date(today.year + 1, month, day)
        except ValueError:  # 29.02. in a non-leap year
            raise InvalidDate(written) from None
    return candidate


def _explicit_date(text: str, today: date) -> tuple[DateRange, tuple[int, int]] | None:
    m = _ISO.search(text)
    if m:
        day = _make_date(m.group(1), int(m.group(2)), int(m.group(3)), today, m.group(0))
        return DateRange(day, day, "day"), m.span()
    m = _NUMERIC.search(text)
    if m:
        year = m.group(3)
        day = _make_date(year, int(m.group(2)), int(m.group(1)), today, m.group(0).strip())
        return DateRange(day, day, "day"), m.span()
    m = _DAY_MONTH.search(text)
    if m:
        year = m.group(3)
        day = _make_date(year, MONTHS[m.group(2)], int(m.group(1)), today, m.group(0).strip())
        return DateRange(day, day, "day"), m.span()
    m = _MONTH_DAY.search(text)
    if m:
        year = m.group(3)
        day = _make_date(year, MONTHS[m.group(1)], int(m.group(2)), today, m.group(0).strip())
        return DateRange(day, day, "day"), m.span()
    return None


def _relative_window(text: str, today: date) -> tuple[DateRange, tuple[int, int]] | None:
    for pattern, name in _RELATIVE:
        m = pattern.search(text)
        if m:
            return _named_window(name, today), m.span()
    m = _IN_N.search(text) or _NEXT_N.search(text)
    if m:
        count = _NUMBER_WORDS.get(m.group(1)) or int(m.group(1))
        unit = m.group(2)
        if unit.startswith(("tag", "day")):
            delta = relativedelta(days=count)
        elif unit.startswith(("woche", "week")):
            delta = relativedelta(weeks=count)
        else:
            delta = relativedelta(months=count)
        return DateRange(today, today + delta - timedelta(days=1), "window", explicit=False), m.span()
    return None


def _named_window(name: str, today: date) -> DateRange:
    monday = today - timedelta(days=today.weekday())
    if name == "today":
        return DateRange(today, today, "today", explicit=False)
    if name == "tomorrow":
        day = today + timedelta(days=1)
        return DateRange(day, day, "tomorrow")
    if name == "day_after_tomorrow":
        day = today + timedelta(days=2)
        return DateRange(day, day, "day")
    if name == "this_week":
        return DateRange(today, monday + timedelta(days=6), "this_week", explicit=False)
    if name == "next_week":
        start = monday + timedelta(days=7)
        return DateRange(start, start + timedelta(days=6), "next_week")
    if name == "week_after_next":
        start = monday + timedelta(days=14)
        return DateRange(start, start + timedelta(days=6), "week")
    if name == "weekend":
        saturday = monday + timedelta(days=5)
        return DateRange(max(today, saturday), saturday + timedelta(days=1), "weekend", explicit=False)
    first = today.replace(day=1)
    if name == "this_month":
        return DateRange(today, first + relativedelta(months=1, days=-1), "this_month", explicit=False)
    start = first + relativedelta(months=1)
    return DateRange(start, start + relativedelta(months=1, days=-1), "month")


def _month_only(text: str, today: date) -> tuple[DateRange, tuple[int, int]] | None:
    m = _MONTH_ONLY.search(text)
    if not m:
        return None
    month = MONTHS[m.group(1)]
    written = _year(m.group(2), m.group(0).strip())
    year = written if written is not None else today.year + (1 if month < today.month - 2 else 0)
    start = date(year, month, 1)
    return DateRange(start, start + relativedelta(months=1, days=-1), "month"), m.span()


def _weekday(text: str, today: date) -> tuple[DateRange, tuple[int, int]] | None:
    m = _WEEKDAY.search(text)
    if not m:
        return None
    weekday = WEEKDAYS[m.group(2)]
    ahead = (weekday - today.weekday()) % 7
    if m.group(1) and m.group(1).strip() in ("naechsten", "next") and ahead == 0:
        ahead = 7
    day = today + timedelta(days=ahead)
    return DateRange(day, day, "day"), m.span()
