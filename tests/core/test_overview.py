"""The weekly overview: its week and windows, its parts, its rendering, once per chat, subscriptions."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import build_context
from bot.chat import ChatRef, Incoming, Kind, Person
from bot.config import Settings
from bot.context import AppContext
from bot.db.models import OutboxMessage, OverviewRun, TargetKind, TargetStatus
from bot.delivery import Unreachable
from bot.notices.overview import LIMITS, OverviewRenderer, plain
from bot.platforms.console import ConsoleAdapter
from bot.render import Renderer
from bot.services.items import ItemCatalog, ItemType, ItemView
from bot.services.overview import Audience, Overview, Schedule, assemble
from bot.text import html_to_plain
from scheduler.jobs import send_overview_if_due
from scheduler.outbox import OutboxWorker
from tests.conftest import person, say, text_of

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime.fromisoformat("2020-09-28T09:00:00+02:00")  # the demo clock: T of week 2020-W40
MANAGER = "console:local"


def schedule(**changes: object) -> Schedule:
    return Schedule(BERLIN, **changes)  # type: ignore[arg-type]


# --- the week and its windows ---------------------------------------------------------------------------


def test_the_time_of_a_week_stays_local_across_daylight_saving_time() -> None:
    s = schedule()
    assert s.week_of(MONDAY) == "2020-W40"
    assert s.scheduled_for("2020-W40") == MONDAY
    # Summer time ends on 25 October 2020, begins on 28 March 2021: 09:00 stays 09:00 local.
    assert s.scheduled_for("2020-W44").isoformat() == "2020-10-26T09:00:00+01:00"
    assert s.scheduled_for("2021-W13").isoformat() == "2021-03-29T09:00:00+02:00"
    # The first week of 2021 begins on Monday 4 January; Sunday 3 January still belongs to 2020-W53.
    assert s.week_of(datetime(2021, 1, 3, 20, tzinfo=BERLIN)) == "2020-W53"
    friday = Schedule(BERLIN, weekday=4, at=MONDAY.timetz().replace(hour=17, tzinfo=None))
    assert friday.scheduled_for("2020-W40").isoformat() == "2020-10-02T17:00:00+02:00"


def item(kind: ItemType, slug: str, when: datetime) -> ItemView:
    return ItemView(kind, slug, slug.title(), when, "Text.")


def test_the_windows_are_half_open_and_nothing_after_t_is_included(ctx: AppContext) -> None:
    t = MONDAY
    items = ItemCatalog.build(
        [
            item(ItemType.NEWS, "exactly-seven-days-before", t - timedelta(days=7)),
            item(ItemType.NEWS, "just-inside", t - timedelta(days=7) + timedelta(seconds=1)),
            item(ItemType.NEWS, "at-t", t),
            item(ItemType.NEWS, "after-t", t + timedelta(seconds=1)),
            item(ItemType.PRACTICE, "practice", t - timedelta(days=2)),
            item(ItemType.MEMBER, "member", t - timedelta(days=3)),
            item(ItemType.IMPULSE, "old-impulse", t - timedelta(days=6)),
            item(ItemType.IMPULSE, "new-impulse", t - timedelta(hours=1)),
            item(ItemType.IMPULSE, "next-weeks-impulse", t + timedelta(days=1)),
        ]
    )
    week = assemble("2020-W40", schedule(), ctx.events.catalog, items)
    assert [i.slug for i in week.news] == ["at-t", "just-inside"]  # newest first
    assert week.impulse is not None and week.impulse.slug == "new-impulse"
    assert [i.slug for i in week.practices] == ["practice"] and [i.slug for i in week.members] == ["member"]
    # Events start in [T, T + 21 days): the demo's five, the featured Thinius talk first.
    assert week.events[0].slug == "webtalk-groesste-zukunft" and week.events[0].featured
    assert [e.starts_at for e in week.events[1:]] == sorted(e.starts_at for e in week.events[1:])
    short = assemble("2020-W40", schedule(ahead=timedelta(days=9)), ctx.events.catalog, items)
    assert [e.slug for e in short.events] == [
        "webtalk-groesste-zukunft",
        "webtalk-vitale-standorte",
        "roundtable-leerstand-bid-isg",
        "webtalk-willkommen",
    ]


def test_the_demo_overview_has_all_six_parts(ctx: AppContext) -> None:
    week = assemble("2020-W40", schedule(), ctx.events.catalog, ctx.events.items)
    assert week.summary() == {
        "week": "2020-W40",
        "edition": "2020-W40",
        "impulse": "2020-09-28-thinius",
        "news": ["massnahmen-innenstaedte"],
        "events": [
            "webtalk-groesste-zukunft",
            "webtalk-vitale-standorte",
            "roundtable-leerstand-bid-isg",
            "webtalk-willkommen",
            "projektauftakt-innenstadt-2030",
        ],
        "practices": ["taunus-innovation-campus", "einbecker-modell"],
        "members": ["mapstar"],
    }
    later = assemble("2020-W42", schedule(), ctx.events.catalog, ctx.events.items)
    assert later.edition is None and later.impulse is None and later.news == []  # nothing new that week


# --- rendering ---------------------------------------------------------------------------------------------


def long_overview(ctx: AppContext) -> Overview:
    week = assemble("2020-W40", schedule(), ctx.events.catalog, ctx.events.items)
    many = [item(ItemType.NEWS, f"news-{i}", MONDAY - timedelta(hours=i)) for i in range(12)]
    many = [ItemView(i.type, i.slug, i.title, i.date, "Ein langer Absatz. " * 15) for i in many]
    week.news = many
    return week


@pytest.mark.parametrize("lang", ["de", "en"])
def test_telegram_messages_stay_within_the_limit_and_split_at_part_boundaries(
    ctx: AppContext, lang: str
) -> None:
    links = {"telegram": "https://t.me/stadtretter_bot"}
    renderer = OverviewRenderer(
        Renderer(BERLIN), links=lambda p, payload: f"{links[p]}?start={payload}" if payload else links[p]
    )
    replies = renderer.render(long_overview(ctx), Audience("telegram", lang, private=False))
    assert len(replies) > 1
    for reply in replies:
        assert len(html_to_plain(reply.html).encode("utf-16-le")) // 2 <= LIMITS["telegram"]
        for tag in ("b", "i", "a"):
            assert reply.html.count(f"<{tag}>") + reply.html.count(f"<{tag} ") == reply.html.count(
                f"</{tag}>"
            )
    starts = [html_to_plain(r.html).split("\n", 1)[0] for r in replies]
    parts = ("📬", "💭", "📰", "🗓", "💡", "🤝")
    assert all(start.startswith(parts) for start in starts[1:]), starts  # each message begins with a part
    with_buttons = [r for r in replies if r.buttons]
    assert len(with_buttons) == 1 and "🗓" in html_to_plain(with_buttons[0].html)
    actions = [b.action for row in with_buttons[0].buttons for b in row]
    assert actions[0] == "https://t.me/stadtretter_bot?start=anmelden-webtalk-groesste-zukunft"
    assert "t.me/stadtretter_bot" in html_to_plain(replies[-1].html)  # the footer names the bot's chat


def test_without_a_deep_link_the_buttons_are_commands(ctx: AppContext) -> None:
    replies = OverviewRenderer(Renderer(BERLIN)).render(
        assemble("2020-W40", schedule(), ctx.events.catalog, ctx.events.items), Audience("matrix", "de", True)
    )
    assert len(replies) == 1  # Matrix takes the whole overview in one message
    actions = [b.action for r in replies for row in r.buttons for b in row]
    assert actions[:2] == ["/rsvp webtalk-groesste-zukunft", "/rsvp webtalk-vitale-standorte"]
    text = plain(replies)
    assert "+++ Besonderes Event +++\nDie größte Zukunft aller Zeiten" in text
    assert "Abbestellen: /abbestellen" in text
    assert "Boris Hedde" in text and "Mapstar" in text


# --- targets, subscriptions and the weekly run -----------------------------------------------------------


class Recorder(ConsoleAdapter):
    """The console transport, remembering what each chat got (and refusing the chats told to)."""

    def __init__(self, ctx: AppContext, platform: str, *, gone: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(ctx.ports(), downloads=ctx.settings.data_dir, out=io.StringIO())
        self.platform = platform
        self.gone = gone
        self.got: dict[str, list[str]] = {}

    async def send(self, chat: ChatRef, reply) -> str | None:  # type: ignore[no-untyped-def]
        if chat.id in self.gone:
            raise Unreachable("blocked")
        self.got.setdefault(chat.id, []).append(reply.html)
        return f"{chat.id}-{len(self.got[chat.id])}"


async def subscribe(ctx: AppContext, user: str, *, platform: str = "console") -> None:
    replies = await say(ctx, "/abo", user=user, platform=platform)
    assert "einverstanden" in text_of(replies).lower()
    assert "Ab jetzt erhalten Sie die Wochenübersicht" in text_of(
        await say(ctx, "/abo ja", user=user, platform=platform, button=True)
    )


async def test_subscribing_asks_for_consent_and_stops_on_request(ctx: AppContext) -> None:
    await subscribe(ctx, "anna")
    assert "bereits" in text_of(await say(ctx, "/abo", user="anna", platform="console"))
    assert await ctx.overview.is_subscribed(person("anna", platform="console"))
    assert "nicht mehr" in text_of(await say(ctx, "/abbestellen", user="anna", platform="console"))
    assert "not subscribed" in text_of(await say(ctx, "/unsubscribe", user="anna", platform="console"))
    group = await say(ctx, "/abo", user="anna", platform="console", private=False)
    assert "privaten Chat" in text_of(group)


async def test_the_overview_is_offered_once_after_a_first_registration(ctx: AppContext) -> None:
    first = await say(ctx, "/einwilligen Thinius")
    assert "Wochenübersicht" in text_of(first) and ["/abo"] == [b.action for b in first[-1].buttons[0]]
    second = await say(ctx, "/anmelden Vitale")
    assert "Wochenübersicht" not in text_of(second)


async def test_the_weekly_run_sends_once_late_within_the_week_and_never_for_a_past_week(
    ctx: AppContext,
) -> None:
    telegram = Recorder(ctx, "console")
    ctx.transports["console"] = telegram
    await subscribe(ctx, "anna")
    ctx.clock.fixed = MONDAY - timedelta(minutes=1)
    assert await send_overview_if_due(ctx) is None  # not yet
    ctx.clock.fixed = MONDAY
    assert await send_overview_if_due(ctx) == ("2020-W40", 1)
    assert await send_overview_if_due(ctx) is None  # once
    worker = OutboxWorker(ctx)
    await worker.drain_once()
    assert len(telegram.got["anna"]) == 1 and "Wochenübersicht" in telegram.got["anna"][0]
    # A downtime over week 41's Monday: the overview goes out late on Wednesday; week 41 only.
    ctx.clock.fixed = datetime.fromisoformat("2020-10-07T15:00:00+02:00")
    assert await send_overview_if_due(ctx) == ("2020-W41", 1)
    # Down from Sunday of week 42 until Tuesday of week 44: week 43 is never sent, week 44 is.
    ctx.clock.fixed = datetime.fromisoformat("2020-10-27T08:00:00+01:00")
    assert await send_overview_if_due(ctx) == ("2020-W44", 1)
    async with ctx.db.sessions() as session:
        weeks = sorted((await session.scalars(select(OverviewRun.week))).all())
        keys = sorted(
            (
                await session.scalars(
                    select(OutboxMessage.key).where(OutboxMessage.key.startswith("overview:"))
                )
            ).all()
        )
    assert weeks == ["2020-W40", "2020-W41", "2020-W44"]
    assert keys == [f"overview:2020-W{w}:console:anna" for w in (40, 41, 44)]


async def test_preview_equals_what_a_subscriber_gets(ctx: AppContext) -> None:
    recorder = Recorder(ctx, "console")
    ctx.transports["console"] = recorder
    await subscribe(ctx, "anna")
    preview = await say(ctx, "/vorschau", user="local", platform="console")
    assert "Vorschau" in preview[0].html
    await send_overview_if_due(ctx)
    await OutboxWorker(ctx).drain_once()
    assert recorder.got["anna"] == [r.html for r in preview[1:]]


async def test_a_member_who_blocked_the_bot_is_unsubscribed(ctx: AppContext) -> None:
    ctx.transports["console"] = Recorder(ctx, "console", gone={"bert"})
    await subscribe(ctx, "anna")
    await subscribe(ctx, "bert")
    await send_overview_if_due(ctx)
    await OutboxWorker(ctx).drain_once()
    assert await ctx.overview.is_subscribed(person("anna", platform="console"))
    assert not await ctx.overview.is_subscribed(person("bert", platform="console"))


async def test_managers_send_now_after_confirming_and_manage_targets(ctx: AppContext) -> None:
    await subscribe(ctx, "anna")
    refused = await say(ctx, "/wochenuebersicht senden", user="anna", platform="console")
    assert "nur Community-Manager" in text_of(refused)
    ask = await say(ctx, "/wochenuebersicht senden", user="local", platform="console")
    assert "1 Chat(s) senden?" in text_of(ask)
    assert ["/wochenuebersicht senden ja", "/wochenuebersicht abbrechen"] == [
        b.action for b in ask[0].buttons[0]
    ]
    sent = await say(ctx, "/wochenuebersicht senden ja", user="local", platform="console", button=True)
    assert "unterwegs" in text_of(sent)
    again = await say(ctx, "/wochenuebersicht senden ja", user="local", platform="console", button=True)
    assert "unterwegs" in text_of(again)
    async with ctx.db.sessions() as session:
        assert await session.scalar(select(func.count(OutboxMessage.id))) == 1  # idempotent per chat and week

    group = ChatRef("console", "runde", is_private=False)
    boss = person("local", platform="console")
    on = await ctx.handle(Incoming(group, boss, "!wochenuebersicht an en"))
    assert "Englisch" in text_of(on) or "English" in text_of(on)
    listed = await say(ctx, "/kanaele", user="local", platform="console")
    assert "runde" in text_of(listed) and "Mitglieder mit eigenem Abo: 1" in text_of(listed)
    target = await ctx.overview.find(group)
    assert target is not None and (target.kind, target.language) == (TargetKind.GROUP, "en")
    removed = await say(ctx, f"/kanaele entfernen {target.id}", user="local", platform="console", button=True)
    assert "nichts mehr" in text_of(removed)
    assert (await ctx.overview.find(group)).status is TargetStatus.REMOVED  # type: ignore[union-attr]


async def test_a_manager_adding_the_bot_to_a_channel_is_asked_privately(ctx: AppContext) -> None:
    ctx.settings.managers.append("telegram:42")
    channel = ChatRef("telegram", "-1001", is_private=False, channel=True)
    joined = await ctx.handle(
        Incoming(channel, Person("telegram", "42", "Maria"), "Stadtretter News", kind=Kind.JOINED)
    )
    (ask,) = joined
    assert ask.to == ChatRef("telegram", "42", is_private=True) and "Stadtretter News" in ask.html
    yes = ask.buttons[0][0].action
    assert re.fullmatch(r"/kanaele aktivieren \d+ de", yes)
    done = await ctx.handle(
        Incoming(ChatRef("telegram", "42"), Person("telegram", "42", "Maria"), yes, kind=Kind.BUTTON)
    )
    assert "erhält jetzt" in text_of(done)
    target = await ctx.overview.find(channel)
    assert target is not None and (target.kind, target.status) == (TargetKind.CHANNEL, TargetStatus.ACTIVE)
    # Added by someone who is no manager: pending until a manager says yes in /kanaele; removed: gone.
    other = ChatRef("telegram", "-1002", is_private=False)
    assert await ctx.handle(Incoming(other, Person("telegram", "7"), "Runde", kind=Kind.JOINED)) == []
    assert (await ctx.overview.find(other)).status is TargetStatus.PENDING  # type: ignore[union-attr]
    await ctx.handle(Incoming(channel, Person("telegram", "42"), "", kind=Kind.LEFT))
    assert (await ctx.overview.find(channel)).status is TargetStatus.REMOVED  # type: ignore[union-attr]


async def test_two_instances_send_each_chat_its_overview_once(settings: Settings, db_url: str) -> None:
    first = await build_context(settings, database_url=db_url)
    second = await build_context(settings, database_url=db_url, sync=False)
    try:
        for i in range(40):
            await first.registrations.give_consent(person(f"m{i}", platform="console"))
            await first.overview.subscribe(person(f"m{i}", platform="console"), language="de", now=MONDAY)
        results = await asyncio.gather(*(send_overview_if_due(c) for c in (first, second, first, second)))
        assert [r for r in results if r is not None] == [("2020-W40", 40)]
        async with first.db.sessions() as session:
            keys = (await session.scalars(select(OutboxMessage.key))).all()
        assert len(keys) == len(set(keys)) == 40
    finally:
        await first.close()
        await second.close()


# --- reminders -------------------------------------------------------------------------------------------


@pytest.fixture
async def reminder_ctx(settings: Settings, tmp_path: Path) -> AsyncIterator[AppContext]:
    ctx = await build_context(
        settings.model_copy(update={"reminders": ["24h", "90m"]}),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}",
    )
    yield ctx
    await ctx.close()


async def reminder_keys(ctx: AppContext) -> list[str]:
    async with ctx.db.sessions() as session:
        return sorted(
            (
                await session.scalars(
                    select(OutboxMessage.key).where(OutboxMessage.key.startswith("reminder:"))
                )
            ).all()
        )


async def test_reminders_come_at_each_offset_once_and_not_for_who_turned_them_off(
    reminder_ctx: AppContext,
) -> None:
    from scheduler.jobs import enqueue_reminders

    ctx = reminder_ctx
    for user in ("anna", "bert", "cem"):
        await say(ctx, "/einwilligen Thinius", user=user)
    assert "aus" in text_of(await say(ctx, "/erinnerungen aus", user="cem"))
    thinius = ctx.events.catalog.by_slug["webtalk-groesste-zukunft"]
    ctx.clock.fixed = thinius.starts_at - timedelta(hours=23)
    assert await enqueue_reminders(ctx) == 2
    assert await enqueue_reminders(ctx) == 0  # recorded, not re-read
    await say(ctx, "/einwilligen Thinius", user="dora")  # registers late: still reminded
    assert await enqueue_reminders(ctx) == 1
    ctx.clock.fixed = thinius.starts_at - timedelta(minutes=80)
    assert await enqueue_reminders(ctx) == 3
    keys = await reminder_keys(ctx)
    stamp = thinius.starts_at.isoformat()
    assert len(keys) == 6 and sum(k.endswith(":90m") for k in keys) == 3
    assert all(k.startswith(f"reminder:webtalk-groesste-zukunft:{stamp}:") for k in keys)
    assert "an" in text_of(await say(ctx, "/reminders on", user="cem", language="en"))
    assert "no reminders" not in text_of(await say(ctx, "/reminders", user="cem", language="en"))
    nobody = await say(ctx, "/erinnerungen aus", user="zoe")
    assert "noch keine Anmeldung" in text_of(nobody)
