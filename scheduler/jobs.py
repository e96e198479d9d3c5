"""Periodic jobs; they call the same services and build the same notices as the handlers."""

from __future__ import annotations

import functools
import logging

from bot.context import AppContext
from bot.notices import Notices
from bot.notices.impulses import DiscussionRenderer
from bot.notices.overview import overview_renderer
from bot.services.privacy import KeepingLimits

logger = logging.getLogger(__name__)


async def reload_content(ctx: AppContext) -> None:
    """Pick up content another process synced (e.g. `stadtretter content sync`)."""
    await ctx.events.refresh()


async def enqueue_reminders(ctx: AppContext) -> int:
    """Queue the reminders that are due (each configured offset before an event); each only once."""
    now = ctx.clock.now()
    offsets = ctx.settings.reminder_offsets
    if not offsets:
        return 0
    notices = Notices(ctx.renderer)
    queued = 0
    for event in ctx.events.catalog.between(now, now + max(offsets)):
        build = functools.partial(notices.reminder, event=event)
        for offset in offsets:
            if event.starts_at - offset <= now:
                queued += await ctx.registrations.queue_reminders(event, offset, build, now=now)
    return queued


async def send_overview_if_due(ctx: AppContext) -> tuple[str, int] | None:
    """Enqueue this week's overview once its time has come (late within the week after a downtime)."""
    lookback = ctx.overview.schedule.lookback
    return await ctx.overview.run_due(
        ctx.clock.now(),
        ctx.events.catalog,
        ctx.events.items,
        overview_renderer(ctx),
        platforms=None,
        complete=functools.partial(ctx.discussion.digest, lookback=lookback),
    )


async def post_due_impulses(ctx: AppContext) -> list[tuple[str, int]]:
    """Queue each impulse whose time has come for every target, once (late within a week, never later)."""
    platforms = set(ctx.transports) or None
    return await ctx.discussion.post_due(
        DiscussionRenderer(ctx.renderer), now=ctx.clock.now(), platforms=platforms
    )


async def enforce_keeping(ctx: AppContext) -> dict[str, int]:
    """Delete or anonymise what is older than the keeping limits (BOT_KEEP_*_DAYS; daily, and once at
    start): pushes, sent-message records, registrations of past events, contributions."""
    limits = KeepingLimits.of(ctx.settings)
    now = ctx.clock.now()
    done = await ctx.privacy.enforce_keeping(limits, now=now)
    contributions = await ctx.discussion.purge(now=now, older_than=limits.contributions)
    if contributions:
        done["contributions"] = contributions
    return done
