"""Understands members' free-text questions and finds exactly what answers them: events, or the newsletter's
news, best practices, new members and impulse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from bot.services.catalog import Catalog, EventView
from bot.services.dates import DateRange, InvalidDate
from bot.services.items import ItemCatalog, ItemType, ItemView
from bot.services.parsing import Parsed, Query, parse
from bot.services.vocabulary import (
    GREETINGS,
    HELP_PHRASES,
    HELP_WORDS,
    HOWTO_WORDS,
    ORGANIZATION_WORDS,
    THANKS_WORDS,
)
from bot.text import tokens


class Intent(StrEnum):
    """What a message asked for; `stadtretter ask --json` prints it."""

    NEXT_EVENT = "next_event"
    EVENT_LIST = "event_list"
    EVENT_TIME = "event_time"
    HOW_TO_REGISTER = "how_to_register"
    FAQ = "faq"
    NEWS = "news"
    PRACTICE = "practice"
    NEW_MEMBERS = "new_members"
    IMPULSE = "impulse"
    THANKS = "thanks"
    GREETING = "greeting"
    HELP = "help"
    UNKNOWN = "unknown"
    INVALID_DATE = "invalid_date"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    COMMAND = "command"  # a command answered without a question (register, cancel, ...)
    IGNORED = "ignored"  # a group message not meant for the bot
    ERROR = "error"


EVENT_INTENTS = frozenset({Intent.NEXT_EVENT, Intent.EVENT_LIST, Intent.EVENT_TIME})
ITEM_INTENTS = {
    ItemType.NEWS: Intent.NEWS,
    ItemType.PRACTICE: Intent.PRACTICE,
    ItemType.MEMBER: Intent.NEW_MEMBERS,
    ItemType.IMPULSE: Intent.IMPULSE,
}
MAX_ITEMS = 5


@dataclass
class Answer:
    intent: Intent
    events: list[EventView] = field(default_factory=list)
    query: Query = field(default_factory=Query)
    faq_slug: str | None = None
    unmatched: tuple[str, ...] = ()
    written_date: str | None = None
    next_event: EventView | None = None  # offered when nothing matched, never as the answer itself
    items: list[ItemView] = field(default_factory=list)
    # Offered when no item fits the question (the newest of the kind asked for), never the answer itself.
    other_items: list[ItemView] = field(default_factory=list)
    organization_kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FaqEntry:
    slug: str
    language: str
    questions: tuple[str, ...]
    answer: str


@dataclass(frozen=True, slots=True)
class Decision:
    intent: Intent
    faq: FaqEntry | None = None
    nothing_fits: bool = False  # a topic we know nothing about narrows the events to none


def _match_faq(text: str, faq: Sequence[FaqEntry], *, strict: bool) -> FaqEntry | None:
    """The FAQ entry one of whose question variants reads like `text`; stricter when topics matched events."""
    folded = " ".join(tokens(text))
    if not folded:
        return None
    best: tuple[float, FaqEntry | None] = (0.0, None)
    for entry in faq:
        for variant in entry.questions:
            v = " ".join(tokens(variant))
            score = max(fuzz.ratio(folded, v), fuzz.token_sort_ratio(folded, v))
            if score > best[0]:
                best = (score, entry)
    return best[1] if best[0] >= (86 if strict else 78) else None


def answer_question(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    catalog: Catalog,
    faq: Sequence[FaqEntry] = (),
    previous: Query | None = None,
    items: ItemCatalog | None = None,
) -> Answer:
    """Work out what is asked and what answers it; never guesses an event or item that does not fit.

    `previous` is the chat's last question: a follow-up such as "Und der übernächste?" keeps its kind.
    """
    if not text.strip():
        return Answer(Intent.EMPTY)
    local_now = now.astimezone(tz)
    try:
        parsed = parse(text, now=local_now, catalog=catalog, items=items, previous=previous)
    except InvalidDate as exc:
        return Answer(Intent.INVALID_DATE, written_date=exc.written)
    decision = classify(parsed, faq, catalog=catalog, items=items, now=local_now)
    if decision.intent in ITEM_TYPES and items is not None:
        return select_items(parsed, decision.intent, items, now=local_now)
    return select(parsed, decision, catalog=catalog, now=local_now)


def classify(
    parsed: Parsed,
    faq: Sequence[FaqEntry] = (),
    *,
    catalog: Catalog | None = None,
    items: ItemCatalog | None = None,
    now: datetime | None = None,
) -> Decision:
    """Decide what the question asks for, from what `parse` found."""
    if parsed.wants_registration and (parsed.word_set & HOWTO_WORDS or not parsed.has_event_filter):
        return Decision(Intent.HOW_TO_REGISTER)
    if not parsed.narrows:
        about_us = _about_the_assistant(parsed, faq)
        if about_us is not None:
            return about_us
    cue = parsed.item_cue if items is not None else None
    if cue is not None and not (parsed.kind or parsed.speaker_words or parsed.ordinal):
        return Decision(ITEM_INTENTS[cue])
    if not parsed.narrows and items is not None and catalog is not None and now is not None:
        better = _items_answer_better(parsed, catalog, items, now)
        if better is not None:
            return Decision(ITEM_INTENTS[better])
    if not parsed.has_event_filter:
        vague = _without_event_filter(parsed)
        if vague is not None:
            return vague
    if parsed.unknown_topics and not parsed.topics and not parsed.speaker_words:
        return Decision(Intent.EVENT_LIST, nothing_fits=True)
    if parsed.ordinal:
        return Decision(Intent.NEXT_EVENT)
    if parsed.asks_time and (parsed.speaker_words or parsed.topics or parsed.kind):
        return Decision(Intent.EVENT_TIME)
    return Decision(Intent.EVENT_LIST)


def _items_answer_better(
    parsed: Parsed, catalog: Catalog, items: ItemCatalog, now: datetime
) -> ItemType | None:
    """The kind of item that matches the question's words better than any upcoming event, if one does."""
    if not parsed.item_scores:
        return None
    best_item = max(parsed.item_scores, key=lambda i: (parsed.item_hits[i], parsed.item_scores[i]))
    upcoming = {catalog.position[e.slug] for e in catalog.upcoming(now)}
    event_ranks = [(parsed.topic_hits[i], s) for i, s in parsed.topic_scores.items() if i in upcoming]
    if (parsed.item_hits[best_item], parsed.item_scores[best_item]) > max(event_ranks, default=(0, 0)):
        return items.items[best_item].type
    return None


