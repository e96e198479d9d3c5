"""Typed SQLAlchemy models: events, FAQ, impulses, members, registrations, outbox and sent messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite drops the offset, so it is restored on the way back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class Role(StrEnum):
    """What a person may do; each role includes the ones before it."""

    MEMBER = "member"
    MANAGER = "manager"  # content, impulses, overview, exports, targets
    ADMIN = "admin"  # also gives and takes roles

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def covers(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_ROLE_RANK = {Role.MEMBER: 0, Role.MANAGER: 1, Role.ADMIN: 2}


class RoleSource(StrEnum):
    SETTINGS = "settings"  # BOT_ADMINS / BOT_MANAGERS, applied again at every start
    INVITATION = "invitation"  # given through an invitation; stays until revoked


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    EXPIRED = "expired"  # no longer useful (e.g. a reminder after its event): not sent, not an error


E = TypeVar("E", bound=StrEnum)


class StatusType(TypeDecorator[E]):
    """A status stored as its text; read back as the enum member (a CHECK constraint guards the column)."""

    impl = String(12)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def status_check(column: str, enum: type[StrEnum], name: str) -> CheckConstraint:
    """Only the enum's values fit the column (also for writes that bypass the models)."""
    allowed = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


NAMES_PERSON = "names_person"


@dataclass(frozen=True, slots=True)
class PersonMarker:
    """How a column names a person, so export and erasure find every row about them by reading the schema.

    `how`: "member" holds members.id; "user" holds the platform user id (or their private chat's id)
    beside the platform column `platform`; "key" holds "platform:id"; "row" names the person of a row
    another marked column finds (a display name). `erase`: "delete" the row, or "null" the column when
    the row means something without the person (an anonymous registration still counts a seat).
    """

    how: Literal["member", "user", "key", "row"]
    platform: str | None = None
    erase: Literal["delete", "null"] = "delete"


def names_person(
    how: Literal["member", "user", "key", "row"],
    *,
    platform: str | None = None,
    erase: Literal["delete", "null"] = "delete",
) -> dict[str, Any]:
    """Column info marking a column that names a person (see PersonMarker)."""
    return {NAMES_PERSON: PersonMarker(how, platform, erase)}


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


CONTENT_REVISION = "content_revision"
CONTENT_SOURCE = "content_source"  # the folder the content was synced from (resolved path)


