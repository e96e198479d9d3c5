"""APScheduler setup: the outbox worker, content reloads, reminders, the weekly overview and impulses.

The jobs only look at the clock and the database (a run row per week, marks per reminder): a missed run is
made up at the next tick, and nothing depends on APScheduler remembering anything across a restart.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.context import AppContext
from scheduler.jobs import (
    enforce_keeping,
    enqueue_reminders,
    post_due_impulses,
    reload_content,
    send_overview_if_due,
)
from scheduler.outbox import OutboxWorker

logger = logging.getLogger(__name__)


class Scheduler:
    """Owns the periodic jobs and the outbox worker of one running application."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.outbox = OutboxWorker(ctx)
        self.aps = AsyncIOScheduler(timezone=ctx.settings.tz)
        self.aps.add_job(
            reload_content,
            "interval",
            seconds=60,
            args=[ctx],
            id="reload_content",
            coalesce=True,
            max_instances=1,
        )
        self.aps.add_job(
            self._reminders, "interval", minutes=5, id="reminders", coalesce=True, max_instances=1
        )
        self.aps.add_job(self._overview, "interval", minutes=1, id="overview", coalesce=True, max_instances=1)
        self.aps.add_job(self._impulses, "interval", minutes=1, id="impulses", coalesce=True, max_instances=1)
        # Keeping limits: daily, and once right after the start (a bot restarted daily still keeps them).
        self.aps.add_job(
            enforce_keeping,
            "interval",
            days=1,
            args=[ctx],
            id="keeping",
            coalesce=True,
            max_instances=1,
        )
        self.aps.add_job(enforce_keeping, args=[ctx], id="keeping_at_start")  # runs once, right away

    async def _reminders(self) -> None:
        if await enqueue_reminders(self.ctx):
            self.outbox.wake()

    async def _overview(self) -> None:
        done = await send_overview_if_due(self.ctx)
        if done is not None:
            logger.info("weekly overview %s queued for %d chats", *done)
            self.outbox.wake()

    async def _impulses(self) -> None:
        for slug, count in await post_due_impulses(self.ctx):
            logger.info("impulse %s queued for %d chats", slug, count)
            self.outbox.wake()

    def start(self) -> None:
        self.aps.start()
        self.outbox.start()

    async def shutdown(self, *, grace: float = 0.0) -> None:
        """Stop the jobs; sends already started may finish within `grace` seconds."""
        if self.aps.running:
            self.aps.shutdown(wait=False)
        await self.outbox.stop(grace=grace)
