"""In-memory view of the events for fast question answering: sorted by time, with a word index."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process

from bot.db.models import Event
from bot.services.wordindex import WordIndex
from bot.text import tokens

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
    featured: bool = False

    @property
    def effective_end(self) -> datetime:
        return self.ends_at or self.starts_at + DEFAULT_DURATION

    @classmethod
    def of(cls, row: Event) -> EventView:
        return cls(
            id=row.id,
            slug=row.slug,
            title=row.title,
            kind=row.kind,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            speakers=tuple(row.speakers or ()),
            organizer=row.organizer,
            tags=tuple(row.tags or ()),
            registration_url=row.registration_url,
            capacity=row.capacity,
            location=row.location,
            description=row.description,
            featured=bool(row.featured),
        )


@dataclass
class Catalog:
    """Events sorted by start, an inverted word index and the speakers' names."""

    events: list[EventView] = field(default_factory=list)
    _starts: list[datetime] = field(default_factory=list)
    _index: WordIndex = field(default_factory=lambda: WordIndex([]))
    _speaker_words: dict[str, set[int]] = field(default_factory=dict)
    _speaker_vocabulary: list[str] = field(default_factory=list)
    by_slug: dict[str, EventView] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    by_id: dict[int, EventView] = field(default_factory=dict)

    @classmethod
    def build(cls, events: list[EventView]) -> Catalog:
        ordered = sorted(events, key=lambda e: (e.starts_at, e.slug))
        index = WordIndex(
            (
                position,
                [
                    (event.title, TITLE),
                    (" ".join(event.tags), TAG),
                    (event.organizer or "", ORGANIZER),
                    (event.description, DESCRIPTION),
                ],
            )
            for position, event in enumerate(ordered)
        )
        speaker_words: dict[str, set[int]] = defaultdict(set)
        for position, event in enumerate(ordered):
            for speaker in event.speakers:
                for word in tokens(speaker):
                    if len(word) >= 3:
                        speaker_words[word].add(position)
        return cls(
            events=ordered,
            _starts=[e.starts_at for e in ordered],
            _index=index,
            _speaker_words=dict(speaker_words),
            _speaker_vocabulary=sorted(speaker_words),
            by_slug={e.slug: e for e in ordered},
            position={e.slug: i for i, e in enumerate(ordered)},
            by_id={e.id: e for e in ordered},
        )

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

    def expand(self, word: str) -> dict[int, int]:
        """Events (positions) whose words match `word`, with the weight of the field that matched."""
        return self._index.expand(word)

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