class AppState(Base):
    """Small named values shared by all instances, e.g. the content revision that tells caches to reload."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime | None]
    speakers: Mapped[list[str]] = mapped_column(default=list)
    organizer: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(default=list)
    registration_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int | None]
    location: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    featured: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set when the event's file disappeared: hidden from answers, its registrations kept.
    withdrawn_at: Mapped[datetime | None]


class Faq(Base):
    __tablename__ = "faq"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    questions: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(5), default="de")
    answer: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


class Impulse(Base):
    __tablename__ = "impulses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(200))
    post_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]
    # "file" (content/impulses/<slug>.md, synced) or "chat" (made with /impuls neu; a sync never touches it).
    origin: Mapped[str] = mapped_column(String(8), default="file", server_default="file")
    # The manager who wrote it in chat ("platform:id"); erased with them, the impulse stays.
    created_by: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    # Set once, by the instance that queued the post (only where empty): the post goes out once.
    posted_at: Mapped[datetime | None]


class News(Base):
    """Aktuelle Informationen."""

    __tablename__ = "news"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    published_at: Mapped[datetime] = mapped_column(index=True)
    url: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))


class Practice(Base):
    """Best Practices und Handlungsempfehlungen."""

    __tablename__ = "practices"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    published_at: Mapped[datetime] = mapped_column(index=True)
    organization: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    people: Mapped[list[str]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))


class OrganizationKind(StrEnum):
    MUNICIPALITY = "municipality"
    COMPANY = "company"
    PARTNER = "partner"
    ASSOCIATION = "association"
    OTHER = "other"


class Organization(Base):
    """A member organisation that joined the network (the newsletter's "Neue Stadtretter-Unternehmen")."""

    __tablename__ = "organizations"
    __table_args__ = (status_check("kind", OrganizationKind, "ck_organizations_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganizationKind] = mapped_column(StatusType(OrganizationKind))
    joined_at: Mapped[datetime] = mapped_column(index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))


class Edition(Base):
    """One week's subject line and editorial; the slug is the ISO week ("2020-W40")."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(10), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    display_name: Mapped[str] = mapped_column(String(255), default="", info=names_person("row"))
    language: Mapped[str | None] = mapped_column(String(5))
    # When the member chose `language` with /sprache (then nothing else changes it).
    language_chosen_at: Mapped[datetime | None]
    consent_at: Mapped[datetime | None]
    # The version of the privacy notice agreed to then (BOT_PRIVACY_VERSION); None for consent given before
    # versions were recorded.
    consent_version: Mapped[str | None] = mapped_column(String(40))
    unreachable_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When the weekly overview was offered after a first registration (offered once, never pushed unasked).
    overview_offered_at: Mapped[datetime | None]


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "member_id"),
        Index("ix_registrations_event_status", "event_id", "status"),
        status_check("status", RegistrationStatus, "ck_registrations_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # NULL once the member was erased: an anonymous row keeps the event's counts.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, info=names_person("member", erase="null")
    )
    status: Mapped[RegistrationStatus] = mapped_column(StatusType(RegistrationStatus))
    created_at: Mapped[datetime]
    # Waitlist order: the time the member (re)joined; promotion takes the oldest.
    queued_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """One push delivery (reminder, promotion, impulse, digest); the key makes enqueueing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (status_check("status", OutboxStatus, "ck_outbox_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    is_private: Mapped[bool]
    payload: Mapped[dict[str, Any]]
    status: Mapped[OutboxStatus] = mapped_column(StatusType(OutboxStatus), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When the message stops being useful (a reminder at its event's start); None: the outbox horizon.
    expires_at: Mapped[datetime | None]
    # A payload many rows share (one weekly overview for 100,000 chats) is stored once.
    body_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_bodies.id"), index=True)
    # Parts of a multi-part payload already delivered (a retry goes on from there, sends none twice).
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OutboxBody(Base):
    """A payload shared by many outbox rows."""

    __tablename__ = "outbox_bodies"

    id: Mapped[int] = mapped_column(primary_key=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class TargetKind(StrEnum):
    CHANNEL = "channel"  # a Telegram channel
    GROUP = "group"  # a Telegram group
    ROOM = "room"  # a Matrix room
    MEMBER = "member"  # a member's own chat


class TargetStatus(StrEnum):
    PENDING = "pending"  # the bot was added; a manager has not said yes yet
    ACTIVE = "active"
    REMOVED = "removed"  # unsubscribed, turned off, or the bot was removed or blocked


class OverviewTarget(Base):
    """A chat that receives the weekly overview (and, for channels and rooms, impulses)."""

    __tablename__ = "overview_targets"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id"),
        status_check("kind", TargetKind, "ck_overview_targets_kind"),
        status_check("status", TargetStatus, "ck_overview_targets_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    kind: Mapped[TargetKind] = mapped_column(StatusType(TargetKind))
    status: Mapped[TargetStatus] = mapped_column(StatusType(TargetStatus), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(5), default="de")
    overview: Mapped[bool] = mapped_column(Boolean, default=True)
    impulses: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether contributions from the other chats are shown here (/spiegeln); BOT_IMPULSE_MIRROR turns all off.
    mirror: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A member's own chat names the member (their data: export and deletion go with them).
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, info=names_person("member")
    )
    added_by: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OverviewRun(Base):
    """One week's overview, enqueued once (a unique week makes a second instance's attempt a no-op)."""

    __tablename__ = "overview_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10), unique=True)
    scheduled_for: Mapped[datetime]
    enqueued_at: Mapped[datetime]
    targets: Mapped[int] = mapped_column(Integer, default=0)


class ReminderMark(Base):
    """How far the reminders of one event date and offset were queued (registrations up to `through`)."""

    __tablename__ = "reminder_marks"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    offset_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    through: Mapped[datetime]


class SentMessage(Base):
    """What a platform message id was about (for reactions, replies and threads)."""

    __tablename__ = "sent_messages"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    message_id: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class MessageAlias(Base):
    """A platform's own copy of one of our messages (Telegram's automatic forward of a channel post into
    its discussion group): replies to the copy are about what the original is about."""

    __tablename__ = "message_aliases"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id"),
        Index("ix_message_aliases_original", "platform", "original_chat_id", "original_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    message_id: Mapped[str] = mapped_column(String(255))
    original_chat_id: Mapped[str] = mapped_column(String(255))
    original_message_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class ImpulsePost(Base):
    """An impulse queued for one chat (its outbox key finds the posted message)."""

    __tablename__ = "impulse_posts"
    __table_args__ = (UniqueConstraint("impulse_id", "platform", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    impulse_id: Mapped[int] = mapped_column(ForeignKey("impulses.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    outbox_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]


class Contribution(Base):
    """A reply to an impulse post (or to a contribution) on one chat: one conversation across chats.

    Person data: `author_id` and `author_name` name the author (export and erasure go by them); only the
    display name and the text are kept, and only for the retention period.
    """

    __tablename__ = "contributions"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    impulse_id: Mapped[int] = mapped_column(ForeignKey("impulses.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("contributions.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    message_id: Mapped[str] = mapped_column(String(255))
    author_id: Mapped[str] = mapped_column(
        String(255), index=True, info=names_person("user", platform="platform")
    )
    author_name: Mapped[str] = mapped_column(String(255), info=names_person("row"))
    text: Mapped[str] = mapped_column(Text)  # written by a person
    created_at: Mapped[datetime] = mapped_column(index=True)
    edited_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]  # a manager hid it (/verbergen): gone from every copy and summary
    deleted_at: Mapped[datetime | None]  # its author removed it


class ContributionMirror(Base):
    """A contribution's copy in another chat (its outbox key finds the sent message)."""

    __tablename__ = "contribution_mirrors"
    __table_args__ = (UniqueConstraint("contribution_id", "platform", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contribution_id: Mapped[int] = mapped_column(
        ForeignKey("contributions.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    outbox_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]


class CalendarToken(Base):
    """A member's private calendar feed address (`/kalender`): whoever knows the token reads the feed."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True, info=names_person("member")
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class RoleGrant(Base):
    """A person's role above member (people without a row are members)."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("platform", "user_id"),
        status_check("role", Role, "ck_roles_role"),
        status_check("source", RoleSource, "ck_roles_source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(255), info=names_person("user", platform="platform"))
    role: Mapped[Role] = mapped_column(StatusType(Role))
    source: Mapped[RoleSource] = mapped_column(StatusType(RoleSource))
    granted_by: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    granted_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what to roles and people's data, and when: grants, revocations, invitations, exports."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # "platform:id", or a word such as "settings" or "cli"; NULL once that person was erased.
    actor: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    detail: Mapped[str] = mapped_column(String(500), default="")


class Invitation(Base):
    """A one-time invitation to a role: only the token's hash is kept; valid until `expires_at`, once."""

    __tablename__ = "invitations"
    __table_args__ = (status_check("role", Role, "ck_invitations_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(StatusType(Role))
    created_by: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(255), info=names_person("key", erase="null"))
