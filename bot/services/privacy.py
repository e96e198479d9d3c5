"""A person's data: everything stored about them (export) and erasing it (deletion), found from the schema.

Every column that names a person carries a `names_person` marker (bot/db/models.py); export and erasure
read those markers, so a new table is covered the moment its columns are marked (a test fails on a table
with person-like columns that are not). A platform whose private chat with a person has an id of its own
(Matrix: the direct room) tells it through the `PrivateChats` port, so rows keyed by that chat are found too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Column, ColumnElement, Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Person
from bot.config import Settings
from bot.db.models import (
    NAMES_PERSON,
    Base,
    Event,
    Member,
    OutboxBody,
    OutboxMessage,
    OutboxStatus,
    PersonMarker,
    Registration,
    RegistrationStatus,
    RoleGrant,
    SentMessage,
)
from bot.db.session import Database
from bot.services.audit import record_in
from bot.services.catalog import EventView
from bot.services.registration import Outcome, RegistrationService

logger = logging.getLogger(__name__)


# The export's name for what the platforms keep outside the database: the person's private chats.
PRIVATE_CHATS = "private_chats"


class PrivateChats(Protocol):
    """A platform's own record of its private chats with people (Matrix: user id -> direct room id).

    Pushes are addressed to a person's id, but what was said in their private chat may be keyed by the chat's
    id; export and erasure find those rows through this port, and erasure makes the platform forget them.
    """

    async def chats_of(self, person: Person) -> list[str]:
        """The ids of the person's private chats that differ from their own id ([] for other platforms)."""

    async def forget(self, person: Person) -> None:
        """Forget the person's private chats (their erasure)."""

    async def keep_only(self, platform_ids: Callable[[str], Awaitable[set[str]]]) -> int:
        """Forget the private chats of everyone not in `platform_ids(platform)` (the keeping rule for people
        who never agreed); returns how many were forgotten."""


def marked_columns() -> Iterator[tuple[Table, Column[Any], PersonMarker]]:
    """Every column marked as naming a person, dependent tables first (so rows go before what they name)."""
    for table in reversed(Base.metadata.sorted_tables):
        for column in table.columns:
            marker = column.info.get(NAMES_PERSON)
            if isinstance(marker, PersonMarker):
                yield table, column, marker


@dataclass
class PersonData:
    """What is stored about one person: rows per table (JSON-ready), and whether a member row exists."""

    key: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.tables.values())

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items() if rows}


def _condition(
    table: Table,
    column: Column[Any],
    marker: PersonMarker,
    person: Person,
    member_id: int | None,
    chats: Iterable[str] = (),
) -> ColumnElement[bool] | None:
    """Which rows of `table` the marked column says are about `person` (None: no way to tell); `chats` are
    the ids of the person's private chats that differ from their own."""
    if marker.how == "member":
        return None if member_id is None else column == member_id
    if marker.how == "user" and marker.platform is not None:
        return (table.c[marker.platform] == person.platform) & column.in_([person.id, *chats])
    if marker.how == "key":
        return column == f"{person.platform}:{person.id}"
    return None


def _json(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(frozen=True, slots=True)
class KeepingLimits:
    """How long data about people is kept (BOT_KEEP_*_DAYS)."""

    pushes: timedelta = timedelta(days=30)
    sent_messages: timedelta = timedelta(days=90)
    registrations: timedelta = timedelta(days=365)
    contributions: timedelta = timedelta(days=365)

    @classmethod
    def of(cls, settings: Settings) -> KeepingLimits:
        return cls(
            pushes=timedelta(days=settings.keep_pushes_days),
            sent_messages=timedelta(days=settings.keep_sent_messages_days),
            registrations=timedelta(days=settings.keep_registrations_days),
            contributions=timedelta(days=settings.keep_contributions_days),
        )


# Outbox rows that are done: delivered, or given up on. Pending and sending rows are never removed here.
_FINISHED = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.UNREACHABLE, OutboxStatus.EXPIRED)


