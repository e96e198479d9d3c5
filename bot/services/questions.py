"""Understands members' free-text questions and finds exactly what answers them: events, or the newsletter's
news, best practices, new members and impulse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.services.asks import ACTION_ASKS, EVENT_ASKS, Ask, what_is_asked
from bot.services.catalog import Catalog, EventView
from bot.services.dates import DateRange, InvalidDate
from bot.services.faqmatch import FaqEntry, faq_for_ask, match_faq
from bot.services.followups import Shown, asks_after, refers_back, week_after
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
    # An aspect of the events in question (or in the conversation).
    PLACE = "place"
    DURATION = "duration"
    SEATS = "seats"
    DETAILS = "details"
    SPEAKERS = "speakers"
    TOPICS = "topics"
    REMINDERS = "reminders"
    HOW_TO_CANCEL = "how_to_cancel"
    # "Ich möchte mich für … anmelden", "Ich kann nicht zu …": the command's buttons, nothing changed yet.
    OFFER_REGISTER = "offer_register"
    OFFER_CANCEL = "offer_cancel"
    COMMAND = "command"  # a command answered without a question (register, cancel, ...)
    IGNORED = "ignored"  # a group message not meant for the bot
    ERROR = "error"


EVENT_INTENTS = frozenset({Intent.NEXT_EVENT, Intent.EVENT_LIST, Intent.EVENT_TIME})
# Answers about particular events: a follow-up question may refer to them.
SHOWS_EVENTS = EVENT_INTENTS | {
    Intent.PLACE,
    Intent.DURATION,
    Intent.SEATS,
    Intent.DETAILS,
    Intent.SPEAKERS,
    Intent.OFFER_REGISTER,
    Intent.OFFER_CANCEL,
}
_ASK_INTENTS = {
    Ask.PLACE: Intent.PLACE,
    Ask.DURATION: Intent.DURATION,
    Ask.SEATS: Intent.SEATS,
    Ask.DETAILS: Intent.DETAILS,
    Ask.SPEAKERS: Intent.SPEAKERS,
    Ask.TOPICS: Intent.TOPICS,
    Ask.REMINDERS: Intent.REMINDERS,
    Ask.HOW_TO_CANCEL: Intent.HOW_TO_CANCEL,
    Ask.REGISTER: Intent.OFFER_REGISTER,
    Ask.CANCEL: Intent.OFFER_CANCEL,
}
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
    nothing_after: bool = False  # a follow-up asked for what comes after the last event there is


def _general(parsed: Parsed, ask: Ask | None, faq: Sequence[FaqEntry], lang: str | None) -> Answer | None:
    """About the network or the assistant: cost, membership, contact, reminders, cancelling, topics."""
    if ask in (Ask.REMINDERS, Ask.HOW_TO_CANCEL):
        return Answer(_ASK_INTENTS[ask], query=parsed.query())
    if ask in (Ask.COST, Ask.MEMBERSHIP, Ask.CONTACT):
        entry = match_faq(parsed.text, faq, strict=False) or faq_for_ask(parsed.text, ask, faq, lang=lang)
        if entry is not None:
            return Answer(Intent.FAQ, query=parsed.query(), faq_slug=entry.slug)
        return Answer(Intent.UNKNOWN, query=parsed.query(), unmatched=parsed.as_written(parsed.unmatched))
    if ask is Ask.TOPICS and not (parsed.topics or parsed.speaker_words or parsed.unknown_topics):
        return Answer(Intent.TOPICS, query=parsed.query())
    return None


def _about_events(
    parsed: Parsed,
    ask: Ask | None,
    referred: list[EventView] | None,
    previous: Shown | None,
    *,
    catalog: Catalog,
    now: datetime,
) -> Answer | None:
    """An aspect of (or an intention about) the events the question names or refers back to."""
    if ask in _ASK_INTENTS:
        intent = _ASK_INTENTS[ask]
    else:
        intent = Intent.NEXT_EVENT if asks_after(parsed.text) or parsed.ordinal else Intent.EVENT_LIST
    if referred is not None:
        # The answer stays about what was shown: "Und danach?" after "Und wo?" keeps the kind asked for.
        query = replace(previous.query, ordinal=1) if previous is not None else parsed.query()
        if not referred:
            # "Und danach?" after the last one: nothing follows (never "no such events are planned").
            return Answer(Intent.EVENT_LIST, query=query, nothing_after=True)
        return Answer(intent, events=referred, query=query)
    if parsed.has_own_filter:
        events = matching_events(catalog, parsed, now)
        if parsed.ordinal:
            events = sorted(events, key=lambda e: e.starts_at)[parsed.ordinal - 1 : parsed.ordinal]
        if parsed.unknown_topics and not parsed.topics and not parsed.speaker_words:
            events = []
        if not events:
            return None
        if ask in ACTION_ASKS and len(events) > 1:
            return Answer(intent, events=events[:MAX_ITEMS], query=parsed.query())
        return Answer(intent, events=events, query=parsed.query())
    if ask is Ask.REGISTER:
        return Answer(Intent.HOW_TO_REGISTER, query=parsed.query())
    if ask is Ask.CANCEL:
        return Answer(Intent.HOW_TO_CANCEL, query=parsed.query())
    if ask in (Ask.SEATS, Ask.SPEAKERS, Ask.PLACE, Ask.DURATION) and not parsed.unmatched:
        return Answer(intent, events=_all_upcoming(catalog, ask, now), query=parsed.query())
    return None


def _all_upcoming(catalog: Catalog, ask: Ask, now: datetime) -> list[EventView]:
    """ "Welche Referenten sind dabei?": the upcoming events that have what is asked (speakers, a limit)."""
    upcoming = catalog.upcoming(now)
    if ask is Ask.SPEAKERS:
        upcoming = [e for e in upcoming if e.speakers] or upcoming
    elif ask is Ask.SEATS:
        upcoming = [e for e in upcoming if e.capacity] or upcoming
    return upcoming[:MAX_LISTED_ASPECT]


MAX_LISTED_ASPECT = 10


@dataclass(frozen=True, slots=True)
class Decision:
    intent: Intent
    faq: FaqEntry | None = None
    nothing_fits: bool = False  # a topic we know nothing about narrows the events to none


def answer_question(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    catalog: Catalog,
    faq: Sequence[FaqEntry] = (),
    previous: Shown | None = None,
    items: ItemCatalog | None = None,
    lang: str | None = None,
) -> Answer:
    """Work out what is asked and what answers it; never guesses an event or item that does not fit.

    `previous` is what the chat was just shown: follow-ups ("Und wo?", "Und danach?") refer to it.
    """
    if not text.strip():
        return Answer(Intent.EMPTY)
    local_now = now.astimezone(tz)
    try:
        parsed = parse(
            text, now=local_now, catalog=catalog, items=items, previous=previous.query if previous else None
        )
    except InvalidDate as exc:
        return Answer(Intent.INVALID_DATE, written_date=exc.written)
    ask = what_is_asked(text)
    if parsed.dates is None:
        parsed.dates = week_after(text, previous)
    general = _general(parsed, ask, faq, lang)
    if general is not None:
        return general
    referred = refers_back(parsed, ask, previous, catalog, local_now)
    if referred is not None or (ask in EVENT_ASKS or ask in ACTION_ASKS):
        about = _about_events(parsed, ask, referred, previous, catalog=catalog, now=local_now)
        if about is not None:
            return about
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
    entry = match_faq(parsed.text, faq, strict=parsed.has_event_filter) if faq else None
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
        return Answer(intent, query=query, unmatched=parsed.as_written(parsed.unmatched))
    if intent is Intent.HOW_TO_REGISTER:
        events = matching_events(catalog, parsed, now) if parsed.has_event_filter else []
        return Answer(intent, events=events[:1], query=query)
    if decision.nothing_fits:
        answer = Answer(intent, query=query, unmatched=parsed.as_written(parsed.unknown_topics))
        answer.next_event = _first_upcoming(catalog, now, parsed.kind)
        return answer
    events = matching_events(catalog, parsed, now)
    if intent is Intent.NEXT_EVENT:
        events = sorted(events, key=lambda e: e.starts_at)[parsed.ordinal - 1 : parsed.ordinal]
    answer = Answer(intent, events=events, query=query, unmatched=parsed.as_written(parsed.unmatched))
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
    if (
        not result
        and parsed.kind
        and not parsed.kind_from_previous
        and (parsed.topics or parsed.speaker_words)
    ):
        result = _announcing(catalog, parsed, now)
    return result


def _announcing(catalog: Catalog, parsed: Parsed, now: datetime) -> list[EventView]:
    """No event of the kind asked for fits, but one of another kind that mentions it does: the WebTalk
    that announces a seminar series answers "Wann ist das Seminar mit VITAIL?"."""
    assert parsed.kind is not None
    mentions = catalog.expand(parsed.kind)
    if not mentions:
        return []
    kindless = replace(parsed, kind=None)
    return [e for e in matching_events(catalog, kindless, now) if catalog.position[e.slug] in mentions]


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
