"""The web face through aiohttp's test client: the overview online, the calendars, escaping and CSP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar
from sqlalchemy import update

from bot.context import AppContext
from bot.db.models import Event
from bot.notices.overview import overview_renderer, plain
from bot.services.overview import Audience, assemble
from bot.web.pages import routes
from bot.web.server import CSP, security_headers
from tests.conftest import say, text_of

PUBLIC = "https://bot.example.org"


class Page(HTMLParser):
    """What a browser would see: the text, the links, and any script or inline handler."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.handlers = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.handlers += sum(1 for name, _ in attrs if name.startswith("on"))
        self.links += [value or "" for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture
async def web_ctx(ctx: AppContext) -> AppContext:
    ctx.settings = ctx.settings.model_copy(update={"public_url": PUBLIC})
    return ctx


@pytest.fixture
async def client(web_ctx: AppContext) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.add_routes(routes(web_ctx))
    app.on_response_prepare.append(security_headers)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_the_weekly_overview_online_has_the_newsletters_parts(
    web_ctx: AppContext, client: TestClient[web.Request, web.Application]
) -> None:
    response = await client.get("/wochenuebersicht/2020-W40")
    assert response.status == 200
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Content-Type"].startswith("text/html")
    page = Page(await response.text())
    week = assemble("2020-W40", web_ctx.overview.schedule, web_ctx.events.catalog, web_ctx.events.items)
    assert week.events and week.impulse is not None
    for event in week.events:
        assert event.title in page.plain
    assert week.impulse.title in page.plain
    assert page.scripts == 0 and page.handlers == 0
    english = Page(await (await client.get("/wochenuebersicht/2020-W40?lang=en")).text())
    assert "Weekly overview 2020-W40" in english.plain


async def test_the_index_lists_published_weeks_only(client: TestClient[web.Request, web.Application]) -> None:
    page = Page(await (await client.get("/wochenuebersicht/")).text())
    assert "/wochenuebersicht/2020-W40" in page.links
    for week in ("2020-W41", "2020-W99", "2020-W4", "x" * 300, "<script>"):
        assert (await client.get(f"/wochenuebersicht/{week}")).status == 404


async def test_content_is_escaped_on_the_page(
    web_ctx: AppContext, client: TestClient[web.Request, web.Application]
) -> None:
    async with web_ctx.db.write_lock, web_ctx.db.sessions.begin() as session:
        await session.execute(
            update(Event)
            .where(Event.slug == "webtalk-vitale-standorte")
            .values(title='<script>alert(1)</script><img src=x onerror="alert(2)"> Vitale Standorte')
        )
    await web_ctx.events.refresh(force=True)
    html = await (await client.get("/wochenuebersicht/2020-W40")).text()
    page = Page(html)
    assert page.scripts == 0 and page.handlers == 0
    assert "<script>alert(1)</script>" in page.plain  # shown as text, not run


async def test_the_public_calendar_lists_upcoming_events_and_nobody(
    web_ctx: AppContext, client: TestClient[web.Request, web.Application]
) -> None:
    await say(web_ctx, "/anmelden webtalk-vitale-standorte")
    await say(web_ctx, "/einwilligen webtalk-vitale-standorte")
    response = await client.get("/kalender.ics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(await response.read())
    summaries = {str(e["summary"]) for e in calendar.walk("VEVENT")}
    assert summaries == {e.title for e in web_ctx.events.catalog.upcoming(web_ctx.clock.now())}
    assert "Anna" not in (await response.read()).decode()


async def test_a_members_private_feed_follows_registrations_and_is_renewed(
    web_ctx: AppContext, client: TestClient[web.Request, web.Application]
) -> None:
    before = text_of(await say(web_ctx, "/kalender"))
    assert "angemeldet" in before and "webcal://" not in before  # not a member yet: how to become one
    await say(web_ctx, "/anmelden webtalk-vitale-standorte")
    await say(web_ctx, "/einwilligen webtalk-vitale-standorte")
    answer = text_of(await say(web_ctx, "/kalender"))
    url = re.search(r"webcal://bot\.example\.org(/kalender/[A-Za-z0-9_-]+\.ics)", answer)
    assert url is not None
    feed = await client.get(url.group(1))
    assert feed.status == 200 and feed.headers["Cache-Control"] == "private, no-store"
    titles = [str(e["summary"]) for e in Calendar.from_ical(await feed.read()).walk("VEVENT")]
    assert titles == [web_ctx.events.catalog.by_slug["webtalk-vitale-standorte"].title]
    assert text_of(await say(web_ctx, "/kalender")) == answer  # the same address again

    await say(web_ctx, "/abmelden webtalk-vitale-standorte")
    after = Calendar.from_ical(await (await client.get(url.group(1))).read())
    assert list(after.walk("VEVENT")) == []

    renewed = text_of(await say(web_ctx, "/kalender neu"))
    new_url = re.search(r"webcal://bot\.example\.org(/kalender/[A-Za-z0-9_-]+\.ics)", renewed)
    assert new_url is not None and new_url.group(1) != url.group(1)
    assert (await client.get(url.group(1))).status == 404
    assert (await client.get(new_url.group(1))).status == 200
    for bad in ("/kalender/short.ics", "/kalender/" + "a" * 80 + ".ics", "/kalender/%3Cscript%3E.ics"):
        assert (await client.get(bad)).status == 404


async def test_calendar_feeds_only_in_a_private_chat_and_the_event_file_as_before(
    web_ctx: AppContext,
) -> None:
    group = text_of(await say(web_ctx, "/kalender neu", private=False))
    assert "privaten Chat" in group and "webcal" not in group
    replies = await say(web_ctx, "/kalender webtalk-vitale-standorte")
    assert replies[0].attachment is not None and replies[0].attachment.filename.endswith(".ics")


async def test_the_overview_footer_links_to_the_online_edition(web_ctx: AppContext) -> None:
    week = assemble("2020-W40", web_ctx.overview.schedule, web_ctx.events.catalog, web_ctx.events.items)
    text = plain(overview_renderer(web_ctx).render(week, Audience("telegram", "de", private=True)))
    assert f"Online lesen: {PUBLIC}/wochenuebersicht/2020-W40" in text
