"""Periodic jobs; they call the same services as the handlers."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.chat import ChatRef, Reply
from bot.db.models import Member, Registration
from bot.services.members import language_of
from handlers.common import calendar_button

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

REMIND_BEFORE = timedelta(hours=24)


async def reload_content(ctx: AppContext) -> None:
    """Pick up content another process synced (e.g. `stadtretter content sync`)."""
    await ctx.events.refresh()


async def enqueue_reminders(ctx: AppContext) -> int:
    """Queue one reminder per confirmed registration for events starting within a day; idempotent."""
    now = ctx.clock.now()
    due = ctx.events.catalog.between(now, now + REMIND_BEFORE)
    if not due:
        return 0
    queued = 0
    async with ctx.db.write_lock, ctx.db.sessions.begin() as session:
        for event in due:
            rows = (
                (
                    await session.execute(
                        select(Member)
                        .join(Registration, Registration.member_id == Member.id)
                        .where(
                            Registration.event_id == event.id,
                            Registration.status == "confirmed",
                            Member.unreachable_at.is_(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            for member in rows:
                lang = language_of(member, ctx.settings.language)
                reply = Reply(
                    ctx.render("reminder", lang, event=event),
                    buttons=((calendar_button(event.slug, lang),),),
                    subject=f"event:{event.slug}",
                )
                key = f"reminder:{event.slug}:{event.starts_at.isoformat()}:{member.id}"
                await ctx.outbox.enqueue_in(
                    session, key, ChatRef(member.platform, member.user_id), reply, now=now
                )
                queued += 1
    return queued
