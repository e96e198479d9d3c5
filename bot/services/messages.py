"""Remembers what sent platform messages were about, for reactions, replies and threads."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.chat import ChatRef
from bot.clock import Clock
from bot.db.models import SentMessage
from bot.db.session import Database

logger = logging.getLogger(__name__)

Row = tuple[ChatRef, str, str]
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

    async def subject_of(self, chat: ChatRef, message_id: str) -> str | None:
        # A reply can come before the recorder wrote what the message was about: ask its queue first.
        queued = self.pending.get((chat.platform, chat.id, message_id))
        if queued is not None:
            return queued
        async with self.db.sessions() as session:
            return await session.scalar(
                select(SentMessage.subject).where(
                    SentMessage.platform == chat.platform,
                    SentMessage.chat_id == chat.id,
                    SentMessage.message_id == message_id,
                )
            )


class SubjectRecorder:
    """Records (chat, message id, subject) in the background, many rows per transaction.

    Adapters use it on the path of every answer: under load one insert per reply would queue every
    update behind the database's write lock. It starts with the first row; `stop()` writes what is left.
    """

    def __init__(self, messages: SentMessages, *, name: str = "subjects") -> None:
        self.messages = messages
        self.name = name
        self._queue: asyncio.Queue[Row] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def add(self, chat: ChatRef, message_id: str, subject: str) -> None:
        self.messages.pending[(chat.platform, chat.id, message_id)] = subject
        self._queue.put_nowait((chat, message_id, subject))
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
        while not self._queue.empty():
            await self._write(self._drain())

    def _drain(self) -> list[Row]:
        batch: list[Row] = []
        while len(batch) < BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        while not self._stopping:
            if self._queue.empty():
                self._wake.clear()
                await self._wake.wait()
            await self._write(self._drain())

    async def _write(self, batch: list[Row]) -> None:
        if not batch:
            return
        try:
            await self.messages.record_many(batch)
        except Exception:
            logger.exception("could not record what %d sent messages were about", len(batch))
        finally:
            for chat, message_id, _ in batch:
                self.messages.pending.pop((chat.platform, chat.id, message_id), None)
