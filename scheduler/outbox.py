"""Drains the durable outbox through the platform senders: retries through long outages, never a double send.

A message is tried until it is sent, its recipient is gone, the platform rejects it for good, or it is no
longer useful (its own expiry, such as a reminder's event start, or the outbox horizon): then it is marked
expired, not failed. Retries back off exponentially, capped and with jitter, so a long outage neither
gives messages up early nor makes every instance retry in the same second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from datetime import datetime, timedelta

from bot.chat import ChatRef, Reply
from bot.context import AppContext
from bot.db.models import OutboxStatus
from bot.delivery import Rejected, TemporaryFailure, Unreachable
from bot.metrics import OUTBOX_RESULTS
from bot.services.outbox import LEASE, Claimed, Delivered, payload_to_replies

logger = logging.getLogger(__name__)

BATCH = 500
FLUSH_SECONDS = 0.05
BACKOFF_CAP = timedelta(seconds=120)
RENEW_EVERY = LEASE / 3


class Results(Counter[str]):
    """The worker's counts, also exported as `stadtretter_outbox_results_total`."""

    def __setitem__(self, result: str, value: int) -> None:
        grown = value - self.get(result, 0)
        if grown > 0:
            OUTBOX_RESULTS.labels(result).inc(grown)
        super().__setitem__(result, value)


def backoff(attempt: int, *, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """The wait before attempt `attempt + 1`: 2, 4, 8 … seconds up to `cap`, each between half and all of it.

    The jitter spreads the retries of many messages (and of several instances) after an outage.
    """
    ceiling = min(cap.total_seconds(), 2.0 ** min(attempt, 30))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))


