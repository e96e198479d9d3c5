"""Manager commands: attendee export as CSV."""

from __future__ import annotations

from babel.dates import format_datetime

from bot.chat import Attachment, Reply
from bot.context import AppContext
from bot.router import Request, Router
from handlers.common import resolve_event

router: Router[AppContext] = Router()


@router.command(
    "export",
    "export",
    managers_only=True,
    help=("Teilnehmerliste als CSV (Community-Management)", "attendee list as CSV (managers)"),
)
async def export(req: Request, ctx: AppContext) -> list[Reply]:
    """Send the attendee list of an event as a CSV file."""
    event, replies = await resolve_event(req, ctx, action="export")
    if event is None:
        return replies
    tz = ctx.settings.tz
    data = await ctx.registrations.attendees_csv(
        event,
        tz_format=lambda moment: format_datetime(moment.astimezone(tz), "yyyy-MM-dd HH:mm", locale="de"),
    )
    confirmed, waitlisted = await ctx.registrations.counts(event.id)
    return [
        Reply(
            ctx.render("export", req.lang, event=event, confirmed=confirmed, waitlisted=waitlisted),
            attachment=Attachment(f"teilnehmer-{event.slug}.csv", "text/csv", data),
        )
    ]
