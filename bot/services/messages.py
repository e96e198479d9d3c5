"""Remembers what sent platform messages were about, for reactions, replies and threads.

An alias is a platform's own copy of one of our messages (Telegram forwards a channel post into the
channel's discussion group by itself): a reply to the copy is about what the original is about. The alias
is resolved when looked up, so the copy may be reported before the original's subject is recorded.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.chat import ChatRef, MessageRef
from bot.clock import Clock
from bot.db.models import MessageAlias, SentMessage
from bot.db.session import Database

logger = logging.getLogger(__name__)

Row = tuple[ChatRef, str, str]
Alias = tuple[MessageRef, MessageRef]  # original, copy
BATCH = 500


class SentMessages:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # Rows the SubjectRecorder has queued or is writing: (platform, chat id, message id) -> subject.
        self.pending: dict[tuple[str, str, str], str] = {}

    async def record_many(self, rows: list[tuple[ChatRef, str, str]]) -> None:
        """Record many (chat, message id, subject) rows in one statement."""
        if not rows:
            return
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        now = self.clock.now()
        values = [
            {
                "platform": chat.platform,
                "chat_id": chat.id,
                "message_id": message_id,
                "subject": subject[:128],
                "created_at": now,
            }
            for chat, message_id, subject in rows
        ]
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                insert(SentMessage).on_conflict_do_nothing(
                    index_elements=["platform", "chat_id", "message_id"]
                ),
                values,
            )

    async def record_aliases(self, aliases: list[Alias]) -> None:
        """Record platform copies of our messages (original, copy); a copy already known is kept."""
        if not aliases:
            return
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        now = self.clock.now()
        values = [
            {
                "platform": copy.chat.platform,
                "chat_id": copy.chat.id,
                "message_id": copy.message_id,
                "original_chat_id": original.chat.id,
                "original_message_id": original.message_id,
                "created_at": now,
            }
            for original, copy in aliases
        ]
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                insert(MessageAlias).on_conflict_do_nothing(
                    index_elements=["platform", "chat_id", "message_id"]
                ),
                values,
            )

    async def subject_of(self, chat: ChatRef, message_id: str) -> str | None:
        """What the message is about; for a platform's copy, what its original is about."""
        # A reply can come before the recorder wrote what the message was about: ask its queue first.
        queued = self.pending.get((chat.platform, chat.id, message_id))
        if queued is not None:
            return queued
        async with self.db.sessions() as session:
            found = await session.scalar(
                select(SentMessage.subject).where(
                    SentMessage.platform == chat.platform,
                    SentMessage.chat_id == chat.id,
                    SentMessage.message_id == message_id,
                )
            )
            if found is not None:
                return found
            return await session.scalar(
                select(SentMessage.subject)
                .join(
                    MessageAlias,
                    (MessageAlias.platform == SentMessage.platform)
                    & (MessageAlias.original_chat_id == SentMessage.chat_id)
                    & (MessageAlias.original_message_id == SentMessage.message_id),
                )
                .where(
                    MessageAlias.platform == chat.platform,
                    MessageAlias.chat_id == chat.id,
                    MessageAlias.message_id == message_id,
                )
            )

    async def copies_of(self, chat: ChatRef, message_id: str) -> list[MessageRef]:
        """The platform's copies of one of our messages (a channel post's forward in its discussion group)."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(MessageAlias.chat_id, MessageAlias.message_id).where(
                    MessageAlias.platform == chat.platform,
                    MessageAlias.original_chat_id == chat.id,
                    MessageAlias.original_message_id == message_id,
                )
            )
            return [
                MessageRef(ChatRef(chat.platform, copy_chat, is_private=False), copy_id)
                for copy_chat, copy_id in rows
            ]


class SubjectRecorder:
    """Records (chat, message id, subject) in the background, many rows per transaction.

    Adapters use it on the path of every answer: under load one insert per reply would queue every
    update behind the database's write lock. It starts with the first row; `stop()` writes what is left.
    """

    def __init__(self, messages: SentMessages, *, name: str = "subjects") -> None:
        self.messages = messages
        self.name = name
        self._queue: asyncio.Queue[Row] = asyncio.Queue()
        self._aliases: list[Alias] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def add(self, chat: ChatRef, message_id: str, subject: str) -> None:
        self.messages.pending[(chat.platform, chat.id, message_id)] = subject
        self._queue.put_nowait((chat, message_id, subject))
        self._start()

    def alias(self, original: MessageRef, copy: MessageRef) -> None:
        """The platform copied our message `original` as `copy`: replies to it are about the same."""
        self._aliases.append((original, copy))
        self._start()

    def _start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.name)
        self._wake.set()

    async def stop(self) -> None:
        """Write everything still queued, then end the background task."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while not self._queue.empty() or self._aliases:
            await self._write(self._drain())

    def _drain(self) -> list[Row]:
        batch: list[Row] = []
        while len(batch) < BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        while not self._stopping:
            if self._queue.empty() and not self._aliases:
                self._wake.clear()
                await self._wake.wait()
            await self._write(self._drain())

    async def _write(self, batch: list[Row]) -> None:
        aliases, self._aliases = self._aliases, []
        try:
            await self.messages.record_many(batch)
        except Exception:
            logger.exception("could not record what %d sent messages were about", len(batch))
        finally:
            for chat, message_id, _ in batch:
                self.messages.pending.pop((chat.platform, chat.id, message_id), None)
        try:
            await self.messages.record_aliases(aliases)
        except Exception:
            logger.exception("could not record %d message copies", len(aliases))
