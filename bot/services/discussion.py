"""The impulse of the week as one conversation: posting it to every target, contributions and their copies.

An impulse is posted once to every channel, group and room that takes impulses (the overview's targets).
A reply to that post, or in its thread, is a contribution: stored once and copied, through the outbox, into
the post's thread on every other chat (for a Telegram channel: under the post's forward in its discussion
group). A reply to a contribution answers that contribution's copy in each chat. Edits and removals follow
into the copies; a copy still waiting in the outbox is rewritten or dropped there. The author's own chat is
never touched.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ChatRef, Person, Reply, about
from bot.db.models import (
    Contribution,
    ContributionMirror,
    Impulse,
    ImpulsePost,
    MessageAlias,
    OutboxMessage,
    OutboxStatus,
    OverviewTarget,
    SentMessage,
    TargetKind,
    TargetStatus,
)
from bot.db.session import Database
from bot.services.outbox import Delivery, Outbox
from bot.services.overview import DiscussionDigest, Overview
from bot.text import teaser

logger = logging.getLogger(__name__)

# An impulse not posted within a week of its time is not posted late any more.
LATE_LIMIT = timedelta(days=7)
MAX_AUTHOR = 255
EXCERPTS = 3
EXCERPT_CHARS = 140


@dataclass(frozen=True, slots=True)
class ImpulseView:
    id: int
    slug: str
    title: str
    author: str
    body: str
    post_at: datetime
    origin: str
    posted_at: datetime | None


def _impulse(row: Impulse) -> ImpulseView:
    return ImpulseView(
        row.id, row.slug, row.title, row.author, row.body, row.post_at, row.origin, row.posted_at
    )


@dataclass(frozen=True, slots=True)
class ContributionView:
    """A contribution as shown in a copy, a summary or an export."""

    id: int
    impulse_slug: str
    platform: str
    chat_id: str
    author: str
    text: str
    at: datetime
    edited: bool = False

    @property
    def first_name(self) -> str:
        return self.author.split()[0] if self.author.split() else self.author


class DiscussionRendering(Protocol):
    """How posts and copies read (the notices module renders them with the templates)."""

    def post(self, impulse: ImpulseView, language: str) -> Reply: ...

    def copy(self, contribution: ContributionView, language: str) -> str: ...

    def removed(self, language: str) -> str: ...


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the same platform message again (a redelivered update)
    NOT_HERE = "not_here"  # a reply to the impulse in a chat it was not posted to (e.g. a private chat)
    UNKNOWN = "unknown"  # the impulse or contribution is gone


@dataclass(frozen=True, slots=True)
class Copy:
    """Where one contribution goes in one target: the chat, the post's thread root, the language."""

    chat: ChatRef
    root: str
    language: str


