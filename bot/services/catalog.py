"""In-memory view of the events for fast question answering: sorted by time, with a word index."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.services.vocabulary import STOPWORDS
from bot.text import stem, tokens

_UMLAUT_PLURAL = re.compile(r"(a|o|u)e(?=[^aeiou]*$)")

# How strongly a word in each field speaks for an event.
TITLE, TAG, SPEAKER, ORGANIZER, DESCRIPTION = 3, 3, 3, 2, 1
DEFAULT_DURATION = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    slug: str
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime | None
    speakers: tuple[str, ...]
    organizer: str | None
    tags: tuple[str, ...]
    registration_url: str | None
    capacity: int | None
    location: str | None
    description: str

    @property
    def effective_end(self) -> datetime:
        return self.ends_at or self.starts_at + DEFAULT_DURATION


@dataclass
class Catalog:
    """Events sorted by start, an inverted word index and the speakers' names."""

    events: list[EventView] = field(default_factory=list)
    _starts: list[datetime] = field(default_factory=list)
    _postings: dict[str, dict[int, int]] = field(default_factory=dict)
    _vocabulary: list[str] = field(default_factory=list)
    _speaker_words: dict[str, set[int]] = field(default_factory=dict)
    _speaker_vocabulary: list[str] = field(default_factory=list)
    by_slug: dict[str, EventView] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    by_id: dict[int, EventView] = field(default_factory=dict)

    @classmethod
    def build(cls, events: list[EventView]) -> Catalog:
        ordered = sorted(events, key=lambda e: (e.starts_at, e.slug))
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        speaker_words: dict[str, set[int]] = defaultdict(set)
        for index, event in enumerate(ordered):
            fields = [
                (event.title, TITLE),
                (" ".join(event.tags), TAG),
                (event.organizer or "", ORGANIZER),
                (event.description, DESCRIPTION),
            ]
            for text, weight in fields:
                for word in tokens(text):
                    if word in STOPWORDS or len(word) < 2:
                        continue
                    if postings[word].get(index, 0) < weight:
                        postings[word][index] = weight
            for speaker in event.speakers:
                for word in tokens(speaker):
                    if len(word) >= 3:
                        speaker_words[word].add(index)
        catalog = cls(
            events=ordered,
            _starts=[e.starts_at for e in ordered],
            _postings=dict(postings),
            _speaker_words=dict(speaker_words),
            by_slug={e.slug: e for e in ordered},
            position={e.slug: i for i, e in enumerate(ordered)},
            by_id={e.id: e for e in ordered},
        )
        catalog._vocabulary = sorted(catalog._postings)
        catalog._speaker_vocabulary = sorted(catalog._speaker_words)
        # Each catalog gets its own caches, so a content sync never serves stale expansions.
        catalog.expand = lru_cache(maxsize=8192)(catalog._expand)  # type: ignore[method-assign]
        return catalog

    def starting_from(self, moment: datetime) -> int:
        """Index of the first event starting at or after `moment`."""
        return bisect.bisect_left(self._starts, moment)

    def between(self, start: datetime, end: datetime) -> list[EventView]:
        """Events starting in [start, end)."""
        return self.events[bisect.bisect_left(self._starts, start) : bisect.bisect_left(self._starts, end)]

    def upcoming(self, now: datetime) -> list[EventView]:
        """Events not yet over at `now` (running ones included), by start time."""
        first = self.starting_from(now - timedelta(days=2))
        return [e for e in self.events[first:] if e.effective_end > now]

    def expand(self, word: str) -> dict[int, int]:  # replaced per instance in build()
        return self._expand(word)

    def _expand(self, word: str) -> dict[int, int]:
        """Events whose indexed words match `word`: exactly, as part of a compound, by stem or with a typo."""
        matches: dict[int, int] = {}

        def take(term: str) -> None:
            for index, weight in self._postings[term].items():
                if matches.get(index, 0) < weight:
                    matches[index] = weight

        if word in self._postings:
            take(word)
        if len(word) < 4:
            return matches
        # German plurals often add an umlaut: "Leerstände" -> "leerstaende" -> root "leerstand".
        roots = {stem(word), _UMLAUT_PLURAL.sub(lambda m: m.group(1), stem(word))}
        for term in self._vocabulary:
            # "leerstand" finds "leerstandsmanagement"; "leerstandsmanagement" finds "leerstand".
            if term != word and (any(root in term for root in roots) or (len(term) >= 5 and term in word)):
                take(term)
        if len(word) >= 6:
            for term, _score, _ in process.extract_iter(
                word, self._vocabulary, scorer=fuzz.ratio, score_cutoff=86
            ):
                take(term)
        return matches

    def speaker_matches(self, word: str) -> set[int]:
        """Events with a speaker named `word` (first or last name, small typos allowed)."""
        if len(word) < 3:
            return set()
        if word in self._speaker_words:
            return set(self._speaker_words[word])
        found: set[int] = set()
        if len(word) >= 5:
            for term, _score, _ in process.extract_iter(
                word, self._speaker_vocabulary, scorer=fuzz.ratio, score_cutoff=80
            ):
                found |= self._speaker_words[term]
        return found
