"""Event and FAQ access for handlers: the in-memory catalog, lookups by reference, calendar files."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from sqlalchemy import select

from bot.db.models import (
    CONTENT_REVISION,
    AppState,
    Edition,
    Event,
    Faq,
    Impulse,
    News,
    Organization,
    Practice,
)
from bot.db.session import Database
from bot.services.calendar import calendar_of
from bot.services.catalog import Catalog, EventView
from bot.services.items import (
    ItemCatalog,
    edition_view,
    impulse_view,
    member_view,
    news_view,
    practice_view,
)
from bot.services.questions import FaqEntry, answer_question
from bot.text import fold

logger = logging.getLogger(__name__)


class EventService:
    """Keeps a read-only catalog of all events in memory; `refresh()` after content changes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.catalog = Catalog.build([])
        # Withdrawn events (their file disappeared): no longer answered, but managers can still export them.
        self.withdrawn: dict[str, EventView] = {}
        self.items = ItemCatalog.build([])
        self.faq: list[FaqEntry] = []
        self._revision: str | None = None

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload when the stored content changed (another process may have synced); True if reloaded."""
        async with self.db.sessions() as session:
            revision = await session.scalar(select(AppState.value).where(AppState.key == CONTENT_REVISION))
            if not force and revision is not None and revision == self._revision:
                return False
            events = (await session.scalars(select(Event))).all()
            faq_rows = (await session.scalars(select(Faq))).all()
            items = [
                *map(news_view, (await session.scalars(select(News))).all()),
                *map(practice_view, (await session.scalars(select(Practice))).all()),
                *map(member_view, (await session.scalars(select(Organization))).all()),
                *map(
                    impulse_view,
                    (await session.scalars(select(Impulse).where(Impulse.withdrawn_at.is_(None)))).all(),
                ),
            ]
            editions = [edition_view(row) for row in (await session.scalars(select(Edition))).all()]
        self.catalog = Catalog.build([EventView.of(row) for row in events if row.withdrawn_at is None])
        self.withdrawn = {row.slug: EventView.of(row) for row in events if row.withdrawn_at is not None}
        self.items = ItemCatalog.build(items, editions)
        self.faq = [FaqEntry(r.slug, r.language, tuple(r.questions), r.answer) for r in faq_rows]
        self._revision = revision
        logger.info(
            "catalog loaded: %d events, %d other items, %d FAQ entries",
            len(events),
            len(items),
            len(faq_rows),
        )
        return True

    def faq_entry(self, slug: str) -> FaqEntry | None:
        return next((entry for entry in self.faq if entry.slug == slug), None)

    def resolve(self, reference: str, *, now: datetime, tz: ZoneInfo) -> list[EventView]:
        """Events a member means by `reference`: a slug, a speaker's name or (part of) a title.

        Upcoming events win over past ones; returns several candidates when the reference is ambiguous.
        """
        reference = reference.strip().lstrip("#")
        if not reference:
            return []
        catalog = self.catalog
        if reference.lower() in catalog.by_slug:
            return [catalog.by_slug[reference.lower()]]
        # The question engine knows kinds, speakers, dates and topics: "nächster WebTalk", "Thinius", "6.10.".
        answer = answer_question(reference, now=now, tz=tz, catalog=catalog)
        if answer.events:
            return answer.events
        pool = catalog.upcoming(now) or catalog.events
        folded = fold(reference)
        choices = {e.slug: fold(e.title) for e in pool}
        scored = process.extract(folded, choices, scorer=fuzz.partial_ratio, limit=5, score_cutoff=80)
        if not scored:
            return []
        best = scored[0][1]
        return [catalog.by_slug[slug] for _title, score, slug in scored if score >= best - 3]

    async def latest_impulse(self, *, now: datetime) -> Impulse | None:
        async with self.db.sessions() as session:
            return await session.scalar(
                select(Impulse)
                .where(Impulse.post_at <= now, Impulse.withdrawn_at.is_(None))
                .order_by(Impulse.post_at.desc())
                .limit(1)
            )

    def calendar_file(self, event: EventView, *, now: datetime) -> bytes:
        """An RFC 5545 calendar with this one event."""
        return calendar_of([event], now=now)
