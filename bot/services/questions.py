"""Understands members' free-text questions and finds exactly what answers them: events, or the newsletter's
news, best practices, new members and impulse."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from bot.services.catalog import Catalog, EventView
from bot.services.dates import DateRange, InvalidDate, find_date_range
from bot.services.items import ItemCatalog, ItemType, ItemView
from bot.services.vocabulary import (
    GLOSSARY,
    GREETINGS,
    HELP_PHRASES,
    HELP_WORDS,
    HOWTO_WORDS,
    IMPULSE_WORDS,
    JOINED,
    JOINED_WORDS,
    KIND_CANONICAL,
    KIND_WORDS,
    LIST_PHRASES,
    LIST_WORDS,
    MEMBER_WORDS,
    NEW_WORDS,
    NEWS_WORDS,
    NEWSLETTER_PHRASES,
    NEXT_WORDS,
    ORGANIZATION_WORDS,
    PRACTICE_WORDS,
    REGISTER_WORDS,
    SECOND_WORDS,
    STOPWORDS,
    THANKS_WORDS,
    TIME_WORDS,
    TOPIC_MARKERS,
    WHO_WORDS,
)
from bot.text import stem, tokens


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


@dataclass(frozen=True, slots=True)
class Query:
    kind: str | None = None
    ordinal: int = 0  # 0: a list question, 1: the next, 2: the one after next
    dates: DateRange | None = None
    speakers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    asks_time: bool = False


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


# Words that name no subject of their own: what a question asks (time, list, register), not what about.
_NO_SUBJECT = (
    STOPWORDS
    | LIST_WORDS
    | REGISTER_WORDS
    | TIME_WORDS
    | GREETINGS
    | HELP_WORDS
    | THANKS_WORDS
    | frozenset({"melde", "melden", "sign"})
)


@dataclass
class Parsed:
    """What a question says, word by word: date range, kind, ordinal, speakers, topics, unknown words."""

    text: str
    rest: str  # the folded text without the date expression
    words: list[str]
    dates: DateRange | None = None
    kind: str | None = None
    ordinal: int = 0
    speakers: set[int] | None = None  # catalog positions of events with a named speaker
    speaker_words: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    topic_scores: dict[int, int] = field(default_factory=dict)
    topic_hits: dict[int, int] = field(default_factory=dict)
    topic_like: set[str] = field(default_factory=set)
    # The newsletter's other parts: words asking for a kind of item, and words matching items.
    cues: set[ItemType] = field(default_factory=set)
    new: bool = False  # "neu", "new"
    member_words: bool = False  # "Mitglied", "Netzwerk", "dabei"
    organization_kinds: list[str] = field(default_factory=list)
    item_topics: list[str] = field(default_factory=list)
    item_scores: dict[int, int] = field(default_factory=dict)
    item_hits: dict[int, int] = field(default_factory=dict)

    @cached_property
    def word_set(self) -> frozenset[str]:
        return frozenset(self.words)

    @cached_property
    def asks_time(self) -> bool:
        return bool(self.word_set & TIME_WORDS) or "wie viel uhr" in self.rest or "what time" in self.rest

    @cached_property
    def lists_events(self) -> bool:
        return bool(self.word_set & LIST_WORDS) or bool(LIST_PHRASES.search(self.rest))

    @property
    def asks_for_events(self) -> bool:
        return self.lists_events or bool(self.ordinal) or self.asks_time

    @cached_property
    def wants_registration(self) -> bool:
        # "Wie melde ich mich ... an?" splits the verb; "sign up" is two words.
        words = self.word_set
        return (
            bool(words & REGISTER_WORDS)
            or ("an" in words and bool(words & {"melde", "melden"}))
            or ("sign up" in self.rest)
        )

    @property
    def has_event_filter(self) -> bool:
        return bool(self.kind or self.dates or self.speaker_words or self.topics)

    @property
    def narrows(self) -> bool:
        """Whether the question names a kind, date, speaker or position (so it is about events)."""
        return bool(self.kind or self.dates or self.speaker_words or self.ordinal)

    @property
    def item_cue(self) -> ItemType | None:
        """The kind of item a question asks for by its words, if any."""
        words = self.word_set
        if ItemType.IMPULSE in self.cues:
            return ItemType.IMPULSE
        if ItemType.PRACTICE in self.cues:
            return ItemType.PRACTICE
        new_people = self.new and bool(words & WHO_WORDS or self.member_words or self.organization_kinds)
        if new_people or words & JOINED_WORDS or (self.member_words and self.organization_kinds):
            return ItemType.MEMBER
        if ItemType.NEWS in self.cues:
            return ItemType.NEWS
        if self.new and not (self.kind or self.lists_events or self.speaker_words):
            return ItemType.NEWS
        return None

    @property
    def unknown_topics(self) -> tuple[str, ...]:
        # Unknown words that look like a subject (a capitalised noun, a word after "zu"/"about") must not
        # be ignored; other unknown words (verbs, fillers: "zeig mir alle") do not change the answer.
        return tuple(w for w in self.unmatched if w in self.topic_like)

    def query(self) -> Query:
        return Query(
            kind=self.kind,
            ordinal=self.ordinal,
            dates=self.dates,
            speakers=tuple(self.speaker_words),
            topics=tuple(self.topics),
            asks_time=self.asks_time,
        )


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


def parse(
    text: str,
    *,
    now: datetime,
    catalog: Catalog,
    items: ItemCatalog | None = None,
    previous: Query | None = None,
) -> Parsed:
    """Read the date expression, then every word: ordinal, kind, speaker, topic or unknown.

    `now` is in the user's time zone. Raises InvalidDate for a date that does not exist.
    """
    lowered = text.lower()
    if "impuls" in lowered or "practice" in lowered or "case" in lowered:
        for pattern, phrase in NEWSLETTER_PHRASES:
            text = pattern.sub(phrase, text)
    dates, rest = find_date_range(text, now)
    for pattern, joined in JOINED:
        rest = pattern.sub(joined, rest)
    words = tokens(rest)
    parsed = Parsed(text=text, rest=rest, words=words, dates=dates, topic_like=_topic_like(text, words))
    for word in words:
        if not _newsletter_word(parsed, word):
            _read_word(parsed, word, catalog, items, now)
    follow_up = bool(parsed.word_set & {"und", "and", "also"}) or (parsed.ordinal and len(words) <= 4)
    if previous is not None and previous.kind and follow_up:
        if not (parsed.kind or parsed.speaker_words or parsed.topics):
            parsed.kind = previous.kind
    return parsed


_CUES = {
    **dict.fromkeys(NEWS_WORDS, ItemType.NEWS),
    **dict.fromkeys(PRACTICE_WORDS, ItemType.PRACTICE),
    **dict.fromkeys(IMPULSE_WORDS, ItemType.IMPULSE),
}


def _newsletter_word(parsed: Parsed, word: str) -> bool:
    """Record a word that asks for a kind of item ("Neuigkeiten", "neu", "Mitglied"); True if it was one."""
    if word in _CUES:
        parsed.cues.add(_CUES[word])
    elif word in NEW_WORDS:
        parsed.new = True
    elif word in MEMBER_WORDS:
        parsed.member_words = True
    else:
        if word in ORGANIZATION_WORDS:
            parsed.organization_kinds.append(ORGANIZATION_WORDS[word])  # and read on: it may be a topic
        return False
    return True


def _read_word(parsed: Parsed, word: str, catalog: Catalog, items: ItemCatalog | None, now: datetime) -> None:
    if word in SECOND_WORDS:
        parsed.ordinal = 2
        return
    if word in NEXT_WORDS:
        parsed.ordinal = parsed.ordinal or 1
        return
    found_kind = KIND_WORDS.get(word) or _fuzzy_kind(word)
    if found_kind:
        parsed.kind = found_kind
        return
    if word in _NO_SUBJECT or len(word) < 2 or word.isdigit():
        return
    by_speaker = catalog.speaker_matches(word)
    if by_speaker:
        known = parsed.speakers
        parsed.speakers = by_speaker if known is None else (known & by_speaker or known | by_speaker)
        parsed.speaker_words.append(word)
        return
    matched = _topic_matches(word, catalog.expand)
    if matched:
        parsed.topics.append(word)
        _add_scores(parsed.topic_scores, parsed.topic_hits, matched)
    in_items = _topic_matches(word, lambda w: items.expand(w, now)) if items is not None else {}
    if in_items:
        parsed.item_topics.append(word)
        _add_scores(parsed.item_scores, parsed.item_hits, in_items)
    if not matched and not in_items and word not in parsed.unmatched:
        parsed.unmatched.append(word)


def _add_scores(scores: dict[int, int], hits: dict[int, int], matched: dict[int, int]) -> None:
    for index, weight in matched.items():
        scores[index] = scores.get(index, 0) + weight
        hits[index] = hits.get(index, 0) + 1


def _topic_matches(word: str, expand: Callable[[str], dict[int, int]]) -> dict[int, int]:
    """Documents (positions, weight) a topic word matches, also through its German translation."""
    matched = dict(expand(word))
    for german in GLOSSARY.get(word, ()):
        for index, weight in expand(german).items():
            matched[index] = max(weight, matched.get(index, 0))
    return matched


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


_CAPITALISED = re.compile(r"(?<![\w.!?]\s)(?<!^)\b[A-ZÄÖÜ][\wäöüß]*")


def _topic_like(text: str, words: list[str]) -> set[str]:
    """Words that name a subject: capitalised inside the sentence (German nouns) or after 'zu'/'about'."""
    found = {token for match in _CAPITALISED.finditer(text.strip()) for token in tokens(match.group(0))}
    found |= {word for before, word in itertools.pairwise(words) if before in TOPIC_MARKERS}
    return found


def _fuzzy_kind(word: str) -> str | None:
    if len(word) < 6:
        return None
    for canonical in KIND_CANONICAL:
        if fuzz.ratio(word, canonical) >= 85 or fuzz.ratio(stem(word), canonical) >= 88:
            return KIND_WORDS[canonical]
    return None


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
