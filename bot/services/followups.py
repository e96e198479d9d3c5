"""Resolves follow-up questions against what the chat was just shown: "Und wo?", "Und danach?", "die Woche
danach", "welcher davon …", "der dritte davon", "dort anmelden"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.asks import ACTION_ASKS, EVENT_ASKS, Ask
from bot.services.catalog import Catalog, EventView
from bot.services.dates import DateRange
from bot.services.parsing import Parsed, Query
from bot.text import fold


@dataclass(frozen=True, slots=True)
class Shown:
    """What a chat was just shown: the question's filters and the events of the answer."""

    query: Query
    events: tuple[EventView, ...] = ()


_WEEK_AFTER = re.compile(
    r"\b(?:woche|week) (?:danach|darauf|after(?: that)?)\b|\b(?:following|next) week after\b|\bfolgewoche\b"
)
_AFTER = re.compile(
    r"\b(?:danach|darauf|anschliessend|after that|after this|the one after|next one|then)\W*$|"
    r"\b(?:und|and) (?:danach|darauf|after that|then)\b|\bder danach\b|\bthe one after\b"
)
_AMONG = re.compile(r"\b(?:davon|of them|of these|of those|among them|von (?:denen|diesen))\b")
_ORDINALS = {
    "erste": 1, "ersten": 1, "erster": 1, "erstes": 1, "first": 1,
    "zweite": 2, "zweiten": 2, "zweiter": 2, "zweites": 2, "second": 2,
    "dritte": 3, "dritten": 3, "dritter": 3, "drittes": 3, "third": 3,
    "vierte": 4, "vierten": 4, "vierter": 4, "viertes": 4, "fourth": 4,
    "fuenfte": 5, "fuenften": 5, "fuenfter": 5, "fifth": 5,
    "letzte": -1, "letzten": -1, "letzter": -1, "letztes": -1, "last": -1,
}  # fmt: skip


def week_after(text: str, shown: Shown | None) -> DateRange | None:
    """ "Und die Woche danach?": the week after the range (or the last event) just shown."""
    if shown is None or not _WEEK_AFTER.search(fold(text)):
        return None
    dates = shown.query.dates
    if dates is not None:
        days = max(7, (dates.end - dates.start).days + 1) if dates.label != "day" else 7
        start = dates.start + timedelta(days=days)
        return DateRange(start, start + timedelta(days=6), "range")
    if not shown.events:
        return None
    last = max(e.starts_at for e in shown.events).date()
    monday = last - timedelta(days=last.weekday()) + timedelta(days=7)
    return DateRange(monday, monday + timedelta(days=6), "range")


def asks_after(text: str) -> bool:
    """ "Und danach?": the next event after the one(s) shown (not "die Woche danach")."""
    folded = fold(text)
    return bool(_AFTER.search(folded)) and not _WEEK_AFTER.search(folded)


def refers_back(
    parsed: Parsed, ask: Ask | None, shown: Shown | None, catalog: Catalog, now: datetime
) -> list[EventView] | None:
    """The events the question means by referring to what was just shown, or None if it does not."""
    if shown is None or not shown.events:
        return None
    if asks_after(parsed.text):
        return _after(shown, catalog, now)
    if _AMONG.search(fold(parsed.text)):
        return _among(parsed, shown)
    if parsed.has_own_filter:
        return None
    if ask in EVENT_ASKS or ask in ACTION_ASKS or parsed.asks_time or _pronoun_only(parsed):
        return list(shown.events)
    return None


def _pronoun_only(parsed: Parsed) -> bool:
    """A short question without subject of its own ("Und das?", "und wann?")."""
    return len(parsed.words) <= 3 and not parsed.unmatched and bool(parsed.word_set & {"und", "and"})


def _after(shown: Shown, catalog: Catalog, now: datetime) -> list[EventView]:
    kinds = {e.kind for e in shown.events}
    kind = shown.query.kind or (next(iter(kinds)) if len(kinds) == 1 and len(shown.events) > 1 else None)
    last = max(shown.events, key=lambda e: e.starts_at)
    later = [
        e
        for e in catalog.upcoming(now)
        if (e.starts_at, e.slug) > (last.starts_at, last.slug) and (kind is None or e.kind == kind)
    ]
    return later[:1]


def _among(parsed: Parsed, shown: Shown) -> list[EventView]:
    candidates = sorted(shown.events, key=lambda e: e.starts_at)
    for word in parsed.words:
        position = _ORDINALS.get(word)
        if position is not None:
            index = position - 1 if position > 0 else len(candidates) - 1
            return candidates[index : index + 1] if 0 <= index < len(candidates) else []
    found = [e for e in candidates if not parsed.kind or e.kind == parsed.kind]
    if parsed.speakers is not None:
        found = [e for e in found if any(w in fold(" ".join(e.speakers)) for w in parsed.speaker_words)]
    return found