def _about_the_assistant(parsed: Parsed, faq: Sequence[FaqEntry]) -> Decision | None:
    """Help, thanks or an FAQ entry: "Ich brauche Hilfe", "Danke!" win over stray topic matches."""
    words = parsed.word_set
    if words & HELP_WORDS or HELP_PHRASES.search(parsed.rest):
        return Decision(Intent.HELP)
    if words & THANKS_WORDS and len(parsed.words) <= 4:
        return Decision(Intent.THANKS)
    entry = _match_faq(parsed.text, faq, strict=parsed.has_event_filter) if faq else None
    return Decision(Intent.FAQ, faq=entry) if entry is not None else None


def _without_event_filter(parsed: Parsed) -> Decision | None:
    """A question naming no kind, date, speaker or topic: unknown, a greeting, or a plain list question."""
    if parsed.unknown_topics or (parsed.unmatched and not parsed.asks_for_events):
        return Decision(Intent.UNKNOWN)
    if parsed.word_set & GREETINGS and not parsed.asks_for_events:
        return Decision(Intent.GREETING)
    if not (parsed.asks_for_events or parsed.wants_registration):
        return Decision(Intent.UNKNOWN)
    return None


ITEM_TYPES = {intent: kind for kind, intent in ITEM_INTENTS.items()}


def select_items(parsed: Parsed, intent: Intent, items: ItemCatalog, *, now: datetime) -> Answer:
    """The visible items of the kind asked for that fit the question: by relevance, else newest first."""
    kind = ITEM_TYPES[intent]
    pool = items.visible(now, kind)
    if parsed.dates is not None:
        first, last = parsed.dates.start, parsed.dates.end
        pool = [i for i in pool if first <= i.date.astimezone(now.tzinfo).date() <= last]
    wanted = tuple(dict.fromkeys(parsed.organization_kinds)) if kind is ItemType.MEMBER else ()
    if wanted:
        pool = [i for i in pool if i.kind in wanted]
    asked = [w for w in dict.fromkeys((*parsed.item_topics, *parsed.topics, *parsed.unknown_topics))]
    asked = [w for w in asked if w not in ORGANIZATION_WORDS]
    found = _ranked(pool, items, parsed) if asked else pool
    if kind is ItemType.IMPULSE:
        found = found[:1]
    answer = Answer(intent, query=parsed.query(), items=found[:MAX_ITEMS], organization_kinds=wanted)
    if not answer.items:
        answer.other_items = items.visible(now, kind)[:3]
    return answer


