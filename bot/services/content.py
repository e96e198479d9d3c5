"""Synchronises content files into the database without ever losing what members did.

An event (or impulse) whose file disappears is withdrawn, not deleted: its registrations stay, its registrants
are told once through the outbox, and it is live again when the file comes back. A moved date tells the
registrants too. The database remembers which folder it was synced from; another folder is refused unless
the switch is asked for. Everything happens in one transaction, or (dry run, bad file) not at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ChatRef, Reply
from bot.config import ConfigError
from bot.db.models import (
    CONTENT_REVISION,
    CONTENT_SOURCE,
    AppState,
    Edition,
    Event,
    Faq,
    Impulse,
    Member,
    News,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Practice,
    Registration,
    RegistrationStatus,
)
from bot.db.session import Database
from bot.services.catalog import EventView
from bot.services.members import language_of
from bot.services.outbox import Outbox
from content.loader import SECTIONS, ContentSet, Parsed, load_content

logger = logging.getLogger(__name__)

MODELS: dict[str, Any] = {
    "events": Event,
    "news": News,
    "practices": Practice,
    "members": Organization,
    "editions": Edition,
    "faq": Faq,
    "impulses": Impulse,
}
# Members' registrations (and later discussions) hang on these: they are withdrawn, never deleted.
WITHDRAWABLE = frozenset({"events", "impulses"})
# Body field of each section's model (the Markdown below the front matter).
BODY_FIELD = {"events": "description", "faq": "answer"}
ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)


class ContentNotices(Protocol):
    """Builds what registrants are told when their event is withdrawn or moved (the notices module)."""

    def withdrawn(self, lang: str, event: EventView) -> Reply: ...

    def moved(self, lang: str, event: EventView, previous_start: datetime) -> Reply: ...


class ContentSourceMismatch(ConfigError):
    """The database holds content from another folder: syncing this one would replace it."""

    def __init__(self, recorded: str | None, wanted: Path) -> None:
        self.recorded, self.wanted = recorded, wanted
        held = f"content from {recorded}" if recorded else "content from another folder"
        super().__init__(
            f"BOT_CONTENT_DIR: the database holds {held}, not from {wanted}; to switch on purpose, "
            f"run: stadtretter content sync {wanted} --switch"
        )


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # deleted, or withdrawn where members hang on it
    restored: list[str] = field(default_factory=list)  # a withdrawn item whose file came back
    # A file whose slug an impulse made in a chat (/impuls neu) holds: left out, the chat's impulse stays.
    refused: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.restored)


@dataclass(frozen=True, slots=True)
class EventChange:
    """An event that was withdrawn or moved, with how many members it concerns."""

    slug: str
    title: str
    registrations: int
    previous_start: datetime | None = None
    new_start: datetime | None = None


@dataclass
class SyncResult:
    source: str
    previous_source: str | None
    applied: bool
    sections: dict[str, SyncReport] = field(default_factory=dict)
    withdrawn: list[EventChange] = field(default_factory=list)
    moved: list[EventChange] = field(default_factory=list)
    notices: int = 0

    def __getitem__(self, section: str) -> SyncReport:
        return self.sections[section]

    @property
    def touched(self) -> bool:
        return any(r.touched for r in self.sections.values())

    @property
    def removals(self) -> int:
        return sum(len(r.removed) for r in self.sections.values())

    @property
    def switching(self) -> bool:
        return self.previous_source is not None and self.previous_source != self.source

    def risky(self, *, few: int = 3) -> bool:
        """Whether a person should confirm: registrations affected, or more than a few items gone."""
        return Removals(self.removals, sum(1 for e in self.withdrawn if e.registrations)).risky(few=few)


def source_of(directory: Path) -> str:
    return str(directory.resolve())


async def recorded_source(db: Database) -> str | None:
    async with db.sessions() as session:
        return await session.scalar(select(AppState.value).where(AppState.key == CONTENT_SOURCE))


async def sync_content(
    db: Database,
    directory: Path,
    *,
    now: datetime,
    notices: ContentNotices,
    apply: bool = True,
    switch: bool = False,
    content: ContentSet | None = None,
) -> SyncResult:
    """Make the database match `directory` (or only plan it: `apply=False`); raise ContentError on bad files.

    Raises ContentSourceMismatch when the database was synced from another folder and `switch` is not set.
    """
    source = source_of(directory)
    if content is None:
        content = await prepare_content(db, directory)
    async with db.write_lock, db.sessions() as session:
        transaction = await session.begin()
        try:
            previous = await session.scalar(select(AppState.value).where(AppState.key == CONTENT_SOURCE))
            await _check_source(session, previous, directory, content, switch=switch)
            result = SyncResult(source=source, previous_source=previous, applied=apply)
            sync = _Sync(session, Outbox(db), notices, now, result)
            for section in SECTIONS:
                await sync.section(section, content)
            await session.merge(AppState(key=CONTENT_SOURCE, value=source[:255]))
            if result.touched:
                await session.merge(AppState(key=CONTENT_REVISION, value=uuid.uuid4().hex))
        except BaseException:
            await transaction.rollback()
            raise
        if apply:
            await transaction.commit()
        else:
            await transaction.rollback()
    if apply:
        logger.info(
            "content synced from %s: %s",
            source,
            {k: (len(r.added), len(r.changed), len(r.removed)) for k, r in result.sections.items()},
        )
    return result


async def prepare_content(db: Database, directory: Path) -> ContentSet:
    """Read the folder, parsing only files whose bytes differ from what the database holds."""
    return load_content(directory, known=await _known_hashes(db))


@dataclass(frozen=True, slots=True)
class Removals:
    """What a sync would take away, worked out without writing anything."""

    items: int
    events_with_registrations: int

    def risky(self, *, few: int = 3) -> bool:
        return self.events_with_registrations > 0 or self.items > few


async def removals(db: Database, content: ContentSet) -> Removals:
    """Count the live items missing from `content`, and the withdrawn events that members registered for."""
    gone = 0
    registered = 0
    async with db.sessions() as session:
        for section, model in MODELS.items():
            query = select(model.slug)
            if section in WITHDRAWABLE:
                query = query.where(model.withdrawn_at.is_(None))
            if model is Impulse:
                query = query.where(Impulse.origin == "file")
            missing = set((await session.scalars(query)).all()) - content.slugs(section)
            gone += len(missing)
            if section == "events" and missing:
                registered = (
                    await session.scalar(
                        select(func.count(func.distinct(Registration.event_id)))
                        .join(Event, Event.id == Registration.event_id)
                        .where(Event.slug.in_(missing), Registration.status.in_(ACTIVE))
                    )
                    or 0
                )
    return Removals(gone, registered)


async def _known_hashes(db: Database) -> dict[str, dict[str, str]]:
    """Section -> slug -> content hash of the live rows (files with these bytes need no parsing)."""
    known: dict[str, dict[str, str]] = {}
    async with db.sessions() as session:
        for section, model in MODELS.items():
            query = select(model.slug, model.content_hash)
            if section in WITHDRAWABLE:
                query = query.where(model.withdrawn_at.is_(None))
            known[section] = {slug: digest for slug, digest in (await session.execute(query)).all()}
    return known


async def _check_source(
    session: AsyncSession, previous: str | None, directory: Path, content: ContentSet, *, switch: bool
) -> None:
    if switch:
        return
    if previous is not None:
        if previous != source_of(directory):
            raise ContentSourceMismatch(previous, directory)
        return
    # A database from before the source was recorded: accept the folder only if it takes nothing away.
    live = set((await session.scalars(select(Event.slug).where(Event.withdrawn_at.is_(None)))).all())
    if live - content.slugs("events"):
        raise ContentSourceMismatch(None, directory)


class _Sync:
    """One sync's work inside its transaction."""

    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        notices: ContentNotices,
        now: datetime,
        result: SyncResult,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.notices = notices
        self.now = now
        self.result = result

    async def section(self, section: str, content: ContentSet) -> None:
        model = MODELS[section]
        report = SyncReport()
        existing = {row.slug: row for row in (await self.session.scalars(select(model))).all()}
        wanted = {item.slug: item for item in content.sections[section]}
        if section == "impulses":
            # Impulses made in a chat live only in the database: a sync never touches them.
            made_in_chat = {slug for slug, row in existing.items() if row.origin == "chat"}
            report.refused = sorted(made_in_chat & set(wanted))
            for slug in report.refused:
                logger.error(
                    "content not synced: impulses/%s.md: an impulse made in a chat has this slug", slug
                )
            existing = {slug: row for slug, row in existing.items() if slug not in made_in_chat}
            wanted = {slug: item for slug, item in wanted.items() if slug not in made_in_chat}
        for slug in sorted(content.unchanged[section]):
            row = existing.get(slug)
            if row is not None and getattr(row, "withdrawn_at", None) is None:
                report.unchanged += 1
        new_rows: list[dict[str, Any]] = []
        for slug, item in wanted.items():
            row = existing.get(slug)
            if row is None:
                new_rows.append({"slug": slug, **_values(section, item)})
                report.added.append(slug)
            else:
                await self._update(section, row, item, report)
        if new_rows:
            # One multi-row INSERT: thousands of new files load in a fraction of a second.
            await self.session.execute(insert(model), new_rows)
        keep = content.slugs(section)
        gone = sorted(slug for slug, row in existing.items() if slug not in keep and _live(row))
        if gone and section in WITHDRAWABLE:
            for slug in gone:
                await self._withdraw(section, existing[slug])
        elif gone:
            await self.session.execute(delete(model).where(model.slug.in_(gone)))
        report.removed.extend(gone)
        self.result.sections[section] = report

    async def _update(self, section: str, row: Any, item: Parsed, report: SyncReport) -> None:
        values = _values(section, item)
        if not _live(row):
            row.withdrawn_at = None
            report.restored.append(item.slug)
        elif row.content_hash == item.content_hash:
            report.unchanged += 1
            return
        else:
            report.changed.append(item.slug)
        previous_start = row.starts_at if section == "events" else None
        for key, value in values.items():
            setattr(row, key, value)
        if previous_start is not None and row.starts_at != previous_start:
            await self.session.flush()
            await self._moved(row, previous_start)

    async def _withdraw(self, section: str, row: Any) -> None:
        row.withdrawn_at = self.now
        if section != "events":
            return
        await self.session.flush()
        view = EventView.of(row)
        stamp = self.now.isoformat()
        told = await self._tell(
            row, lambda lang: self.notices.withdrawn(lang, view), f"withdrawn:{row.id}:{stamp}"
        )
        self.result.withdrawn.append(EventChange(row.slug, row.title, told))
        await self._expire(f"reminder:{row.slug}:")

    async def _moved(self, row: Event, previous_start: datetime) -> None:
        view = EventView.of(row)
        key = f"moved:{row.id}:{row.starts_at.isoformat()}"
        told = await self._tell(row, lambda lang: self.notices.moved(lang, view, previous_start), key)
        self.result.moved.append(EventChange(row.slug, row.title, told, previous_start, row.starts_at))
        await self._expire(f"reminder:{row.slug}:{previous_start.isoformat()}:")

    async def _tell(self, row: Event, build: Any, key: str) -> int:
        """Queue one notice per member with an active registration; returns how many registrations."""
        members: Sequence[Member] = (
            await self.session.scalars(
                select(Member)
                .join(Registration, Registration.member_id == Member.id)
                .where(Registration.event_id == row.id, Registration.status.in_(ACTIVE))
                .order_by(Registration.id)
            )
        ).all()
        for member in members:
            if member.unreachable_at is not None:
                continue
            chat = ChatRef(member.platform, member.user_id)
            reply = build(language_of(member, "de"))
            await self.outbox.enqueue_in(self.session, f"{key}:{member.id}", chat, reply, now=self.now)
            self.result.notices += 1
        return len(members)

    async def _expire(self, key_prefix: str) -> None:
        """Reminders still waiting for an event that was withdrawn or moved are no longer useful."""
        await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.key.startswith(key_prefix, autoescape=True),
            )
            .values(status=OutboxStatus.EXPIRED, last_error="event withdrawn or moved")
        )


def _values(section: str, item: Parsed) -> dict[str, Any]:
    return {**item.meta, BODY_FIELD.get(section, "body"): item.body, "content_hash": item.content_hash}


def _live(row: Any) -> bool:
    return getattr(row, "withdrawn_at", None) is None