class PrivacyService:
    def __init__(
        self, db: Database, registrations: RegistrationService, private_chats: Iterable[PrivateChats] = ()
    ) -> None:
        self.db = db
        self.registrations = registrations
        # Each platform's record of its private chats whose ids are not the person's (set by the app).
        self.private_chats = list(private_chats)
        # Run before the rows go, for what other services must undo outside the database (copies of a
        # person's contributions on the platforms); wired in the composition root.
        self.before_erase: list[Callable[[Person, datetime], Awaitable[object]]] = []

    async def _member_id(self, session: AsyncSession, person: Person) -> int | None:
        return await session.scalar(
            select(Member.id).where(Member.platform == person.platform, Member.user_id == person.id)
        )

    async def chats_of(self, person: Person) -> list[str]:
        """The ids of the person's private chats that differ from their own id (Matrix direct rooms)."""
        return [chat for port in self.private_chats for chat in await port.chats_of(person)]

    async def export(self, person: Person) -> PersonData:
        """Every row any marked column finds for the person, and the platforms' record of their chats."""
        data = PersonData(f"{person.platform}:{person.id}")
        chats = await self.chats_of(person)
        if chats:
            data.tables[PRIVATE_CHATS] = [{"platform": person.platform, "chat_id": chat} for chat in chats]
        async with self.db.sessions() as session:
            member_id = await self._member_id(session, person)
            found: dict[str, tuple[Table, list[ColumnElement[bool]]]] = {}
            for table, column, marker in marked_columns():
                where = _condition(table, column, marker, person, member_id, chats)
                if where is not None:
                    found.setdefault(table.name, (table, []))[1].append(where)
            for name, (table, conditions) in found.items():
                rows = (await session.execute(select(table).where(or_(*conditions)))).mappings().all()
                if rows:
                    data.tables[name] = [{k: _json(v) for k, v in row.items()} for row in rows]
        return data

    async def erase(
        self, person: Person, events: dict[int, EventView], *, actor: str | None, now: datetime
    ) -> dict[str, int]:
        """Erase the person everywhere: their upcoming registrations are cancelled first (the waitlist moves
        up and the next person is told), then in one transaction every row naming them is deleted, or made
        anonymous where it still counts. Returns the rows changed per table."""
        cancelled = 0
        for event_id in await self._active_registrations(person):
            view = events.get(event_id)
            if (
                view is not None
                and (await self.registrations.cancel(person, view)).outcome is Outcome.CANCELLED
            ):
                cancelled += 1
        for undo in self.before_erase:
            await undo(person, now)
        chats = await self.chats_of(person)
        changed: dict[str, int] = {}
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member_id = await self._member_id(session, person)
            for table, column, marker in marked_columns():
                where = _condition(table, column, marker, person, member_id, chats)
                if where is None:
                    continue
                if marker.erase == "null":
                    result = await session.execute(update(table).where(where).values({column.name: None}))
                else:
                    result = await session.execute(delete(table).where(where))
                count = getattr(result, "rowcount", 0) or 0
                if count:
                    changed[table.name] = changed.get(table.name, 0) + count
            if chats:  # forgotten by the platforms below, once the rows are gone
                changed[PRIVATE_CHATS] = len(chats)
            # The entry names nobody: the person is gone, and their own request is "self".
            detail = ", ".join(f"{name} {count}" for name, count in sorted(changed.items()))
            if changed or cancelled:
                record_in(session, "erase", actor=actor, now=now, detail=f"cancelled {cancelled}; {detail}")
        # After the rows: were this to fail, the chats are still known and a second erasure finds them.
        for port in self.private_chats:
            await port.forget(person)
        self.registrations.forget_consent(person)
        logger.info("person erased: %d registration(s) cancelled, rows changed %s", cancelled, changed)
        return changed

    async def _active_registrations(self, person: Person) -> list[int]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(Registration.event_id)
                .join(Member, Member.id == Registration.member_id)
                .where(
                    Member.platform == person.platform,
                    Member.user_id == person.id,
                    Registration.status.in_((RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)),
                )
            )
            return list(rows)

    async def enforce_keeping(self, limits: KeepingLimits, *, now: datetime) -> dict[str, int]:
        """Delete finished pushes and sent-message records past their limit; make registrations of events
        that ended longer ago than the limit anonymous (the counts stay). Returns rows changed per kind.
        (Contributions are the discussion service's: `DiscussionService.purge`.)"""
        done: dict[str, int] = {}
        async with self.db.write_lock, self.db.sessions.begin() as session:
            pushes = await session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.status.in_(_FINISHED), OutboxMessage.created_at < now - limits.pushes
                )
            )
            used = select(OutboxMessage.body_id).where(OutboxMessage.body_id.is_not(None))
            bodies = await session.execute(
                delete(OutboxBody).where(
                    OutboxBody.id.not_in(used), OutboxBody.created_at < now - limits.pushes
                )
            )
            records = await session.execute(
                delete(SentMessage).where(SentMessage.created_at < now - limits.sent_messages)
            )
            ended = select(Event.id).where(
                func.coalesce(Event.ends_at, Event.starts_at) < now - limits.registrations
            )
            registrations = await session.execute(
                update(Registration)
                .where(Registration.event_id.in_(ended), Registration.member_id.is_not(None))
                .values(member_id=None)
            )
            for name, result in (
                ("pushes", pushes),
                ("bodies", bodies),
                ("sent_messages", records),
                ("registrations", registrations),
            ):
                count = getattr(result, "rowcount", 0) or 0
                if count:
                    done[name] = count
        strangers = 0
        for port in self.private_chats:
            strangers += await port.keep_only(self._known)
        if strangers:
            done["private_chats"] = strangers
        if done:
            logger.info("keeping limits applied: %s", done)
        return done

    async def _known(self, platform: str) -> set[str]:
        """The people of a platform whose private chat may be kept: who agreed, and who holds a role."""
        async with self.db.sessions() as session:
            agreed = await session.scalars(
                select(Member.user_id).where(Member.platform == platform, Member.consent_at.is_not(None))
            )
            roles = await session.scalars(select(RoleGrant.user_id).where(RoleGrant.platform == platform))
            return {*agreed, *roles}
