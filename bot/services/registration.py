"""Registration rules: consent, capacity, waitlist with promotion, cancellation, attendee lists."""

from __future__ import annotations

import csv
import io
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ChatRef, Person, Reply
from bot.clock import Clock
from bot.db.models import Event, Member, Registration, RegistrationStatus, ReminderMark
from bot.db.session import Database
from bot.services.catalog import EventView
from bot.services.members import ensure_member, language_of
from bot.services.outbox import Outbox

logger = logging.getLogger(__name__)

# Reminder keys for the 24-hour reminder keep the form they had before offsets were configurable.
DEFAULT_REMINDER_MINUTES = 24 * 60
# Whether a person agreed is asked for many answers: remembered briefly. Consent is only given in a chat,
# through the one active instance, which forgets its memory of that person at once; so a "no" may be
# remembered as long as a "yes" (a CLI erasure in another process counts within this time).
CONSENT_YES_SECONDS = 30.0
CONSENT_NO_SECONDS = 30.0
MARK_SLACK = timedelta(minutes=2)


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    ALREADY_CONFIRMED = "already_confirmed"
    ALREADY_WAITLISTED = "already_waitlisted"
    NEEDS_CONSENT = "needs_consent"
    EVENT_OVER = "event_over"
    EVENT_GONE = "event_gone"
    CANCELLED = "cancelled"
    NOT_REGISTERED = "not_registered"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    waitlist_position: int | None = None


@dataclass(frozen=True, slots=True)
class MyRegistration:
    event: EventView
    status: RegistrationStatus
    waitlist_position: int | None


@dataclass(frozen=True, slots=True)
class Recipient:
    """A member to push a notice to: where, in which language, and the registration it is about."""

    chat: ChatRef
    language: str
    member_id: int


class PromotionNotices(Protocol):
    """Builds the message a member gets when a seat frees up for them (the notices module does)."""

    def promotion(self, lang: str, event: EventView) -> Reply: ...


CONFIRMED, WAITLISTED, CANCELLED = (
    RegistrationStatus.CONFIRMED,
    RegistrationStatus.WAITLISTED,
    RegistrationStatus.CANCELLED,
)
ACTIVE = (CONFIRMED, WAITLISTED)


