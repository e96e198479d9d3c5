"""Remembers what sent Telegram messages are about, in batches, without holding up the answers."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.chat import ChatRef

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)


class SubjectLog:
    """Records what sent messages are about in the background, many rows per transaction.

    Under load one insert per reply would queue every update behind the database's write lock.
    """

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._queue: asyncio.Queue[tuple[ChatRef, str, str]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-subjects")

    def add(self, chat: ChatRef, message_id: str, subject: str) -> None:
        self._queue.put_nowait((chat, message_id, subject))
        self._wake.set()

    async def stop(self) -> None:
        """Write what is still queued, then end the background task."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._write(self._drain())

    def _drain(self) -> list[tuple[ChatRef, str, str]]:
        batch: list[tuple[ChatRef, str, str]] = []
        while len(batch) < 500 and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        while not self._stopping:
            if self._queue.empty():
                self._wake.clear()
                await self._wake.wait()
            await self._write(self._drain())

    async def _write(self, batch: list[tuple[ChatRef, str, str]]) -> None:
        if not batch:
            return
        try:
            record_many = getattr(self.ctx.messages, "record_many", None)
            if record_many is not None:
                await record_many(batch)
            else:
                await _insert_subjects(self.ctx, batch)
        except Exception:
            logger.exception("could not record what %d sent messages were about", len(batch))


async def _insert_subjects(ctx: AppContext, batch: list[tuple[ChatRef, str, str]]) -> None:
    """One INSERT for many rows; the same rows `SentMessages.record` writes one at a time."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from bot.db.models import SentMessage

    db, now = ctx.db, ctx.clock.now()
    insert = sqlite_insert if db.is_sqlite else pg_insert
    rows = [{"platform": chat.platform, "chat_id": chat.id, "message_id": message_id,
             "subject": subject[:128], "created_at": now} for chat, message_id, subject in batch]
    async with db.write_lock, db.sessions.begin() as session:
        await session.execute(insert(SentMessage).values(rows).on_conflict_do_nothing(
            index_elements=["platform", "chat_id", "message_id"]))
