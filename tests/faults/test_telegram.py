"""Telegram faults against the Bot API test server: 429s on one chat, disconnects, a long outage."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.chat import ChatRef, Incoming, Reply
from bot.context import AppContext
from bot.db.models import OutboxMessage
from bot.metrics import FLOOD_WAIT_SECONDS, FLOOD_WAITS
from bot.platforms.telegram import TelegramAdapter
from bot.platforms.telegram.limits import SendLimits
from scheduler.outbox import BACKOFF_CAP, OutboxWorker
from tests.faults.test_processes import note
from tests.telegram_api import BotApiServer

pytestmark = pytest.mark.telegram


def expire_pauses(adapter: TelegramAdapter) -> None:
    """Let every 429 pause run out (instead of waiting the 150 s Telegram named)."""
    for state in adapter.sender.pacer._chats.values():
        state.paused_until = 0.0


async def drain(ctx: AppContext, adapter: TelegramAdapter, *, rounds: int = 3) -> None:
    """Run the outbox as the scheduler would, with the clock moved past any retry time."""
    worker = OutboxWorker(ctx)
    for _ in range(rounds):
        expire_pauses(adapter)
        ctx.clock.fixed = ctx.clock.now() + BACKOFF_CAP + timedelta(seconds=151)
        await worker.drain_once()


async def rows(ctx: AppContext) -> list[OutboxMessage]:
    async with ctx.db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


@pytest.mark.parametrize("retry_after", [5, 150])
async def test_a_429_on_one_chat_never_delays_another(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, retry_after: int
) -> None:
    paused, other = live_server.create_user("Paula"), live_server.create_user("Bert")
    for user in (paused, other):
        user.start()
    await live_server.wait_until(lambda: bool(paused.chat.inbox) and bool(other.chat.inbox))
    live_server.inject_429(chat=paused.chat, retry_after=retry_after)
    to_paused = asyncio.create_task(
        telegram_bot.send(ChatRef("telegram", str(paused.id)), Reply(html="Für Paula"))
    )
    await live_server.wait_until(lambda: live_server.stats.rate_limited >= 1)
    delays = []
    for n in range(3):  # the other chat's messages after the 429, paced by its own bucket only
        started = time.monotonic()
        await telegram_bot.send(ChatRef("telegram", str(other.id)), Reply(html=f"Für Bert {n}"))
        delays.append(time.monotonic() - started)
    note(
        f"429 retry_after {retry_after} s on chat A: chat B's next messages took {max(delays):.2f} s at most"
    )
    assert max(delays) < 1.0
    to_paused.cancel()
    await asyncio.gather(to_paused, return_exceptions=True)


async def test_a_429_storm_on_one_chat_while_others_are_served(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    stormy = live_server.create_user("Sturm")
    waits_before = FLOOD_WAITS.labels("telegram")._value.get()
    seconds_before = FLOOD_WAIT_SECONDS.labels("telegram")._value.get()
    others = [live_server.create_user(f"Mitglied {i}") for i in range(20)]
    for user in (stormy, *others):
        user.chat  # noqa: B018
    live_server.inject_429(chat=stormy.chat, retry_after=1, count=4)
    storm = asyncio.create_task(telegram_bot.send(ChatRef("telegram", str(stormy.id)), Reply(html="Sturm")))
    await live_server.wait_until(lambda: live_server.stats.rate_limited >= 1)
    started = time.monotonic()
    finished: list[float] = []

    async def serve(user_id: int) -> None:
        await telegram_bot.send(ChatRef("telegram", str(user_id)), Reply(html="Antwort"))
        finished.append(time.monotonic() - started)

    await asyncio.gather(*(serve(u.id) for u in others))
    await storm
    note(f"429 storm (4 x retry_after 1 s) on one chat: 20 other chats served within {max(finished):.2f} s")
    assert [len(u.chat.inbox) for u in others] == [1] * 20
    assert max(finished) < 2.0  # 20 messages at the overall pace (150/s at scale 5), none behind the storm
    assert stormy.chat.texts == ["Sturm"]
    # /metrics counts each 429 and the seconds Telegram asked for
    assert FLOOD_WAITS.labels("telegram")._value.get() - waits_before == 4
    assert FLOOD_WAIT_SECONDS.labels("telegram")._value.get() - seconds_before == 4


FAULTS = {
    "429 x6": lambda server, chat: server.inject_429(chat=chat, retry_after=1, count=6),
    "retry_after 150 s": lambda server, chat: server.inject_429(chat=chat, retry_after=150),
    "disconnect x5": lambda server, chat: server.inject_disconnect(chat=chat, count=5),
    "disconnect x6": lambda server, chat: server.inject_disconnect(chat=chat, count=6),
    "429 x1": lambda server, chat: server.inject_429(chat=chat, retry_after=1),
    "disconnect x2": lambda server, chat: server.inject_disconnect(chat=chat, count=2),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_refused_answer_is_delivered_exactly_once(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext, fault: str
) -> None:
    nora = live_server.create_user("Nora")
    nora.start()
    await live_server.wait_inbox(nora.chat, 1)
    FAULTS[fault](live_server, nora.chat)
    asked = time.monotonic()
    nora.send_command("termine")
    for _ in range(600):  # answered at once, or handed to the outbox
        if len(nora.chat.inbox) > 1 or await rows(bot_ctx):
            break
        await asyncio.sleep(0.05)
    await drain(bot_ctx, telegram_bot)
    answers = [m for m in nora.chat.inbox[1:] if "Kommende Veranstaltungen" in m.text]
    deferred = await rows(bot_ctx)
    note(
        f"direct answer, {fault}: delivered {len(answers)}x "
        f"({'via the outbox' if deferred else 'directly'}, {time.monotonic() - asked:.1f} s real time)"
    )
    assert len(answers) == 1
    assert [row.status for row in deferred] in ([], ["sent"])


async def test_a_long_answer_whose_later_part_fails_is_finished_once(
    live_server: BotApiServer, bot_ctx: AppContext
) -> None:
    long_text = "\n\n".join(f"<b>Teil {i}</b>\n" + "Innenstadt " * 300 for i in range(4))

    async def long_answer(incoming: Incoming) -> list[Reply]:
        return [Reply(html=long_text)]

    adapter = TelegramAdapter(
        bot_ctx.settings, replace(bot_ctx.ports(), handle=long_answer), limits=SendLimits(scale=5)
    )
    await adapter.start()
    bot_ctx.transports["telegram"] = adapter
    try:
        lena = live_server.create_user("Lena")
        lena.chat  # noqa: B018
        live_server.inject_disconnect(chat=lena.chat, count=5, after=1)  # the first part goes out
        lena.send_text("Erzähl mir alles")
        for _ in range(200):
            if await rows(bot_ctx):
                break
            await asyncio.sleep(0.05)
        assert len(lena.chat.inbox) == 1
        await drain(bot_ctx, adapter)
    finally:
        await adapter.stop()
    parts = [m.text.split("\n", 1)[0] for m in lena.chat.inbox]
    note(f"long answer (4 parts), parts 2-4 refused: received {parts}")
    assert sorted(parts) == ["Teil 0", "Teil 1", "Teil 2", "Teil 3"]  # each part once, none repeated


async def test_a_ten_minute_outage_loses_no_push(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    members = [live_server.create_user(f"Mitglied {i}") for i in range(20)]
    now = bot_ctx.clock.now()
    for user in members:
        user.chat  # noqa: B018  (each pressed Start once)
        await bot_ctx.outbox.enqueue(
            f"reminder:{user.id}",
            ChatRef("telegram", str(user.id)),
            Reply(html="Erinnerung: morgen WebTalk"),
            now=now,
            expires_at=now + timedelta(hours=3),
        )
    port = live_server.port
    telegram_bot.sender.network_attempts = 2  # the test's minutes are simulated; spare real seconds
    await live_server.stop()  # Bot API unreachable
    worker = OutboxWorker(bot_ctx)
    outage = timedelta(minutes=10)
    end = now + outage
    while bot_ctx.clock.now() < end:
        await worker.drain_once()
        bot_ctx.clock.fixed = bot_ctx.clock.now() + timedelta(seconds=30)
    assert all(row.status == "pending" for row in await rows(bot_ctx))
    await live_server.start(port)
    recovered = bot_ctx.clock.now()
    while any(not u.chat.inbox for u in members) and bot_ctx.clock.now() < recovered + timedelta(minutes=5):
        await worker.drain_once()
        bot_ctx.clock.fixed = bot_ctx.clock.now() + timedelta(seconds=10)
    delay = bot_ctx.clock.now() - recovered
    statuses = sorted(row.status for row in await rows(bot_ctx))
    note(
        f"10-minute Bot API outage, 20 reminders: {sum(len(u.chat.inbox) for u in members)} delivered, "
        f"last one {delay.total_seconds():.0f} s (simulated) after the API came back"
    )
    assert [len(u.chat.inbox) for u in members] == [1] * 20
    assert statuses == ["sent"] * 20
    assert delay <= BACKOFF_CAP + timedelta(seconds=10)
