"""The weekly overview: which week it is, what goes in, who receives it, and enqueueing it exactly once.

T is the scheduled time of a week's overview (default Monday 09:00 local time, DST included). Its parts:
the week's edition, the impulse posted in (T - 7 days, T], news, best practices and new members of that
window, and the events starting in [T, T + 21 days), featured ones first. One run row per week makes a
second attempt (a restart, a second instance) a no-op, and the outbox keys make each chat's delivery unique.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ChatRef, Person, Reply
from bot.config import Settings
from bot.db.models import (
    Member,
    OutboxBody,
    OutboxMessage,
    OutboxStatus,
    OverviewRun,
    OverviewTarget,
    TargetKind,
    TargetStatus,
)
from bot.db.session import Database
from bot.services.catalog import Catalog, EventView
from bot.services.items import EditionView, ItemCatalog, ItemType, ItemView
from bot.services.outbox import reply_to_payload

logger = logging.getLogger(__name__)

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the overview goes out each week, and the windows it looks back and ahead."""

    tz: ZoneInfo
    weekday: int = 0
    at: time = time(9, 0)
    lookback: timedelta = timedelta(days=7)
    ahead: timedelta = timedelta(days=21)

    @classmethod
    def of(cls, settings: Settings) -> Schedule:
        weekday, at = settings.overview_when
        return cls(
            settings.tz,
            weekday,
            at,
            timedelta(days=settings.overview_lookback_days),
            timedelta(days=settings.overview_ahead_days),
        )

    def week_of(self, moment: datetime) -> str:
        """The ISO week ("2020-W40") a moment falls in, in local time."""
        year, week, _ = moment.astimezone(self.tz).isocalendar()
        return f"{year}-W{week:02d}"

    def scheduled_for(self, week: str) -> datetime:
        """T: the week's overview time, local (so 09:00 stays 09:00 across daylight saving time)."""
        year, number = parse_week(week)
        day = date.fromisocalendar(year, number, self.weekday + 1)
        return datetime.combine(day, self.at, tzinfo=self.tz)


def parse_week(week: str) -> tuple[int, int]:
    match = _WEEK.match(week.strip())
    if not match:
        raise ValueError(f"not an ISO week such as 2020-W40: {week!r}")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{week} is not a week of {year}") from None
    return year, number


@dataclass(frozen=True, slots=True)
class DiscussionDigest:
    """Last week's impulse discussion in the overview: how many contributions, a few (first name, excerpt)."""

    count: int
    excerpts: tuple[tuple[str, str], ...] = ()


