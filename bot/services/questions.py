"""Understands members' free-text questions about events and finds exactly the events that answer them."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from bot.services.catalog import Catalog, EventView
from bot.services.dates import DateRange, InvalidDate, find_date_range
from bot.services.textnorm import stem, tokens
from bot.services.vocabulary import (
    GLOSSARY,
    GREETINGS,
    HELP_PHRASES,
    HELP_WORDS,
    HOWTO_WORDS,
    JOINED,
    KIND_CANONICAL,
    KIND_WORDS,
    LIST_PHRASES,
    LIST_WORDS,
    NEXT_WORDS,
    REGISTER_WORDS,
    SECOND_WORDS,
    STOPWORDS,
    THANKS_WORDS,
    TIME_WORDS,
    TOPIC_MARKERS,
)


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
    intent: str
    events: list[EventView] = field(default_factory=list)
    query: Query = field(default_factory=Query)
    faq_slug: str | None = None
    unmatched: tuple[str, ...] = ()
    written_date: str | None = None
    next_event: EventView | None = None  # offered when nothing matched, never as the answer itself


@dataclass(frozen=True, slots=True)
class FaqEntry:
    slug: str
    language: str
    questions: tuple[str, ...]
    answer: str


def _match_faq(text: str, faq: list[FaqEntry], *, strict: bool) -> FaqEntry | None:
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
) -> Answer:
    """Work out what is asked and which events answer it; never guesses an event that does not fit.

    `previous` is the chat's last question: a follow-up such as "Und der übernächste?" keeps its kind.
    """
    local_now = now.astimezone(tz)
    if not text.strip():
        return Answer("empty")
    try:
        dates, rest = find_date_range(text, local_now)
    except InvalidDate as exc:
        return Answer("invalid_date", written_date=exc.written)
    for pattern, joined in JOINED:
        rest = pattern.sub(joined, rest)
    words = tokens(rest)
    word_set = set(words)
    topic_like = _topic_like(text, words)
    lists_events = bool(word_set & LIST_WORDS) or bool(LIST_PHRASES.search(rest))

    kind = None
    ordinal = 0
    asks_time = bool(word_set & TIME_WORDS) or "wie viel uhr" in rest or "what time" in rest
    speakers: set[int] | None = None
    speaker_words: list[str] = []
    topics: list[str] = []
    unmatched: list[str] = []
    topic_scores: dict[int, int] = {}
    topic_hits: dict[int, int] = {}
    for word in words:
        if word in SECOND_WORDS:
            ordinal = 2
            continue
        if word in NEXT_WORDS:
            ordinal = ordinal or 1
            continue
        found_kind = KIND_WORDS.get(word) or _fuzzy_kind(word)
        if found_kind:
            kind = found_kind
            continue
        if (
            word in STOPWORDS
            or word in LIST_WORDS
            or word in REGISTER_WORDS
            or word in ("melde", "melden", "sign")
            or word in TIME_WORDS
            or word in GREETINGS
            or word in HELP_WORDS
            or word in THANKS_WORDS
            or len(word) < 2
            or word.isdigit()
        ):
            continue
        by_speaker = catalog.speaker_matches(word)
        if by_speaker:
            speakers = by_speaker if speakers is None else (speakers & by_speaker or speakers | by_speaker)
            speaker_words.append(word)
            continue
        matched = catalog.expand(word)
        for german in GLOSSARY.get(word, ()):
            for index, weight in catalog.expand(german).items():
                matched = dict(matched) if matched is not None else {}
                matched[index] = max(weight, matched.get(index, 0))
        if matched:
            topics.append(word)
            for index, weight in matched.items():
                topic_scores[index] = topic_scores.get(index, 0) + weight
                topic_hits[index] = topic_hits.get(index, 0) + 1
        elif word not in unmatched:
            unmatched.append(word)

    follow_up = bool(word_set & {"und", "and", "also"}) or (ordinal and len(words) <= 4)
    if previous is not None and previous.kind and follow_up and not (kind or speaker_words or topics):
        kind = previous.kind

    query = Query(
        kind=kind,
        ordinal=ordinal,
        dates=dates,
        speakers=tuple(speaker_words),
        topics=tuple(topics),
        asks_time=asks_time,
    )
    # "Wie melde ich mich ... an?" splits the verb; "sign up" is two words.
    wants_registration = (
        bool(word_set & REGISTER_WORDS)
        or ("an" in word_set and bool(word_set & {"melde", "melden"}))
        or "sign up" in rest
    )
    has_event_filter = bool(kind or dates or speaker_words or topics)

    if wants_registration and (word_set & HOWTO_WORDS or not has_event_filter):
        events = (
            _select(catalog, query, speakers, topic_scores, topic_hits, local_now) if has_event_filter else []
        )
        return Answer("how_to_register", events=events[:1] if events else [], query=query)

    if not (kind or dates or speaker_words or ordinal):
        # "Ich brauche Hilfe", "Was kannst du?", "Danke!" are about the assistant, whatever else matched.
        if word_set & HELP_WORDS or HELP_PHRASES.search(rest):
            return Answer("help", query=query)
        if word_set & THANKS_WORDS and len(words) <= 4:
            return Answer("thanks", query=query)
    if faq and not (kind or dates or speaker_words or ordinal):
        entry = _match_faq(text, list(faq), strict=has_event_filter)
        if entry is not None:
            return Answer("faq", query=query, faq_slug=entry.slug)
    # Unknown words that look like a subject (a capitalised noun, a word after "zu"/"about") must not be
    # ignored; other unknown words (verbs, fillers: "zeig mir alle") do not change the answer.
    unknown_topics = tuple(w for w in unmatched if w in topic_like)
    asks_for_events = lists_events or bool(ordinal) or asks_time
    if not has_event_filter:
        if unknown_topics or (unmatched and not asks_for_events):
            return Answer("unknown", query=query, unmatched=tuple(unmatched))
        if word_set & GREETINGS and not asks_for_events:
            return Answer("greeting", query=query)
        if not (asks_for_events or wants_registration):
            return Answer("unknown", query=query)

    if unknown_topics and not topics and not speaker_words:
        # A topic we know nothing about narrows a kind or date to nothing, rather than being ignored.
        answer = Answer("event_list", query=query, unmatched=unknown_topics)
        answer.next_event = _first_upcoming(catalog, local_now, kind)
        return answer

    events = _select(catalog, query, speakers, topic_scores, topic_hits, local_now)
    if ordinal:
        intent = "next_event"
        events = sorted(events, key=lambda e: e.starts_at)[ordinal - 1 : ordinal]
    elif asks_time and (speaker_words or topics or kind):
        intent = "event_time"
    else:
        intent = "event_list"
    answer = Answer(intent, events=events, query=query, unmatched=tuple(unmatched))
    if not events:
        answer.next_event = _first_upcoming(catalog, local_now, None if dates else kind)
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


def _select(
    catalog: Catalog,
    query: Query,
    speakers: set[int] | None,
    topic_scores: dict[int, int],
    topic_hits: dict[int, int],
    now: datetime,
) -> list[EventView]:
    """Events fitting every filter; with topic words only the best-matching tier, by relevance then time."""
    if query.dates is not None:
        tz = now.tzinfo
        start = datetime.combine(query.dates.start, time(0), tz)
        end = datetime.combine(query.dates.end + timedelta(days=1), time(0), tz)
        pool = catalog.between(start, end)
        if not query.dates.explicit:
            pool = [e for e in pool if e.effective_end > now]
    else:
        pool = catalog.upcoming(now)
    index_of = catalog.position
    result = []
    for event in pool:
        if query.kind and event.kind != query.kind:
            continue
        if speakers is not None and index_of[event.slug] not in speakers:
            continue
        if query.topics and index_of[event.slug] not in topic_scores:
            continue
        result.append(event)
    if query.topics and result:
        # Keep the events that match the most topic words, and of those the clearly relevant ones.
        best_hits = max(topic_hits[index_of[e.slug]] for e in result)
        result = [e for e in result if topic_hits[index_of[e.slug]] == best_hits]
        best_score = max(topic_scores[index_of[e.slug]] for e in result)
        result = [e for e in result if topic_scores[index_of[e.slug]] * 5 >= best_score * 3]
        result.sort(key=lambda e: (-topic_scores[index_of[e.slug]], e.starts_at))
    return result