class DiscussionService:
    """Impulse posts, contributions and their copies, counts, exports and retention."""

    def __init__(self, db: Database, outbox: Outbox, *, mirror: bool = True) -> None:
        self.db = db
        self.outbox = outbox
        self.mirror = mirror

    @property
    def _insert(self) -> Any:
        return sqlite_insert if self.db.is_sqlite else pg_insert

    async def _record_sends(
        self,
        session: AsyncSession,
        table: type[ImpulsePost] | type[ContributionMirror],
        owner: dict[str, int],
        deliveries: list[Delivery],
        *,
        now: datetime,
    ) -> None:
        """One row per queued delivery (post or copy), so its outbox key finds the sent message later."""
        rows = [
            {**owner, "platform": chat.platform, "chat_id": chat.id, "outbox_key": key, "created_at": now}
            for key, chat, _ in deliveries
        ]
        await session.execute(self._insert(table).values(rows).on_conflict_do_nothing())

    # --- posting ---------------------------------------------------------------------------------------

    async def impulse(self, slug: str) -> ImpulseView | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(Impulse).where(Impulse.slug == slug, Impulse.withdrawn_at.is_(None))
            )
            return _impulse(row) if row is not None else None

    async def create_impulse(
        self, *, title: str, author: str, body: str, post_at: datetime, created_by: str, now: datetime
    ) -> ImpulseView:
        """An impulse made in a chat (/impuls neu): kept in the database, never touched by a content sync."""
        base = f"{post_at.date().isoformat()}-{_slug(title)}"[:56].rstrip("-")
        async with self.db.write_lock, self.db.sessions.begin() as session:
            taken = set(
                (await session.scalars(select(Impulse.slug).where(Impulse.slug.startswith(base)))).all()
            )
            slug = next(s for s in (base, *(f"{base}-{n}" for n in range(2, 1000))) if s not in taken)
            row = Impulse(
                slug=slug,
                title=title[:300],
                author=author[:200],
                body=body,
                post_at=post_at,
                content_hash="chat:" + hashlib.sha256(body.encode()).hexdigest()[:58],
                origin="chat",
                created_by=created_by[:255],
            )
            session.add(row)
            await session.flush()
            return _impulse(row)

    async def due(self, *, now: datetime) -> list[ImpulseView]:
        """Impulses whose time has come, not posted yet, and not older than a week."""
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(Impulse)
                .where(
                    Impulse.withdrawn_at.is_(None),
                    Impulse.posted_at.is_(None),
                    Impulse.post_at <= now,
                    Impulse.post_at > now - LATE_LIMIT,
                )
                .order_by(Impulse.post_at)
            )
            return [_impulse(r) for r in rows]

    async def post_due(
        self, rendering: DiscussionRendering, *, now: datetime, platforms: set[str] | None = None
    ) -> list[tuple[str, int]]:
        """Post every due impulse once (an impulse another instance claimed is left to it)."""
        done = []
        for impulse in await self.due(now=now):
            count = await self.post(impulse.slug, rendering, now=now, platforms=platforms, claim=True)
            if count is not None:
                done.append((impulse.slug, count))
        return done

    async def post(
        self,
        slug: str,
        rendering: DiscussionRendering,
        *,
        now: datetime,
        platforms: set[str] | None = None,
        claim: bool = False,
    ) -> int | None:
        """Queue the impulse for every target that takes impulses; returns how many chats were queued.

        With `claim`, the impulse is taken only if nobody posted it yet (None otherwise). Without it (a
        manager's "post now"), chats that had it already are skipped by their outbox key.
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await session.scalar(
                select(Impulse).where(Impulse.slug == slug, Impulse.withdrawn_at.is_(None))
            )
            if row is None:
                return None
            taken = await session.execute(
                update(Impulse).where(Impulse.id == row.id, Impulse.posted_at.is_(None)).values(posted_at=now)
            )
            if claim and not getattr(taken, "rowcount", 0):
                return None
            view = _impulse(row)
            query = select(OverviewTarget).where(
                OverviewTarget.status == TargetStatus.ACTIVE.value,
                OverviewTarget.impulses.is_(True),
                OverviewTarget.kind != TargetKind.MEMBER.value,
            )
            if platforms is not None:
                query = query.where(OverviewTarget.platform.in_(platforms))
            targets = list(await session.scalars(query.order_by(OverviewTarget.id)))
            posts: dict[str, Reply] = {}  # rendered once per language
            deliveries = []
            for target in targets:
                chat = ChatRef(
                    target.platform,
                    target.chat_id,
                    is_private=False,
                    channel=target.kind is TargetKind.CHANNEL,
                )
                if target.language not in posts:
                    posts[target.language] = rendering.post(view, target.language)
                key = f"impulse:{slug}:{target.platform}:{target.chat_id}"
                deliveries.append((key, chat, posts[target.language]))
            count = await self.outbox.enqueue_all_in(session, deliveries, now=now)
            if deliveries:
                await self._record_sends(session, ImpulsePost, {"impulse_id": row.id}, deliveries, now=now)
        logger.info("impulse %s queued for %d chats", slug, count)
        return count

    # --- contributions ---------------------------------------------------------------------------------

    async def contribute(
        self,
        subject: str,
        *,
        chat: ChatRef,
        message_id: str,
        author: Person,
        text: str,
        now: datetime,
        rendering: DiscussionRendering,
    ) -> Outcome:
        """Store a reply to an impulse post ("impulse:<slug>") or to a contribution ("contribution:<id>")
        once, and queue its copies for every other chat that got the post."""
        kind, _, ident = subject.partition(":")
        async with self.db.write_lock, self.db.sessions.begin() as session:
            parent: Contribution | None = None
            if kind == "contribution" and ident.isdigit():
                parent = await session.get(Contribution, int(ident))
                impulse = await session.get(Impulse, parent.impulse_id) if parent is not None else None
            else:
                impulse = await session.scalar(select(Impulse).where(Impulse.slug == ident))
            if impulse is None or impulse.withdrawn_at is not None:
                return Outcome.UNKNOWN
            posts = await self._posts(session, impulse.id)
            if not await self._posted_here(session, chat, posts):
                return Outcome.NOT_HERE
            stored = await session.execute(
                self._insert(Contribution)
                .values(
                    impulse_id=impulse.id,
                    parent_id=parent.id if parent is not None else None,
                    platform=chat.platform,
                    chat_id=chat.id,
                    message_id=message_id,
                    author_id=author.id,
                    author_name=(author.display_name or author.id)[:MAX_AUTHOR],
                    text=text,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["platform", "chat_id", "message_id"])
                .returning(Contribution.id)
            )
            contribution_id = stored.scalar_one_or_none()
            if contribution_id is None:
                return Outcome.DUPLICATE
            # The author's message is about the contribution: their edits and replies to it find it.
            await session.execute(
                self._insert(SentMessage)
                .values(
                    platform=chat.platform,
                    chat_id=chat.id,
                    message_id=message_id,
                    subject=about("contribution", str(contribution_id)),
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["platform", "chat_id", "message_id"])
            )
            if self.mirror:
                view = ContributionView(
                    contribution_id,
                    impulse.slug,
                    chat.platform,
                    chat.id,
                    (author.display_name or author.id)[:MAX_AUTHOR],
                    text,
                    now,
                )
                await self._queue_copies(
                    session, view, posts, parent, source=chat, now=now, rendering=rendering
                )
        return Outcome.STORED

    async def _posts(
        self, session: AsyncSession, impulse_id: int
    ) -> list[tuple[ImpulsePost, OverviewTarget]]:
        rows = await session.execute(
            select(ImpulsePost, OverviewTarget)
            .join(
                OverviewTarget,
                (OverviewTarget.platform == ImpulsePost.platform)
                & (OverviewTarget.chat_id == ImpulsePost.chat_id),
            )
            .where(ImpulsePost.impulse_id == impulse_id)
            .order_by(ImpulsePost.id)
        )
        return [(post, target) for post, target in rows]

    async def _posted_here(
        self, session: AsyncSession, chat: ChatRef, posts: list[tuple[ImpulsePost, OverviewTarget]]
    ) -> bool:
        """Whether the impulse went to this chat, or to a channel this chat is the discussion group of."""
        posted = {(p.platform, p.chat_id) for p, _ in posts}
        if (chat.platform, chat.id) in posted:
            return True
        originals = await session.scalars(
            select(MessageAlias.original_chat_id).where(
                MessageAlias.platform == chat.platform, MessageAlias.chat_id == chat.id
            )
        )
        return any((chat.platform, original) in posted for original in originals)

    async def _copies(
        self, session: AsyncSession, posts: list[tuple[ImpulsePost, OverviewTarget]]
    ) -> list[Copy]:
        """Where copies go: the post's thread in each chat that got it (a channel: its discussion group)."""
        keys = [p.outbox_key for p, t in posts if t.mirror and t.status is TargetStatus.ACTIVE]
        sent = await _sent_ids(session, keys)
        channel_posts = [
            (t.chat_id, sent[p.outbox_key])
            for p, t in posts
            if t.kind is TargetKind.CHANNEL and p.outbox_key in sent
        ]
        forwards: dict[tuple[str, str], tuple[str, str]] = {}
        if channel_posts:
            rows = await session.execute(
                select(
                    MessageAlias.original_chat_id,
                    MessageAlias.original_message_id,
                    MessageAlias.chat_id,
                    MessageAlias.message_id,
                ).where(
                    MessageAlias.original_message_id.in_([m for _, m in channel_posts]),
                    MessageAlias.original_chat_id.in_([c for c, _ in channel_posts]),
                )
            )
            forwards = {(oc, om): (c, m) for oc, om, c, m in rows}
        copies = []
        for post, target in posts:
            root = sent.get(post.outbox_key)
            if root is None:
                continue  # not posted there yet (or sharing is off there)
            chat = ChatRef(target.platform, target.chat_id, is_private=False)
            if target.kind is TargetKind.CHANNEL:
                forward = forwards.get((target.chat_id, root))
                if forward is None:
                    logger.info(
                        "channel %s: no discussion group seen for the post; no copies", target.chat_id
                    )
                    continue
                chat, root = ChatRef(target.platform, forward[0], is_private=False), forward[1]
            copies.append(Copy(chat, root, target.language))
        return copies

    async def _queue_copies(
        self,
        session: AsyncSession,
        view: ContributionView,
        posts: list[tuple[ImpulsePost, OverviewTarget]],
        parent: Contribution | None,
        *,
        source: ChatRef,
        now: datetime,
        rendering: DiscussionRendering,
    ) -> int:
        answered = await self._messages_of(session, parent) if parent is not None else {}
        texts: dict[str, str] = {}  # rendered once per language
        deliveries = []
        for copy in await self._copies(session, posts):
            if copy.chat.key == source.key:
                continue  # never back into the chat it came from
            if copy.language not in texts:
                texts[copy.language] = rendering.copy(view, copy.language)
            key = f"contribution:{view.id}:{copy.chat.platform}:{copy.chat.id}"
            reply = Reply(
                texts[copy.language],
                in_reply_to=answered.get(copy.chat.key, copy.root),
                thread=copy.root,
                subject=about("contribution", str(view.id)),
            )
            deliveries.append((key, copy.chat, reply))
        if not deliveries:
            return 0
        queued = await self.outbox.enqueue_all_in(session, deliveries, now=now)
        await self._record_sends(
            session, ContributionMirror, {"contribution_id": view.id}, deliveries, now=now
        )
        return queued

    async def _messages_of(self, session: AsyncSession, contribution: Contribution) -> dict[str, str]:
        """Chat key -> the message showing this contribution there (the original or a sent copy)."""
        found = {ChatRef(contribution.platform, contribution.chat_id).key: contribution.message_id}
        mirrors = (
            await session.scalars(
                select(ContributionMirror).where(ContributionMirror.contribution_id == contribution.id)
            )
        ).all()
        sent = await _sent_ids(session, [m.outbox_key for m in mirrors])
        for mirror in mirrors:
            if mirror.outbox_key in sent:
                found[ChatRef(mirror.platform, mirror.chat_id).key] = sent[mirror.outbox_key]
        return found

    # --- edits and removals ----------------------------------------------------------------------------

    async def edit(
        self,
        contribution_id: int,
        *,
        chat: ChatRef,
        message_id: str,
        text: str,
        now: datetime,
        rendering: DiscussionRendering,
    ) -> bool:
        """The author changed their contribution: its copies change too. False when nothing changed."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await session.get(Contribution, contribution_id)
            if row is None or not _is_original(row, chat, message_id) or row.text == text:
                return False
            if row.hidden_at is not None or row.deleted_at is not None:
                return False
            row.text, row.edited_at = text, now
            impulse = await session.get(Impulse, row.impulse_id)
            view = _view(row, impulse.slug if impulse else "")
            for mirror, outbox_row, language in await self._mirrors(session, row.id):
                html = rendering.copy(view, language)
                if outbox_row.status is OutboxStatus.PENDING:
                    outbox_row.payload = {**outbox_row.payload, "html": html}
                elif outbox_row.status is OutboxStatus.SENT and outbox_row.platform_message_id:
                    key = f"{mirror.outbox_key}:edit:{now.isoformat()}"
                    target = ChatRef(mirror.platform, mirror.chat_id, is_private=False)
                    reply = Reply(html, replaces=outbox_row.platform_message_id)
                    await self.outbox.enqueue_in(session, key, target, reply, now=now)
        return True

    async def remove(
        self,
        contribution_id: int,
        *,
        now: datetime,
        rendering: DiscussionRendering,
        hidden: bool = False,
        chat: ChatRef | None = None,
        message_id: str | None = None,
    ) -> ContributionView | None:
        """Remove a contribution's copies: the author deleted it, or a manager hid it (`hidden`).

        An author's deletion names the original (`chat`, `message_id`). Returns it, None if unknown.
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await session.get(Contribution, contribution_id)
            if row is None:
                return None
            if not hidden and (chat is None or message_id is None or not _is_original(row, chat, message_id)):
                return None
            if hidden:
                row.hidden_at = row.hidden_at or now
            else:
                row.deleted_at = row.deleted_at or now
            impulse = await session.get(Impulse, row.impulse_id)
            await self._remove_copies(session, row.id, now=now, rendering=rendering)
            return _view(row, impulse.slug if impulse else "")

    async def _remove_copies(
        self, session: AsyncSession, contribution_id: int, *, now: datetime, rendering: DiscussionRendering
    ) -> None:
        for mirror, outbox_row, language in await self._mirrors(session, contribution_id):
            if outbox_row.status is OutboxStatus.PENDING:
                outbox_row.status = OutboxStatus.EXPIRED  # never sent: nothing to take back
            elif outbox_row.platform_message_id:
                key = f"{mirror.outbox_key}:delete"
                target = ChatRef(mirror.platform, mirror.chat_id, is_private=False)
                reply = Reply(rendering.removed(language), deletes=outbox_row.platform_message_id)
                await self.outbox.enqueue_in(session, key, target, reply, now=now)

    async def _mirrors(
        self, session: AsyncSession, contribution_id: int
    ) -> list[tuple[ContributionMirror, OutboxMessage, str]]:
        rows = await session.execute(
            select(ContributionMirror, OutboxMessage)
            .join(OutboxMessage, OutboxMessage.key == ContributionMirror.outbox_key)
            .where(ContributionMirror.contribution_id == contribution_id)
        )
        found = list(rows)
        languages = await _languages(session, [(m.platform, m.chat_id) for m, _ in found])
        return [(m, o, languages.get((m.platform, m.chat_id), "de")) for m, o in found]

    # --- reading ---------------------------------------------------------------------------------------

    async def summary(self, slug: str, *, latest: int) -> tuple[int, list[ContributionView]]:
        """How many visible contributions the impulse has, and the latest few (oldest first)."""
        async with self.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(Contribution)
                    .join(Impulse, Impulse.id == Contribution.impulse_id)
                    .where(Impulse.slug == slug, *_VISIBLE)
                    .order_by(Contribution.created_at, Contribution.id)
                )
            ).all()
            return len(rows), [_view(r, slug) for r in rows[-latest:]] if latest else []

    async def discussion(self, slug: str) -> list[dict[str, Any]] | None:
        """Every visible contribution, oldest first, with where it was copied to (for the CLI)."""
        async with self.db.sessions() as session:
            if await session.scalar(select(Impulse.id).where(Impulse.slug == slug)) is None:
                return None
            rows = (
                await session.scalars(
                    select(Contribution)
                    .join(Impulse, Impulse.id == Contribution.impulse_id)
                    .where(Impulse.slug == slug, *_VISIBLE)
                    .order_by(Contribution.created_at, Contribution.id)
                )
            ).all()
            mirrored: dict[int, list[str]] = {}
            if rows:
                copies = await session.execute(
                    select(
                        ContributionMirror.contribution_id,
                        ContributionMirror.platform,
                        ContributionMirror.chat_id,
                    )
                    .join(OutboxMessage, OutboxMessage.key == ContributionMirror.outbox_key)
                    .where(
                        ContributionMirror.contribution_id.in_([r.id for r in rows]),
                        OutboxMessage.status == OutboxStatus.SENT.value,
                    )
                    .order_by(ContributionMirror.id)
                )
                for cid, platform, chat_id in copies:
                    mirrored.setdefault(cid, []).append(f"{platform}:{chat_id}")
            return [
                {
                    "platform": r.platform,
                    "author": r.author_name,
                    "text": r.text,
                    "at": r.created_at.isoformat(),
                    "mirrored": mirrored.get(r.id, []),
                }
                for r in rows
            ]

    async def between(
        self, start: datetime, end: datetime, *, latest: int
    ) -> tuple[int, list[ContributionView]]:
        """Visible contributions made in (start, end]: how many, and the latest few (for the overview)."""
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    select(Contribution, Impulse.slug)
                    .join(Impulse, Impulse.id == Contribution.impulse_id)
                    .where(Contribution.created_at > start, Contribution.created_at <= end, *_VISIBLE)
                    .order_by(Contribution.created_at.desc(), Contribution.id.desc())
                )
            ).all()
            return len(rows), [_view(r, slug) for r, slug in rows[:latest]]

    async def digest(self, overview: Overview, *, lookback: timedelta) -> Overview:
        """The overview with the discussion of its week: how many contributions, up to three excerpts."""
        end = overview.scheduled_for
        count, latest = await self.between(end - lookback, end, latest=EXCERPTS)
        excerpts = tuple((c.first_name, teaser(c.text, EXCERPT_CHARS)) for c in reversed(latest))
        return replace(overview, discussion=DiscussionDigest(count, excerpts)) if count else overview

    async def set_mirror(self, chat: ChatRef, *, on: bool) -> bool:
        """Show the other chats' contributions in this chat, or not; False if the chat is no target."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            result = await session.execute(
                update(OverviewTarget)
                .where(OverviewTarget.platform == chat.platform, OverviewTarget.chat_id == chat.id)
                .values(mirror=on)
            )
            return bool(getattr(result, "rowcount", 0))

    async def mirror_of(self, chat: ChatRef) -> bool:
        async with self.db.sessions() as session:
            found = await session.scalar(
                select(OverviewTarget.mirror).where(
                    OverviewTarget.platform == chat.platform, OverviewTarget.chat_id == chat.id
                )
            )
            return bool(found)

    # --- a person's data: export, erasure, retention ---------------------------------------------------

    async def export_author(self, platform: str, user_id: str) -> list[dict[str, Any]]:
        """Everything kept about one person's contributions (for a data export)."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Contribution, Impulse.slug)
                .join(Impulse, Impulse.id == Contribution.impulse_id)
                .where(Contribution.platform == platform, Contribution.author_id == user_id)
                .order_by(Contribution.created_at)
            )
            return [
                {
                    "impulse": slug,
                    "chat": f"{r.platform}:{r.chat_id}",
                    "author": r.author_name,
                    "text": r.text,
                    "at": r.created_at.isoformat(),
                    "hidden": r.hidden_at is not None,
                    "deleted": r.deleted_at is not None,
                }
                for r, slug in rows
            ]

    async def forget_author(
        self, platform: str, user_id: str, *, now: datetime, rendering: DiscussionRendering
    ) -> int:
        """Erase one person's contributions and take their copies back; returns how many were erased."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Contribution.id).where(
                            Contribution.platform == platform, Contribution.author_id == user_id
                        )
                    )
                ).all()
            )
            for contribution_id in ids:
                await self._remove_copies(session, contribution_id, now=now, rendering=rendering)
            await _delete(session, ids)
        return len(ids)

    async def purge(self, *, now: datetime, older_than: timedelta) -> int:
        """Delete contributions older than their keeping limit (copies on the platforms stay)."""
        cutoff = now - older_than
        async with self.db.write_lock, self.db.sessions.begin() as session:
            ids = list(
                (await session.scalars(select(Contribution.id).where(Contribution.created_at < cutoff))).all()
            )
            await _delete(session, ids)
        if ids:
            logger.info("%d contributions older than %d days deleted", len(ids), older_than.days)
        return len(ids)


_VISIBLE = (Contribution.hidden_at.is_(None), Contribution.deleted_at.is_(None))


def _slug(title: str) -> str:
    """A file-name-like slug of a title ("Muss die Stadt …?" -> "muss-die-stadt")."""
    folded = unicodedata.normalize("NFKD", title.lower().replace("ß", "ss"))
    ascii_only = folded.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")[:40].rstrip("-") or "impuls"


def _is_original(row: Contribution, chat: ChatRef, message_id: str) -> bool:
    return (row.platform, row.chat_id, row.message_id) == (chat.platform, chat.id, message_id)


def _view(row: Contribution, slug: str) -> ContributionView:
    return ContributionView(
        row.id,
        slug,
        row.platform,
        row.chat_id,
        row.author_name,
        row.text,
        row.created_at,
        edited=row.edited_at is not None,
    )


async def _sent_ids(session: AsyncSession, keys: list[str]) -> dict[str, str]:
    """Outbox key -> the platform message id, for the rows already sent."""
    if not keys:
        return {}
    rows = await session.execute(
        select(OutboxMessage.key, OutboxMessage.platform_message_id).where(
            OutboxMessage.key.in_(keys),
            OutboxMessage.status == OutboxStatus.SENT.value,
            OutboxMessage.platform_message_id.is_not(None),
        )
    )
    return {key: message_id for key, message_id in rows if message_id}


async def _languages(session: AsyncSession, chats: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The language of each chat's target; a Telegram discussion group speaks its channel's language."""
    if not chats:
        return {}
    rows = await session.execute(
        select(OverviewTarget.platform, OverviewTarget.chat_id, OverviewTarget.language).where(
            OverviewTarget.chat_id.in_([c for _, c in chats])
        )
    )
    found = {(p, c): lang for p, c, lang in rows}
    aliases = await session.execute(
        select(MessageAlias.platform, MessageAlias.chat_id, OverviewTarget.language)
        .join(
            OverviewTarget,
            (OverviewTarget.platform == MessageAlias.platform)
            & (OverviewTarget.chat_id == MessageAlias.original_chat_id),
        )
        .where(MessageAlias.chat_id.in_([c for _, c in chats]))
    )
    for platform, chat_id, language in aliases:
        found.setdefault((platform, chat_id), language)
    return found


async def _delete(session: AsyncSession, ids: list[int]) -> None:
    if not ids:
        return
    await session.execute(update(Contribution).where(Contribution.parent_id.in_(ids)).values(parent_id=None))
    await session.execute(delete(ContributionMirror).where(ContributionMirror.contribution_id.in_(ids)))
    await session.execute(
        delete(SentMessage).where(SentMessage.subject.in_([about("contribution", str(i)) for i in ids]))
    )
    await session.execute(delete(Contribution).where(Contribution.id.in_(ids)))
