"""Manager commands: attendee export as CSV, of one event or of all."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime

from bot.chat import Attachment, Reply
from bot.context import AppContext
from bot.router import Request, Router
from bot.text import fold
from handlers.common import resolve_event

router: Router[AppContext] = Router()

ALL_WORDS = frozenset({"alle", "all", "alles"})


@router.command(
    "export",
    "export",
    managers_only=True,
    help=(
        "Teilnehmerliste als CSV, z. B. /export Thinius oder /export alle (Community-Management)",
        "attendee list as CSV, e.g. /export Thinius or /export all (managers)",
    ),
)
async def export(req: Request, ctx: AppContext) -> list[Reply]:
    """Send the attendee list of an event, or of all events ("alle"), as a CSV file."""
    tz = ctx.settings.tz

    def local(moment: datetime) -> str:
        return format_datetime(moment.astimezone(tz), "yyyy-MM-dd HH:mm", locale="de")

    # "alle" is never a search: it would fuzzy-match a title such as "… aller Zeiten".
    if fold(req.args).strip(" .!") in ALL_WORDS:
        data, rows = await ctx.registrations.attendees_csv(None, tz_format=local)
        await ctx.audit.record("export", actor=req.sender.key, now=ctx.clock.now(), detail=f"alle ({rows})")
        return [
            Reply(
                ctx.render("export", req.lang, event=None, rows=rows),
                attachment=Attachment("teilnehmer-alle.csv", "text/csv", data),
            )
        ]
    event, replies = await resolve_event(req, ctx, action="export")
    if event is None:
        return replies
    data, rows = await ctx.registrations.attendees_csv(event, tz_format=local)
    await ctx.audit.record(
        "export", actor=req.sender.key, now=ctx.clock.now(), detail=f"{event.slug} ({rows})"
    )
    confirmed, waitlisted = await ctx.registrations.counts(event.id)
    return [
        Reply(
            ctx.render("export", req.lang, event=event, confirmed=confirmed, waitlisted=waitlisted),
            attachment=Attachment(f"teilnehmer-{event.slug}.csv", "text/csv", data),
        )
    ]
