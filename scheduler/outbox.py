"""Drains the durable outbox through the platform senders, with retries and without double sends."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.chat import ChatRef
from bot.context import AppContext
from bot.db.models import OutboxMessage, OutboxStatus
from bot.delivery import TemporaryFailure, Unreachable
from bot.services.outbox import Delivered, payload_to_replies

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 500
FLUSH_SECONDS = 0.05


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(600, 2**attempt))


class OutboxWorker:
    """Claims due messages in batches and sends them concurrently; transports pace themselves."""

    def __init__(self, ctx: AppContext, *, concurrency: int = 256, idle_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delivered: list[Delivered] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                sent = await self.drain_once()
            except Exception:
                logger.exception("outbox drain failed")
                sent = 0
            if sent == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)
                except TimeoutError:
                    pass

    async def drain_once(self) -> int:
        """Send what is due now (several batches); return how many messages were handled."""
        handled = 0
        semaphore = asyncio.Semaphore(self.concurrency)
        stop_flushing = asyncio.Event()
        flusher = asyncio.create_task(self._flush_periodically(stop_flushing), name="outbox-flush")
        try:
            while True:
                platforms = set(self.ctx.transports)
                if not platforms:
                    return handled
                batch = await self.ctx.outbox.claim(
                    now=self.ctx.clock.now(), limit=BATCH, platforms=platforms
                )
                if not batch:
                    return handled

                async def deliver(rows: list[OutboxMessage]) -> None:
                    async with semaphore:
                        for row in rows:  # one chat's messages in the order they were queued
                            await self._deliver(row)

                await asyncio.gather(*(deliver(rows) for rows in _by_chat(batch)))
                handled += len(batch)
        finally:
            # Let the flusher finish its write rather than cancel it mid-transaction, then write the rest.
            stop_flushing.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()

    async def _flush_periodically(self, stop: asyncio.Event) -> None:
        # One transaction per message would cap a broadcast below Telegram's rate; a short interval keeps
        # the window in which a crash could repeat a message (sent, not yet marked) to a few rows.
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=FLUSH_SECONDS)
            except TimeoutError:
                pass
            await self._flush()

    async def _flush(self) -> None:
        delivered, self._delivered = self._delivered, []
        if not delivered:
            return
        try:
            await self.ctx.outbox.mark_sent(delivered, now=self.ctx.clock.now())
        except Exception:
            # Keep them: marked with the next flush, rather than sent again when their lease runs out.
            logger.exception(
                "outbox: could not mark %d delivered messages as sent; trying again", len(delivered)
            )
            self._delivered[:0] = delivered

    async def _deliver(self, row: OutboxMessage) -> None:
        transport = self.ctx.transports[row.platform]
        chat = ChatRef(row.platform, row.chat_id, is_private=row.is_private)
        parts = payload_to_replies(row.payload)
        kept: tuple[str | None, str | None] = (None, None)  # the message id (and subject) to remember
        for index in range(row.progress, len(parts)):
            try:
                message_id = await transport.send(chat, parts[index])
            except Unreachable as exc:
                logger.info("outbox %s: recipient unreachable (%s)", row.key, exc)
                await self.ctx.outbox.mark_failed(
                    row.id, error=str(exc), retry_at=None, status=OutboxStatus.UNREACHABLE, progress=index
                )
                await self.ctx.unreachable(chat)
                return
            except TemporaryFailure as exc:
                await self._retry(row, str(exc), exc.retry_after, progress=index)
                return
            except Exception as exc:
                logger.warning("outbox %s: send failed: %s", row.key, type(exc).__name__)
                await self._retry(row, type(exc).__name__, None, progress=index)
                return
            if kept[0] is None or (parts[index].subject and kept[1] is None):
                kept = (message_id, parts[index].subject)
        self._delivered.append((row, *kept))

    async def _retry(
        self, row: OutboxMessage, error: str, retry_after: float | None, *, progress: int
    ) -> None:
        if row.attempts >= MAX_ATTEMPTS:
            logger.error("outbox %s: giving up after %d attempts: %s", row.key, row.attempts, error)
            await self.ctx.outbox.mark_failed(row.id, error=error, retry_at=None, progress=progress)
            return
        delay = timedelta(seconds=retry_after) if retry_after is not None else backoff(row.attempts)
        await self.ctx.outbox.mark_failed(
            row.id, error=error, retry_at=self.ctx.clock.now() + delay, progress=progress
        )


def _by_chat(batch: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """The batch grouped by chat, each group in queue order (a chat's messages must not overtake)."""
    groups: dict[tuple[str, str], list[OutboxMessage]] = {}
    for row in batch:
        groups.setdefault((row.platform, row.chat_id), []).append(row)
    return list(groups.values())