class RegistrationService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        outbox: Outbox,
        notices: PromotionNotices,
        *,
        language: str = "de",
        privacy_version: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.notices = notices
        self.language = language
        self.privacy_version = privacy_version  # recorded with each consent (BOT_PRIVACY_VERSION)
        self._consent: dict[str, tuple[bool, float]] = {}

    async def has_consent(self, sender: Person) -> bool:
        async with self.db.sessions() as session:
            consent = await session.scalar(
                select(Member.consent_at).where(
                    Member.platform == sender.platform, Member.user_id == sender.id
                )
            )
            return consent is not None

    async def consented(self, person: Person) -> bool:
        """Like has_consent, answered from a short-lived memory when it can."""
        key, now = person.key, time.monotonic()
        known = self._consent.get(key)
        if known is not None and known[1] > now:
            return known[0]
        value = await self.has_consent(person)
        self.remember_consent(person, value)
        return value

    def remember_consent(self, person: Person, value: bool) -> None:
        """Keep what a read of the member row just showed (for the same short time as a lookup)."""
        if len(self._consent) > 50_000:
            self._consent.clear()
        seconds = CONSENT_YES_SECONDS if value else CONSENT_NO_SECONDS
        self._consent[person.key] = (value, time.monotonic() + seconds)

    def forget_consent(self, person: Person) -> None:
        self._consent.pop(person.key, None)

    async def give_consent(self, sender: Person) -> None:
        """Record that the sender agreed, when, and to which privacy notice (the first agreement counts)."""
        now = self.clock.now()
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member = await ensure_member(session, self.db, sender, now=now)
            if member.consent_at is None:
                member.consent_at = now
                member.consent_version = self.privacy_version
        self.forget_consent(sender)

    async def register(self, sender: Person, event: EventView) -> Result:
        """Confirm a seat, or queue on the waitlist when the event is full; never overbooks."""
        now = self.clock.now()
        async with self.db.write_lock, self.db.sessions.begin() as session:
            # Nothing is stored about a person before they agreed to it.
            member = await session.scalar(
                select(Member).where(Member.platform == sender.platform, Member.user_id == sender.id)
            )
            if member is None or member.consent_at is None:
                return Result(Outcome.NEEDS_CONSENT)
            row = await self._lock_event(session, event.id)
            if row is None:
                return Result(Outcome.EVENT_GONE)
            if (row.ends_at or row.starts_at) <= now:
                return Result(Outcome.EVENT_OVER)
            reg = await session.scalar(
                select(Registration).where(
                    Registration.event_id == row.id, Registration.member_id == member.id
                )
            )
            if reg is not None and reg.status == CONFIRMED:
                return Result(Outcome.ALREADY_CONFIRMED)
            if reg is not None and reg.status == WAITLISTED:
                return Result(Outcome.ALREADY_WAITLISTED, await self._position(session, reg))
            confirmed = await self._count(session, row.id, CONFIRMED)
            status = CONFIRMED if row.capacity is None or confirmed < row.capacity else WAITLISTED
            if reg is None:
                reg = Registration(
                    event_id=row.id,
                    member_id=member.id,
                    status=status,
                    created_at=now,
                    queued_at=now,
                    updated_at=now,
                )
                session.add(reg)
            else:
                reg.status, reg.queued_at, reg.updated_at = status, now, now
            await session.flush()
            if status == CONFIRMED:
                return Result(Outcome.CONFIRMED)
            return Result(Outcome.WAITLISTED, await self._position(session, reg))

    async def cancel(self, sender: Person, event: EventView) -> Result:
        """Cancel; a freed seat goes to the longest-waiting member, who is told through the outbox."""
        now = self.clock.now()
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await self._lock_event(session, event.id)
            member = await session.scalar(
                select(Member).where(Member.platform == sender.platform, Member.user_id == sender.id)
            )
            if row is None or member is None:
                return Result(Outcome.NOT_REGISTERED)
            reg = await session.scalar(
                select(Registration).where(
                    Registration.event_id == row.id,
                    Registration.member_id == member.id,
                    Registration.status.in_(ACTIVE),
                )
            )
            if reg is None:
                return Result(Outcome.NOT_REGISTERED)
            freed_seat = reg.status == CONFIRMED
            reg.status, reg.updated_at = CANCELLED, now
            await session.flush()
            if freed_seat and (row.ends_at or row.starts_at) > now:
                await self._promote(session, row, event, now)
            return Result(Outcome.CANCELLED)

    async def _promote(self, session: AsyncSession, row: Event, event: EventView, now: datetime) -> None:
        if row.capacity is not None and await self._count(session, row.id, CONFIRMED) >= row.capacity:
            return
        nxt = await session.scalar(
            select(Registration)
            .where(Registration.event_id == row.id, Registration.status == WAITLISTED)
            .order_by(Registration.queued_at, Registration.id)
            .limit(1)
        )
        if nxt is None:
            return
        nxt.status, nxt.updated_at = CONFIRMED, now
        promoted = await session.get(Member, nxt.member_id)
        assert promoted is not None
        reply = self.notices.promotion(language_of(promoted, self.language), event)
        chat = ChatRef(promoted.platform, promoted.user_id, is_private=True)
        key = f"promotion:{nxt.id}:{now.isoformat()}"
        # Told after the event started, the news of a seat would only confuse: it expires at the start.
        await self.outbox.enqueue_in(session, key, chat, reply, now=now, expires_at=row.starts_at)
        logger.info("waitlist promotion: event=%s registration=%s", row.slug, nxt.id)

    async def mine(
        self, sender: Person, events: dict[int, EventView], *, upcoming_after: datetime
    ) -> list[MyRegistration]:
        async with self.db.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(Registration)
                        .join(Member, Member.id == Registration.member_id)
                        .where(
                            Member.platform == sender.platform,
                            Member.user_id == sender.id,
                            Registration.status.in_(ACTIVE),
                        )
                    )
                )
                .scalars()
                .all()
            )
            result = []
            for reg in rows:
                view = events.get(reg.event_id)
                if view is None or view.effective_end <= upcoming_after:
                    continue
                position = await self._position(session, reg) if reg.status == WAITLISTED else None
                result.append(MyRegistration(view, reg.status, position))
        return sorted(result, key=lambda r: r.event.starts_at)

    async def counts(self, event_id: int) -> tuple[int, int]:
        """(confirmed, waitlisted) for an event."""
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(Registration.status, func.count(Registration.id))
                .where(Registration.event_id == event_id, Registration.status != CANCELLED)
                .group_by(Registration.status)
            )
            by_status: dict[str, int] = {str(status): count for status, count in rows}
        return by_status.get(CONFIRMED, 0), by_status.get(WAITLISTED, 0)

    async def queue_reminders(
        self, event: EventView, offset: timedelta, build: Callable[[str], Reply], *, now: datetime
    ) -> int:
        """Queue the reminder `offset` before the event for every confirmed member who wants reminders.

        A mark per event date and offset remembers how far registrations were covered, so a run only looks
        at registrations confirmed since (a late registration or a promotion still gets its reminder); a moved
        date is a new mark. Keys stay idempotent: the overlap a run re-reads is never queued twice.
        """
        minutes = int(offset.total_seconds() // 60)
        suffix = "" if minutes == DEFAULT_REMINDER_MINUTES else f":{minutes}m"
        async with self.db.write_lock, self.db.sessions.begin() as session:
            mark = await session.get(ReminderMark, (event.id, event.starts_at, minutes))
            query = (
                select(Member)
                .join(Registration, Member.id == Registration.member_id)
                .where(
                    Registration.event_id == event.id,
                    Registration.status == CONFIRMED,
                    Member.unreachable_at.is_(None),
                    Member.reminders.is_(True),
                )
                .order_by(Registration.id)
            )
            if mark is not None:
                query = query.where(Registration.updated_at > mark.through)
            deliveries = [
                (
                    f"reminder:{event.slug}:{event.starts_at.isoformat()}:{m.id}{suffix}",
                    ChatRef(m.platform, m.user_id),
                    build(language_of(m, self.language)),
                )
                for m in await session.scalars(query)
            ]
            added = 0
            for key, chat, reply in deliveries:
                # A reminder after the event has begun helps nobody: it expires then instead of arriving late.
                added += await self.outbox.enqueue_in(
                    session, key, chat, reply, now=now, expires_at=event.starts_at
                )
            # Registrations committed while this ran may carry a slightly earlier time: re-read a margin.
            through = now - MARK_SLACK
            if mark is None:
                session.add(
                    ReminderMark(
                        event_id=event.id, starts_at=event.starts_at, offset_minutes=minutes, through=through
                    )
                )
            else:
                mark.through = max(mark.through, through)
            return added

    async def attendees_csv(
        self, event: EventView | None, *, tz_format: Callable[[datetime], str]
    ) -> tuple[bytes, int]:
        """CSV of an event's registrations for managers, or of all events (`None`, with an event column),
        and its number of rows; cells cannot start spreadsheet formulas."""
        query = (
            select(Registration, Member, Event.slug)
            .join(Member, Member.id == Registration.member_id)
            .join(Event, Event.id == Registration.event_id)
            .where(Registration.status != CANCELLED)
        )
        if event is not None:
            query = query.where(Registration.event_id == event.id)
        order = (Registration.status, Registration.queued_at, Registration.id)
        async with self.db.sessions() as session:
            rows = (await session.execute(query.order_by(Event.starts_at, Event.slug, *order))).all()
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        header = ["status", "name", "platform", "user_id", "registered_at"]
        writer.writerow(header if event is not None else ["event", *header])
        for reg, member, slug in rows:
            cells = [
                _cell(reg.status),
                _cell(member.display_name),
                _cell(member.platform),
                _cell(member.user_id),
                tz_format(reg.queued_at),
            ]
            writer.writerow(cells if event is not None else [_cell(slug), *cells])
        return ("\ufeff" + out.getvalue()).encode("utf-8"), len(rows)

    async def _lock_event(self, session: AsyncSession, event_id: int) -> Event | None:
        query = select(Event).where(Event.id == event_id)
        if not self.db.is_sqlite:
            # Serialises registrations per event across connections and instances.
            query = query.with_for_update()
        return await session.scalar(query)

    @staticmethod
    async def _count(session: AsyncSession, event_id: int, status: RegistrationStatus) -> int:
        return (
            await session.scalar(
                select(func.count(Registration.id)).where(
                    Registration.event_id == event_id, Registration.status == status
                )
            )
            or 0
        )

    @staticmethod
    async def _position(session: AsyncSession, reg: Registration) -> int:
        ahead = await session.scalar(
            select(func.count(Registration.id)).where(
                Registration.event_id == reg.event_id,
                Registration.status == WAITLISTED,
                (Registration.queued_at < reg.queued_at)
                | ((Registration.queued_at == reg.queued_at) & (Registration.id < reg.id)),
            )
        )
        return (ahead or 0) + 1


# Signs that make a spreadsheet read a cell as a formula (or, "|", as a DDE call); their full-width and
# small forms count too (NFKC folds them onto these).
_FORMULA_SIGNS = frozenset("=+-@|%")


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula sign, or anything a spreadsheet may skip before
    one (spaces, line breaks, control and zero-width characters, a byte-order mark), gets a "'" first."""
    if not value:
        return value
    first = value[0]
    if first.isspace() or unicodedata.category(first) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
        return "'" + value
    if unicodedata.normalize("NFKC", first)[:1] in _FORMULA_SIGNS:
        return "'" + value
    return value