@dataclass
class Overview:
    """One week's overview, its parts in the order the newsletter shows them."""

    week: str
    scheduled_for: datetime
    edition: EditionView | None = None
    impulse: ItemView | None = None
    news: list[ItemView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    practices: list[ItemView] = field(default_factory=list)
    members: list[ItemView] = field(default_factory=list)
    discussion: DiscussionDigest | None = None

    @property
    def is_empty(self) -> bool:
        parts = (self.news, self.events, self.practices, self.members)
        return self.edition is None and self.impulse is None and not any(parts)

    def summary(self) -> dict[str, Any]:
        """Slugs per part, in the order shown (what `stadtretter overview show --json` prints)."""
        return {
            "week": self.week,
            "edition": self.edition.week if self.edition else None,
            "impulse": self.impulse.slug if self.impulse else None,
            "news": [i.slug for i in self.news],
            "events": [e.slug for e in self.events],
            "practices": [i.slug for i in self.practices],
            "members": [i.slug for i in self.members],
        }


def assemble(week: str, schedule: Schedule, catalog: Catalog, items: ItemCatalog) -> Overview:
    """What the overview of `week` contains; nothing dated after its time T is included."""
    due = schedule.scheduled_for(week)
    since = due - schedule.lookback
    recent = [i for i in items.visible(due) if i.date > since]  # newest first

    def of(kind: ItemType) -> list[ItemView]:
        return [i for i in recent if i.type is kind]

    impulses = of(ItemType.IMPULSE)
    events = sorted(catalog.between(due, due + schedule.ahead), key=lambda e: (not e.featured, e.starts_at))
    return Overview(
        week=week,
        scheduled_for=due,
        edition=items.editions.get(week),
        impulse=impulses[0] if impulses else None,
        news=of(ItemType.NEWS),
        events=events,
        practices=of(ItemType.PRACTICE),
        members=of(ItemType.MEMBER),
    )


@dataclass(frozen=True, slots=True)
class Audience:
    """Chats that get the same rendering: one platform, one language, members' own chats or not."""

    platform: str
    language: str
    private: bool


class OverviewRendering(Protocol):
    """Renders an overview for an audience (the notices module does)."""

    def render(self, overview: Overview, audience: Audience) -> list[Reply]: ...


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    platform: str
    chat_id: str
    kind: TargetKind
    status: TargetStatus
    title: str
    language: str

    @property
    def chat(self) -> ChatRef:
        return ChatRef(self.platform, self.chat_id, is_private=self.kind is TargetKind.MEMBER)

    @property
    def audience(self) -> Audience:
        return Audience(self.platform, self.language, self.kind is TargetKind.MEMBER)


def _target(row: OverviewTarget) -> Target:
    return Target(row.id, row.platform, row.chat_id, row.kind, row.status, row.title, row.language)


_ACTIVE = (OverviewTarget.status == TargetStatus.ACTIVE.value, OverviewTarget.overview.is_(True))


class OverviewService:
    """Targets (channels, groups, rooms, members' chats) and the weekly fan-out through the outbox."""

    def __init__(self, db: Database, schedule: Schedule) -> None:
        self.db = db
        self.schedule = schedule

    # --- targets ---------------------------------------------------------------------------------------

    async def targets(self, *, statuses: Sequence[TargetStatus] = (TargetStatus.ACTIVE,)) -> list[Target]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(OverviewTarget)
                .where(OverviewTarget.status.in_(statuses))
                .order_by(OverviewTarget.kind, OverviewTarget.id)
            )
            return [_target(r) for r in rows]

    async def find(self, chat: ChatRef) -> Target | None:
        async with self.db.sessions() as session:
            row = await self._row(session, chat)
            return _target(row) if row is not None else None

    async def target(self, target_id: int) -> Target | None:
        async with self.db.sessions() as session:
            row = await session.get(OverviewTarget, target_id)
            return _target(row) if row is not None else None

    async def set_chat(
        self,
        chat: ChatRef,
        *,
        kind: TargetKind,
        status: TargetStatus,
        now: datetime,
        title: str = "",
        language: str = "de",
        added_by: str | None = None,
    ) -> Target:
        """Add a channel, group or room as a target (or change its status); returns it."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await self._row(session, chat)
            if row is None:
                row = OverviewTarget(
                    platform=chat.platform,
                    chat_id=chat.id,
                    kind=kind,
                    status=status,
                    title=title[:255],
                    language=language,
                    added_by=added_by,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
            else:
                row.status, row.updated_at = status, now
                row.title = title[:255] or row.title
                row.language = language or row.language
                row.added_by = added_by or row.added_by
            await session.flush()
            return _target(row)

    async def set_status(self, target_id: int, status: TargetStatus, *, now: datetime) -> Target | None:
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await session.get(OverviewTarget, target_id)
            if row is None:
                return None
            row.status, row.updated_at = status, now
            return _target(row)

    async def subscribe(self, person: Person, *, language: str, now: datetime) -> bool | None:
        """Subscribe a member's own chat; False if already subscribed, None without a member (no consent)."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member = await _member(session, person)
            if member is None:
                return None
            chat = ChatRef(person.platform, person.id)
            row = await self._row(session, chat)
            if row is not None and row.status is TargetStatus.ACTIVE:
                return False
            if row is None:
                session.add(
                    OverviewTarget(
                        platform=chat.platform,
                        chat_id=chat.id,
                        kind=TargetKind.MEMBER,
                        status=TargetStatus.ACTIVE,
                        title=person.display_name[:255],
                        language=language,
                        member_id=member.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.status, row.language, row.updated_at = TargetStatus.ACTIVE, language, now
            member.overview_offered_at = member.overview_offered_at or now
            return True

    async def unsubscribe(self, person: Person, *, now: datetime) -> bool:
        """End a member's subscription; False if there was none."""
        return await self.remove(ChatRef(person.platform, person.id), now=now)

    async def remove(self, chat: ChatRef, *, now: datetime) -> bool:
        """The chat gets no more overviews (unsubscribed, turned off, blocked, or the bot was removed)."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            result = await session.execute(
                update(OverviewTarget)
                .where(
                    OverviewTarget.platform == chat.platform,
                    OverviewTarget.chat_id == chat.id,
                    OverviewTarget.status != TargetStatus.REMOVED,
                )
                .values(status=TargetStatus.REMOVED, updated_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

    async def is_subscribed(self, person: Person) -> bool:
        async with self.db.sessions() as session:
            row = await self._row(session, ChatRef(person.platform, person.id))
            return row is not None and row.status is TargetStatus.ACTIVE

    async def offer_once(self, person: Person, *, now: datetime) -> bool:
        """Whether to offer the overview to this member now: once, after a first registration."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member = await _member(session, person)
            if member is None or member.overview_offered_at is not None:
                return False
            member.overview_offered_at = now
            row = await self._row(session, ChatRef(person.platform, person.id))
            return row is None or row.status is not TargetStatus.ACTIVE

    @staticmethod
    async def _row(session: AsyncSession, chat: ChatRef) -> OverviewTarget | None:
        return await session.scalar(
            select(OverviewTarget).where(
                OverviewTarget.platform == chat.platform, OverviewTarget.chat_id == chat.id
            )
        )

    # --- the weekly fan-out ----------------------------------------------------------------------------

    async def run_due(
        self,
        now: datetime,
        catalog: Catalog,
        items: ItemCatalog,
        rendering: OverviewRendering,
        platforms: set[str] | None,
        *,
        complete: Callable[[Overview], Awaitable[Overview]] | None = None,
    ) -> tuple[str, int] | None:
        """Enqueue this week's overview if its time has come and it was not enqueued yet; late within
        the week after a downtime, never for a past week. Returns (week, chats) when it enqueued."""
        week = self.schedule.week_of(now)
        if now < self.schedule.scheduled_for(week):
            return None
        async with self.db.sessions() as session:
            if await session.scalar(select(OverviewRun.id).where(OverviewRun.week == week)) is not None:
                return None
        overview = assemble(week, self.schedule, catalog, items)
        if complete is not None:  # parts from the database, such as last week's discussion
            overview = await complete(overview)
        count = await self.enqueue(overview, rendering, now=now, platforms=platforms, scheduled=True)
        return None if count is None else (week, count)

    async def enqueue(
        self,
        overview: Overview,
        rendering: OverviewRendering,
        *,
        now: datetime,
        platforms: set[str] | None = None,
        scheduled: bool = False,
    ) -> int | None:
        """Queue the overview for every active target (of `platforms`); idempotent per chat and week.

        With `scheduled`, the week's run row is claimed first: if another instance (or an earlier run)
        holds it, nothing is queued and None is returned. Returns the number of chats queued for.
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            if not await self._claim_week(session, overview, now=now, scheduled=scheduled):
                return None
            total = 0
            for audience in await self._audiences(session, platforms):
                replies = rendering.render(overview, audience)
                if replies:
                    total += await self._fan_out(session, overview.week, audience, replies, now)
            await session.execute(
                update(OverviewRun)
                .where(OverviewRun.week == overview.week)
                .values(targets=OverviewRun.targets + total)
            )
        logger.info("weekly overview %s queued for %d chats", overview.week, total)
        return total

    async def _audiences(self, session: AsyncSession, platforms: set[str] | None) -> list[Audience]:
        query = select(OverviewTarget.platform, OverviewTarget.language, OverviewTarget.kind).where(*_ACTIVE)
        if platforms is not None:
            query = query.where(OverviewTarget.platform.in_(platforms))
        found = {
            Audience(p, lang, kind is TargetKind.MEMBER)
            for p, lang, kind in await session.execute(query.distinct())
        }
        return sorted(found, key=lambda a: (a.platform, a.language, a.private))

    async def _fan_out(
        self, session: AsyncSession, week: str, audience: Audience, replies: list[Reply], now: datetime
    ) -> int:
        """One stored payload for the audience, and one outbox row per chat made inside the database:
        100,000 subscribers cost one INSERT … SELECT, not 100,000 rows through Python."""
        payload = {"parts": [reply_to_payload(r) for r in replies]}
        body_id = (
            await session.execute(
                insert(OutboxBody).values(payload=payload, created_at=now).returning(OutboxBody.id)
            )
        ).scalar_one()
        private = OverviewTarget.kind == TargetKind.MEMBER.value
        chats = select(
            literal(f"overview:{week}:") + OverviewTarget.platform + literal(":") + OverviewTarget.chat_id,
            OverviewTarget.platform,
            OverviewTarget.chat_id,
            private,
            literal({}, JSON),
            literal(body_id),
            literal(OutboxStatus.PENDING.value),
            literal(0),
            literal(0),
            literal(now, OutboxMessage.not_before.type),
            literal(now, OutboxMessage.created_at.type),
        ).where(
            *_ACTIVE,
            OverviewTarget.platform == audience.platform,
            OverviewTarget.language == audience.language,
            private if audience.private else ~private,
        )
        columns = [
            "key",
            "platform",
            "chat_id",
            "is_private",
            "payload",
            "body_id",
            "status",
            "attempts",
            "progress",
            "not_before",
            "created_at",
        ]
        insert_ = sqlite_insert if self.db.is_sqlite else pg_insert
        statement = (
            insert_(OutboxMessage).from_select(columns, chats).on_conflict_do_nothing(index_elements=["key"])
        )
        result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def _claim_week(
        self, session: AsyncSession, overview: Overview, *, now: datetime, scheduled: bool
    ) -> bool:
        insert_ = sqlite_insert if self.db.is_sqlite else pg_insert
        result = await session.execute(
            insert_(OverviewRun)
            .values(week=overview.week, scheduled_for=overview.scheduled_for, enqueued_at=now, targets=0)
            .on_conflict_do_nothing(index_elements=["week"])
        )
        # A concurrent instance waits on the unique index until the first one commits, then sees a conflict.
        return bool(result.rowcount) or not scheduled  # type: ignore[attr-defined]


async def _member(session: AsyncSession, person: Person) -> Member | None:
    return await session.scalar(
        select(Member).where(Member.platform == person.platform, Member.user_id == person.id)
    )