class OutboxWorker:
    """Claims due messages in batches and sends them concurrently; transports pace themselves.

    `counts` tells what became of the messages handled so far (sent, retried, expired, failed,
    unreachable), for logs and benchmarks.
    """

    def __init__(self, ctx: AppContext, *, concurrency: int = 256, idle_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.idle_seconds = idle_seconds
        self.counts: Counter[str] = Results()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delivered: list[Delivered] = []
        self._sent_event = asyncio.Event()
        self._in_flight: dict[int, Claimed] = {}
        self._marks = ctx.outbox.marks()
        self._stopping = False

    @property
    def horizon(self) -> timedelta:
        return self.ctx.settings.outbox_horizon

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, *, grace: float = 0.0) -> None:
        """Stop; with `grace`, sends already started finish (within `grace` s), the rest is given back."""
        if self._task is None:
            return
        if grace > 0:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
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
        await self._expire()
        handled = 0
        semaphore = asyncio.Semaphore(self.concurrency)
        stop = asyncio.Event()
        helpers = [
            asyncio.create_task(self._flush_periodically(stop), name="outbox-flush"),
            asyncio.create_task(self._renew_periodically(stop), name="outbox-renew"),
        ]
        platforms = set(self.ctx.transports)
        self._marks = self.ctx.outbox.marks()
        held: dict[tuple[str, str], datetime] = {}  # chats whose messages wait for an earlier one

        async def deliver(rows: list[Claimed]) -> None:
            async with semaphore:
                for position, row in enumerate(rows):  # one chat's messages in queue order
                    if self._stopping:  # shutting down: not started, so given back at once
                        await self._hold_back(rows[position:], self.ctx.clock.now())
                        return
                    chat = (row.platform, row.chat_id)
                    retry_at = held.get(chat)
                    if retry_at is not None and retry_at <= self.ctx.clock.now():
                        retry_at = None  # its wait is over: this chat goes on
                    if retry_at is None:
                        # Cancelled (stopping) or failed, it stays in flight: given back at the end.
                        retry_at = await self._deliver(row)
                        self._in_flight.pop(row.id, None)
                        if retry_at is None:
                            continue
                        held[chat] = retry_at
                        position += 1
                    await self._hold_back(rows[position:], retry_at)  # so nothing overtakes it
                    return

        # On PostgreSQL the next batch is claimed while this one is sent: no pause between batches at full
        # rate. SQLite has one writer: a claim there would hold back the writes that mark messages sent,
        # and a crash would repeat more of them.
        ahead = not self.ctx.db.is_sqlite
        upcoming = asyncio.create_task(self._claim(platforms)) if platforms else None
        try:
            while upcoming is not None and not self._stopping:
                batch = await upcoming
                if not batch:
                    upcoming = None
                    break
                upcoming = asyncio.create_task(self._claim(platforms)) if ahead else None
                await asyncio.gather(*(deliver(rows) for rows in _by_chat(batch)))
                handled += len(batch)
                if upcoming is None:
                    upcoming = asyncio.create_task(self._claim(platforms))
            return handled
        finally:
            if upcoming is not None:  # stopped while the next batch was claimed: give it back unsent
                unsent = await asyncio.gather(upcoming, return_exceptions=True)
                if isinstance(unsent[0], list) and unsent[0]:
                    await self._hold_back(unsent[0], self.ctx.clock.now())
            # Let the helpers finish their writes rather than cancel them mid-transaction; write the rest.
            stop.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._flush()
            await self._marks.close()
            await self._give_back()

    async def _give_back(self) -> None:
        """Claims whose send never finished (a stop cancelled it, or it failed): due again at once, rather
        than after the lease. A send cancelled in the middle may have reached the platform: at most those
        could arrive twice, as after a crash."""
        unfinished = [
            row_id for row_id in self._in_flight if row_id not in {r.id for r, *_ in self._delivered}
        ]
        self._in_flight.clear()
        if unfinished:
            try:
                await self.ctx.outbox.release(unfinished, retry_at=self.ctx.clock.now(), tried=True)
            except Exception:
                logger.exception("outbox: could not give back %d claimed messages", len(unfinished))

    async def _claim(self, platforms: set[str]) -> list[Claimed]:
        batch = await self.ctx.outbox.claim(now=self.ctx.clock.now(), limit=BATCH, platforms=platforms)
        self._in_flight.update((row.id, row) for row in batch)  # renewed from now on
        return batch

    async def _expire(self) -> None:
        expired = await self.ctx.outbox.expire(now=self.ctx.clock.now(), horizon=self.horizon)
        if expired:
            self.counts["expired"] += len(expired)
            logger.warning(
                "outbox: %d message(s) expired unsent, no longer useful (e.g. %s)", len(expired), expired[0]
            )

    async def _flush_periodically(self, stop: asyncio.Event) -> None:
        # One transaction per message would cap a broadcast below Telegram's rate; writing whatever was sent
        # while the previous write ran keeps the window in which a crash could repeat a message (sent, not
        # yet marked) to one short transaction.
        while not stop.is_set():
            self._sent_event.clear()
            if not self._delivered:
                waiter = asyncio.create_task(self._sent_event.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait(
                    (waiter, stopper), timeout=FLUSH_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                stopper.cancel()
            await self._flush()

    async def _renew_periodically(self, stop: asyncio.Event) -> None:
        """Keep the claims of a batch that is still being sent (paced sends can take minutes)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=RENEW_EVERY.total_seconds())
            except TimeoutError:
                pass
            if self._in_flight and not stop.is_set():
                try:
                    await self.ctx.outbox.renew(list(self._in_flight), until=self.ctx.clock.now() + LEASE)
                except Exception:
                    logger.exception("outbox: renewing the claims failed")

    async def _flush(self) -> None:
        delivered, self._delivered = self._delivered, []
        if not delivered:
            return
        try:
            await self._marks.mark(delivered, now=self.ctx.clock.now())
        except Exception:
            # Keep them: marked with the next flush, rather than sent again when their lease runs out.
            logger.exception(
                "outbox: could not mark %d delivered messages as sent; trying again", len(delivered)
            )
            self._delivered[:0] = delivered
            return
        self.counts["sent"] += len(delivered)

    async def _hold_back(self, rows: list[Claimed], retry_at: datetime) -> None:
        for row in rows:
            self._in_flight.pop(row.id, None)
        await self.ctx.outbox.release([row.id for row in rows], retry_at=retry_at)

    async def _deliver(self, row: Claimed) -> datetime | None:
        """Send one queued message; return when to try again if it is to be retried, else None."""
        transport = self.ctx.transports[row.platform]
        chat = ChatRef(row.platform, row.chat_id, is_private=row.is_private)
        outbox = self.ctx.outbox
        parts = payload_to_replies(row.payload)
        kept: tuple[str | None, str | None] = (None, None)  # the message id (and subject) to remember
        for index in range(row.progress, len(parts)):
            try:
                message_id = await transport.send(chat, parts[index])
            except Unreachable as exc:
                logger.info("outbox %s: recipient unreachable (%s)", row.key, exc)
                self.counts["unreachable"] += 1
                await outbox.mark_failed(
                    row.id, error=str(exc), retry_at=None, status=OutboxStatus.UNREACHABLE, progress=index
                )
                await self.ctx.unreachable(chat)
                return None
            except Rejected as exc:
                logger.error("outbox %s: the platform refused the message for good: %s", row.key, exc)
                self.counts["failed"] += 1
                await outbox.mark_failed(row.id, error=str(exc), retry_at=None, progress=index)
                return None
            except TemporaryFailure as exc:
                # A part split by the platform that went out only in part: keep its rest and the parts after.
                remaining = [exc.unsent, *parts[index + 1 :]] if exc.unsent is not None else None
                return await self._retry(row, str(exc), exc.retry_after, progress=index, remaining=remaining)
            except Exception as exc:
                logger.warning("outbox %s: send failed: %s", row.key, type(exc).__name__)
                return await self._retry(row, type(exc).__name__, None, progress=index)
            if kept[0] is None or (parts[index].subject and kept[1] is None):
                kept = (message_id, parts[index].subject)
        self._delivered.append((row, *kept))
        self._sent_event.set()
        return None

    async def _retry(
        self,
        row: Claimed,
        error: str,
        retry_after: float | None,
        *,
        progress: int,
        remaining: list[Reply] | None = None,
    ) -> datetime:
        """Try again later: when the platform said (a 429), else after the backoff; expiry ends it."""
        delay = timedelta(seconds=retry_after) if retry_after is not None else backoff(row.attempts)
        self.counts["retried"] += 1
        if row.attempts in (1, 5) or row.attempts % 20 == 0:
            logger.info(
                "outbox %s: not sent (%s), attempt %d; next try in %.0f s",
                row.key,
                error,
                row.attempts,
                delay.total_seconds(),
            )
        retry_at = self.ctx.clock.now() + delay
        await self.ctx.outbox.mark_failed(
            row.id,
            error=error,
            retry_at=retry_at,
            progress=None if remaining is not None else progress,
            remaining=remaining,
        )
        return retry_at


def _by_chat(batch: list[Claimed]) -> list[list[Claimed]]:
    """The batch grouped by chat, each group in queue order (a chat's messages must not overtake)."""
    groups: dict[tuple[str, str], list[Claimed]] = {}
    for row in batch:
        groups.setdefault((row.platform, row.chat_id), []).append(row)
    return list(groups.values())
