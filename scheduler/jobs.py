"""Periodic jobs; they call the same services and build the same notices as the handlers."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.context import AppContext
from bot.notices import Notices

logger = logging.getLogger(__name__)

REMIND_BEFORE = timedelta(hours=24)


async def reload_content(ctx: AppContext) -> None:
    """Pick up content another process synced (e.g. `stadtretter content sync`)."""
    await ctx.events.refresh()


async def enqueue_reminders(ctx: AppContext) -> int:
    """Queue one reminder per confirmed registration for events starting within a day; idempotent."""
    now = ctx.clock.now()
    due = ctx.events.catalog.between(now, now + REMIND_BEFORE)
    notices = Notices(ctx.renderer)
    queued = 0
    for event in due:
        deliveries = [
            (
                f"reminder:{event.slug}:{event.starts_at.isoformat()}:{recipient.member_id}",
                recipient.chat,
                notices.reminder(recipient.language, event),
            )
            for recipient in await ctx.registrations.reminder_recipients(event.id)
        ]
        await ctx.outbox.enqueue_many(deliveries, now=now)
        queued += len(deliveries)
    return queued
