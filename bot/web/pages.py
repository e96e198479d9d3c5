"""Public pages and calendar feeds: the weekly overview online, the events as a calendar, members' feeds.

Public pages carry no member data: the overview is the same for everyone and the public calendar lists
events. A member's feed is found only by its token (`/kalender` in a private chat), and is never cached.
"""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from bot.context import AppContext
from bot.db.models import OverviewRun
from bot.notices.overview import OverviewRenderer
from bot.services.calendar import calendar_of
from bot.services.overview import Audience, assemble

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
INDEX_WEEKS = 52
CALENDAR = "text/calendar; charset=utf-8"
HTML = "text/html; charset=utf-8"


def routes(ctx: AppContext) -> list[web.RouteDef]:
    """The public routes (the HTTP server adds its security headers to every answer)."""

    def language(request: web.Request) -> str:
        wanted = request.query.get("lang", "")
        return wanted if wanted in ("de", "en") else ctx.settings.language

    def page(lang: str, title: str, body: str) -> web.Response:
        html = ctx.render("web_page", lang, title=title, body=Markup(body))
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def index(request: web.Request) -> web.Response:
        await ctx.events.refresh()  # content synced meanwhile (a standby runs no reload job)
        lang = language(request)
        items = ctx.events.items
        weeks = [
            (week, items.editions[week].title if week in items.editions else None)
            for week in await _weeks(ctx)
        ]
        title = "Weekly overviews" if lang == "en" else "Wochenübersichten"
        return page(lang, title, ctx.render("web_index", lang, weeks=weeks))

    async def overview(request: web.Request) -> web.Response:
        lang = language(request)
        week = request.match_info["week"]
        if not _published(ctx, week):
            raise web.HTTPNotFound(text="no such weekly overview")
        await ctx.events.refresh()
        found = assemble(week, ctx.overview.schedule, ctx.events.catalog, ctx.events.items)
        rendering = OverviewRenderer(ctx.renderer, links=ctx.chat_link)
        audience = Audience("web", lang, private=False)
        parts = [(name, Markup(_paragraphs(html))) for name, html in rendering.parts(found, audience)]
        body = ctx.render(
            "web_overview", lang, parts=parts, links=rendering.registration_links(found, audience)
        )
        title = ("Weekly overview " if lang == "en" else "Wochenübersicht ") + week
        return page(lang, title, body)

    async def public_calendar(request: web.Request) -> web.Response:
        await ctx.events.refresh()
        now = ctx.clock.now()
        data = calendar_of(ctx.events.catalog.upcoming(now), now=now, name="Die Stadtretter")
        return web.Response(body=data, headers={"Content-Type": CALENDAR, "Cache-Control": "max-age=300"})

    async def member_calendar(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        ids = await ctx.calendars.registered_event_ids(token) if TOKEN.match(token) else None
        if ids is None:
            raise web.HTTPNotFound(text="no such calendar")
        events = sorted(
            (ctx.events.catalog.by_id[i] for i in ids if i in ctx.events.catalog.by_id),
            key=lambda e: e.starts_at,
        )
        data = calendar_of(events, now=ctx.clock.now(), name="Stadtretter")
        headers = {
            "Content-Type": CALENDAR,
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        }
        return web.Response(body=data, headers=headers)

    return [
        web.get("/wochenuebersicht", index),
        web.get("/wochenuebersicht/", index),
        web.get("/wochenuebersicht/{week}", overview),
        web.get("/kalender.ics", public_calendar),
        web.get("/kalender/{token}.ics", member_calendar),
    ]


def _published(ctx: AppContext, week: str) -> bool:
    """A well-formed week whose overview time has come (no page for a week ahead)."""
    match = WEEK.match(week)
    if not match:
        return False
    try:
        date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        return False
    return ctx.overview.schedule.scheduled_for(week) <= ctx.clock.now()


async def _weeks(ctx: AppContext) -> list[str]:
    """Weeks with an overview: those sent, those with an edition, and this week once its time has come."""
    async with ctx.db.sessions() as session:
        sent = set(await session.scalars(select(OverviewRun.week)))
    found = sent | set(ctx.events.items.editions) | {ctx.overview.schedule.week_of(ctx.clock.now())}
    return sorted((w for w in found if _published(ctx, w)), reverse=True)[:INDEX_WEEKS]


def _paragraphs(html: str) -> str:
    """Telegram's line breaks as HTML: blank lines part paragraphs, single ones break lines."""
    blocks = [block.replace("\n", "<br>\n") for block in re.split(r"\n\s*\n", html.strip()) if block.strip()]
    return "\n".join(f"<p>{block}</p>" for block in blocks)
