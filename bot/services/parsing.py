"""Reads a question word by word: its date range, kind, ordinal, speakers, topics and unknown words."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from rapidfuzz import fuzz

from bot.services.asks import ASK_WORDS
from bot.services.catalog import Catalog
from bot.services.dates import DateRange, find_date_range
from bot.services.items import ItemCatalog, ItemType
from bot.services.vocabulary import (
    GLOSSARY,
    GREETINGS,
    HELP_WORDS,
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
from bot.text import fold, stem, tokens


@dataclass(frozen=True, slots=True)
class Query:
    kind: str | None = None
    ordinal: int = 0  # 0: a list question, 1: the next, 2: the one after next
    dates: DateRange | None = None
    speakers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    asks_time: bool = False


_WORD = re.compile(r"[\w-]+")
# Kind words in the plural: the member asks for a list.
PLURAL_KIND_WORDS = frozenset(
    "webtalks webinare webinars talks vortraege roundtables seminare seminars schulungen workshops "
    "kickoffs".split()
)

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
    | ASK_WORDS
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
    plural_kind: bool = False  # "WebTalks": a list, even with "als Nächstes"
    kind_from_previous: bool = False  # the kind was kept from the question before ("Und im Juni?")

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

    def as_written(self, words: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Folded words as the member wrote them ("Förderprogramme", not "foerderprogramme")."""
        written = {fold(w): w for w in _WORD.findall(self.text)}
        return tuple(written.get(w, w) for w in words)

    @property
    def has_own_filter(self) -> bool:
        """Whether the question itself (not the one before) names a kind, date, speaker, topic or position."""
        own_kind = bool(self.kind) and not self.kind_from_previous
        return bool(own_kind or self.dates or self.speaker_words or self.topics or self.ordinal)

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
    if parsed.plural_kind and parsed.ordinal == 1:
        parsed.ordinal = 0
    follow_up = bool(parsed.word_set & {"und", "and", "also"}) or (parsed.ordinal and len(words) <= 4)
    if previous is not None and previous.kind and follow_up:
        if not (parsed.kind or parsed.speaker_words or parsed.topics):
            parsed.kind = previous.kind
            parsed.kind_from_previous = True
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
        parsed.plural_kind = word in PLURAL_KIND_WORDS
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