def _ranked(pool: list[ItemView], items: ItemCatalog, parsed: Parsed) -> list[ItemView]:
    """The items matching the most question words, then the clearly relevant ones, newest first on ties."""
    scored = [(i, items.position[(i.type, i.slug)]) for i in pool]
    scored = [(i, p) for i, p in scored if p in parsed.item_scores]
    if not scored:
        return []
    best_hits = max(parsed.item_hits[p] for _, p in scored)
    scored = [(i, p) for i, p in scored if parsed.item_hits[p] == best_hits]
    best = max(parsed.item_scores[p] for _, p in scored)
    scored = [(i, p) for i, p in scored if parsed.item_scores[p] * 5 >= best * 3]
    scored.sort(key=lambda pair: (-parsed.item_scores[pair[1]], -pair[0].date.timestamp()))
    return [i for i, _ in scored]


def select(parsed: Parsed, decision: Decision, *, catalog: Catalog, now: datetime) -> Answer:
    """Build the answer for the decided intent: the events that answer it, or what to offer instead."""
    query = parsed.query()
    intent = decision.intent
    if intent is Intent.FAQ:
        return Answer(intent, query=query, faq_slug=decision.faq.slug if decision.faq else None)
    if intent in (Intent.HELP, Intent.THANKS, Intent.GREETING):
        return Answer(intent, query=query)
    if intent is Intent.UNKNOWN:
        return Answer(intent, query=query, unmatched=tuple(parsed.unmatched))
    if intent is Intent.HOW_TO_REGISTER:
        events = matching_events(catalog, parsed, now) if parsed.has_event_filter else []
        return Answer(intent, events=events[:1], query=query)
    if decision.nothing_fits:
        answer = Answer(intent, query=query, unmatched=parsed.unknown_topics)
        answer.next_event = _first_upcoming(catalog, now, parsed.kind)
        return answer
    events = matching_events(catalog, parsed, now)
    if intent is Intent.NEXT_EVENT:
        events = sorted(events, key=lambda e: e.starts_at)[parsed.ordinal - 1 : parsed.ordinal]
    answer = Answer(intent, events=events, query=query, unmatched=tuple(parsed.unmatched))
    if not events:
        answer.next_event = _first_upcoming(catalog, now, None if parsed.dates else parsed.kind)
    return answer


def _first_upcoming(catalog: Catalog, now: datetime, kind: str | None) -> EventView | None:
    for event in catalog.upcoming(now):
        if kind is None or event.kind == kind:
            return event
    return None


def matching_events(catalog: Catalog, parsed: Parsed, now: datetime) -> list[EventView]:
    """Events fitting every filter; with topic words only the best-matching tier, by relevance then time."""
    pool = _pool(catalog, parsed.dates, now)
    index_of = catalog.position
    speakers = parsed.speakers
    result = []
    for event in pool:
        if parsed.kind and event.kind != parsed.kind:
            continue
        if speakers is not None and index_of[event.slug] not in speakers:
            continue
        if parsed.topics and index_of[event.slug] not in parsed.topic_scores:
            continue
        result.append(event)
    if parsed.topics and result:
        result = _most_relevant(result, index_of, parsed.topic_scores, parsed.topic_hits)
    return result


def _pool(catalog: Catalog, dates: DateRange | None, now: datetime) -> list[EventView]:
    """The events in the asked date range (running ones for relative windows), or all upcoming ones."""
    if dates is None:
        return catalog.upcoming(now)
    tz = now.tzinfo
    start = datetime.combine(dates.start, time(0), tz)
    end = datetime.combine(dates.end + timedelta(days=1), time(0), tz)
    pool = catalog.between(start, end)
    if not dates.explicit:
        pool = [e for e in pool if e.effective_end > now]
    return pool


def _most_relevant(
    events: list[EventView], index_of: dict[str, int], scores: dict[int, int], hits: dict[int, int]
) -> list[EventView]:
    """The events that match the most topic words, and of those the clearly relevant ones."""
    best_hits = max(hits[index_of[e.slug]] for e in events)
    events = [e for e in events if hits[index_of[e.slug]] == best_hits]
    best_score = max(scores[index_of[e.slug]] for e in events)
    events = [e for e in events if scores[index_of[e.slug]] * 5 >= best_score * 3]
    events.sort(key=lambda e: (-scores[index_of[e.slug]], e.starts_at))
    return events
