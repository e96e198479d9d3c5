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
            await self.ctx.messages.record_many(batch)
        except Exception:
            logger.exception("could not record what %d sent messages were about", len(batch))
