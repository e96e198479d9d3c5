"""The weekly overview on Telegram end to end: a channel and a group a manager approved, a member's chat."""

from __future__ import annotations

import asyncio

import pytest

from bot.context import AppContext
from bot.platforms.telegram import TelegramAdapter
from scheduler.jobs import send_overview_if_due
from scheduler.outbox import OutboxWorker
from tests.telegram.test_e2e import next_message
from tests.telegram_api import BotApiServer
from tests.telegram_api.entities import utf16_len

pytestmark = [
    pytest.mark.telegram,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


async def test_channel_group_and_member_get_the_overview_once_at_its_time(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    maria = live_server.create_user("Maria")
    bot_ctx.settings.managers.append(f"telegram:{maria.id}")
    maria.start()
    await live_server.wait_inbox(maria.chat, 1)

    # Maria adds the bot to a channel and to a group; each time it asks her, privately, with one tap.
    channel = live_server.create_channel("Stadtretter News", bot_is_admin=False)
    group = live_server.create_group("Runde Nord")
    for chat in (channel, group):
        live_server.bot_added(chat, maria, admin=chat is channel)
        ask = await next_message(live_server, maria.chat, len(maria.chat.inbox))
        assert chat.title in ask.text and ask.button_labels[2] in ("❌ Nein", "❌ No")
        maria.press(ask, 0)
        await live_server.wait_until(lambda ask=ask: bool(ask.edits))  # type: ignore[misc]
        assert "erhält jetzt die Wochenübersicht" in ask.text

    # A member subscribes in her own chat (consent first).
    anna = live_server.create_user("Anna")
    anna.send_command("abo")
    consent = await next_message(live_server, anna.chat, 0)
    anna.press(consent, "✅ Einverstanden")
    await live_server.wait_until(lambda: bool(consent.edits))
    assert "Ab jetzt erhalten Sie die Wochenübersicht" in consent.text

    # Monday 09:00 (the demo clock): due; the outbox delivers it.
    assert await send_overview_if_due(bot_ctx) == ("2020-W40", 3)
    assert await send_overview_if_due(bot_ctx) is None
    worker = OutboxWorker(bot_ctx, idle_seconds=0.05)
    await worker.drain_once()
    await worker.drain_once()

    for chat in (channel, group, anna.chat):
        before = 0 if chat is not anna.chat else 1
        got = chat.inbox[before:]
        assert 1 <= len(got) <= 3, [m.text[:40] for m in got]  # a few messages, never one per part
        assert got[0].text.startswith("📬 Stadtretter-Wochenübersicht")
        assert all(utf16_len(m.text) <= 4096 for m in got)
        with_buttons = [m for m in got if m.reply_markup]
        assert len(with_buttons) == 1
        urls = [url for row in with_buttons[0].buttons for _, url in row]
        assert urls[0] == f"https://t.me/{live_server.bot_username}?start=anmelden-webtalk-groesste-zukunft"
        assert all(m.parse_mode == "HTML" for m in got)
    assert "Abbestellen: /abbestellen" in anna.chat.inbox[-1].text
    assert "Abbestellen" not in channel.inbox[-1].text
    counts = {chat.id: len(chat.inbox) for chat in (channel, group, anna.chat)}
    await worker.drain_once()  # nothing more: exactly once per chat
    assert {chat.id: len(chat.inbox) for chat in (channel, group, anna.chat)} == counts

    # A deep link from the channel opens the registration in a private chat.
    ben = live_server.create_user("Ben")
    ben.start("anmelden-webtalk-groesste-zukunft")
    assert "Sind Sie einverstanden?" in (await next_message(live_server, ben.chat, 0)).text


async def test_removing_the_bot_from_a_group_ends_its_overview(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    maria = live_server.create_user("Maria")
    bot_ctx.settings.managers.append(f"telegram:{maria.id}")
    maria.start()
    await live_server.wait_inbox(maria.chat, 1)
    group = live_server.create_group("Runde Süd")
    live_server.bot_added(group, maria, admin=False)
    ask = await next_message(live_server, maria.chat, 1)
    maria.press(ask, 1)  # in English
    await live_server.wait_until(lambda: bool(ask.edits))
    assert [t.language for t in await bot_ctx.overview.targets()] == ["en"]
    live_server.bot_removed(group, maria)
    for _ in range(100):
        if not await bot_ctx.overview.targets():
            break
        await asyncio.sleep(0.02)
    assert await bot_ctx.overview.targets() == []
