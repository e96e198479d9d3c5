"""The newsletter's parts besides events, in memory: news, best practices, new member organisations, impulses
and the weekly editions, with one word index over all of them.

Items dated in the future (a manager preparing next week) are not visible before their time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.db.models import Edition, Impulse, News, Organization, Practice
from bot.services.wordindex import WordIndex

# How strongly a word in each field speaks for an item (the same scale as events').
NAME, TAG, PLACE, BODY = 3, 3, 3, 1


class ItemType(StrEnum):
    NEWS = "news"
    PRACTICE = "practice"
    MEMBER = "member"
    IMPULSE = "impulse"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What `stadtretter ask --json` lists under "items": type ("news", "practice", "member", "impulse",
    "faq"), slug and title."""

    type: str
    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class ItemView:
    """One news item, best practice, new member organisation or impulse, as members see it."""

    type: ItemType
    slug: str
    title: str  # the organisation's name for members
    date: datetime  # published, joined or posted
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    organization: str | None = None
    city: str | None = None
    people: tuple[str, ...] = ()
    kind: str | None = None  # an organisation's kind: municipality, company, partner, association, other
    author: str | None = None

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.type.value, self.slug, self.title)

    def fields(self) -> list[tuple[str, int]]:
        """The texts the word index reads, with their weights."""
        return [
            (self.title, NAME),
            (" ".join(self.tags), TAG),
            (" ".join(filter(None, (self.organization, self.city, *self.people, self.author))), PLACE),
            (self.body, BODY),
        ]


@dataclass(frozen=True, slots=True)
class EditionView:
    """One week's subject line and editorial."""

    week: str  # ISO week, "2020-W40"
    title: str
    author: str | None
    body: str


def news_view(row: News) -> ItemView:
    return ItemView(ItemType.NEWS, row.slug, row.title, row.published_at, row.body, tuple(row.tags), row.url)


def practice_view(row: Practice) -> ItemView:
    return ItemView(
        ItemType.PRACTICE,
        row.slug,
        row.title,
        row.published_at,
        row.body,
        tuple(row.tags),
        row.url,
        organization=row.organization,
        city=row.city,
        people=tuple(row.people),
    )


def member_view(row: Organization) -> ItemView:
    return ItemView(
        ItemType.MEMBER,
        row.slug,
        row.name,
        row.joined_at,
        row.body,
        tuple(row.tags),
        row.url,
        city=row.city,
        kind=str(row.kind),
    )


def impulse_view(row: Impulse) -> ItemView:
    return ItemView(ItemType.IMPULSE, row.slug, row.title, row.post_at, row.body, author=row.author)


def edition_view(row: Edition) -> EditionView:
    return EditionView(row.slug, row.title, row.author, row.body)


@dataclass
class ItemCatalog:
    """All items, oldest first, with a word index; `visible()` and `matches()` hide what is not due yet."""

    items: list[ItemView] = field(default_factory=list)
    editions: dict[str, EditionView] = field(default_factory=dict)
    position: dict[tuple[ItemType, str], int] = field(default_factory=dict)
    _dates: list[datetime] = field(default_factory=list)
    _index: WordIndex = field(default_factory=lambda: WordIndex([]))

    @classmethod
    def build(cls, items: Iterable[ItemView], editions: Iterable[EditionView] = ()) -> ItemCatalog:
        ordered = sorted(items, key=lambda i: (i.date, i.type, i.slug))
        return cls(
            items=ordered,
            editions={e.week: e for e in editions},
            position={(item.type, item.slug): position for position, item in enumerate(ordered)},
            _dates=[i.date for i in ordered],
            _index=WordIndex((position, item.fields()) for position, item in enumerate(ordered)),
        )

    def visible(self, now: datetime, kind: ItemType | None = None) -> list[ItemView]:
        """Items dated up to `now`, newest first, optionally of one type."""
        due = self.items[: bisect.bisect_right(self._dates, now)]
        return [i for i in reversed(due) if kind is None or i.type is kind]

    def expand(self, word: str, now: datetime) -> dict[int, int]:
        """Visible items (positions) whose words match `word`, with the weight of the field that matched."""
        last = bisect.bisect_right(self._dates, now)
        return {position: weight for position, weight in self._index.expand(word).items() if position < last}

    def latest(self, kind: ItemType, now: datetime) -> ItemView | None:
        found = self.visible(now, kind)
        return found[0] if found else None
