"""End to end: the real adapter and core against the Bot API test server."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import build_context
from bot.chat import Button, ChatRef, Person, Reply
from bot.context import AppContext
from bot.db.models import OutboxMessage
from bot.platforms.telegram import TelegramAdapter
from bot.platforms.telegram.limits import SendLimits
from bot.router import Request
from bot.services.members import ensure_member
from scheduler.outbox import OutboxWorker
from tests.telegram.conftest import bot_settings, find_member
from tests.telegram_api import BotApiServer, Chat, SentMessage
from tests.telegram_api.entities import parse_html, utf16_len

pytestmark = [
    pytest.mark.telegram,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]

SLUG = "webtalk-vitale-standorte"


async def next_message(server: BotApiServer, chat: Chat, before: int) -> SentMessage:
    await server.wait_inbox(chat, before + 1)
    return chat.inbox[before]


async def test_member_arrives_by_deep_link_registers_asks_and_cancels(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    anna = live_server.create_user("Anna")
    chat = anna.chat

    anna.start(f"anmelden-{SLUG}")
    consent = await next_message(live_server, chat, 0)
    assert "Sind Sie einverstanden?" in consent.text
    assert consent.buttons == [
        [("✅ Einverstanden", f"/einwilligen {SLUG}"), ("Nein, danke", "/einwilligen nein")]
    ]
    assert consent.parse_mode == "HTML"

    query = anna.press(consent, "✅ Einverstanden")
    await live_server.wait_until(lambda: bool(consent.edits))
    assert consent.text.startswith("✅ Sie sind angemeldet für Vitale Standorte")
    assert query.answered
    assert consent.button_labels == ["📅 Kalender", "❌ Abmelden"]
    offer = await next_message(live_server, chat, 1)  # after a first registration: the weekly overview
    assert "Wochenübersicht" in offer.text
    assert any(data == "/abo" for row in offer.buttons for _, data in row)

    anna.press(consent, "📅 Kalender")
    calendar = await next_message(live_server, chat, 2)
    assert calendar.document is not None
    assert calendar.document.filename == f"{SLUG}.ics"
    assert calendar.document.data.startswith(b"BEGIN:VCALENDAR")

    anna.send_text("Wann ist der nächste WebTalk?")
    answer = await next_message(live_server, chat, 3)
    assert "Vitale Standorte" in answer.text
    ref = ChatRef("telegram", str(anna.id))
    for _ in range(50):  # recorded right after Telegram confirmed the message
        if (subject := await bot_ctx.messages.subject_of(ref, str(answer.message_id))) is not None:
            break
        await asyncio.sleep(0.02)
    assert subject == f"event:{SLUG}"

    anna.send_command("abmelden", SLUG)
    cancelled = await next_message(live_server, chat, 4)
    assert "storniert" in cancelled.text
    assert all(q.answered for q in live_server.callback_queries.values())


async def test_commands_are_registered_in_german_and_english(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    german = [c["command"] for c in live_server.commands[("default", "")]]
    english = [c["command"] for c in live_server.commands[("default", "en")]]
    assert {"termine", "anmelden", "abmelden", "kalender"} <= set(german)
    assert {"events", "register", "cancel", "calendar"} <= set(english)
    assert "export" not in german  # managers' commands stay out of everyone's menu


async def test_a_group_answers_only_when_addressed(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    group = live_server.create_group()
    bea = live_server.create_user("Bea")
    bea.send_text("Wann ist der nächste WebTalk?", chat=group)
    bea.send_command("termine", chat=group, with_botname=True)
    first = await next_message(live_server, group, 0)
    assert "Kommende Veranstaltungen" in first.text

    bea.send_text("/termine@other_bot", chat=group)
    bea.send_text("danke euch allen", chat=group)
    bea.mention_bot("Wann ist der nächste WebTalk?", chat=group)
    second = await next_message(live_server, group, 1)
    assert "Vitale Standorte" in second.text

    bea.send_text("und die Termine danach?", chat=group, reply_to=second)
    await next_message(live_server, group, 2)
    await asyncio.sleep(0.3)
    assert len(group.inbox) == 3
    assert live_server.pending_updates == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_receives_updates_with_the_secret(
    live_server: BotApiServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    ctx = await build_context(
        bot_settings(
            live_server,
            tmp_path,
            telegram_webhook_url=url,
            telegram_webhook_secret="geheim-123",
            telegram_webhook_port=port,
        )
    )
    adapter = TelegramAdapter(ctx.settings, ctx.ports(), limits=SendLimits(scale=5))
    await adapter.start()
    try:
        assert live_server.webhook == {"url": url, "secret_token": "geheim-123", "max_connections": 40}
        carl = live_server.create_user("Carl")
        carl.send_command("termine")
        answer = await next_message(live_server, carl.chat, 0)
        assert "Kommende Veranstaltungen" in answer.text
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "falsch"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"update_id": 1}, headers=wrong) as response,
        ):
            assert response.status == 403
    finally:
        await adapter.stop()
        await ctx.close()


async def test_long_replies_are_split_and_buttons_go_on_the_last_part(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    dora = live_server.create_user("Dora")
    dora.start()
    await live_server.wait_inbox(dora.chat, 1)
    paragraphs = "\n\n".join(f"<b>Abschnitt {i}</b>\n" + "Innenstadt " * 120 for i in range(10))
    reply = Reply(html=paragraphs, buttons=((Button("Mehr", "/termine"),),))
    message_id = await telegram_bot.send(ChatRef("telegram", str(dora.id)), reply)
    parts = dora.chat.inbox[1:]
    assert len(parts) >= 3
    assert all(utf16_len(parse_html(p.raw_text)[0]) <= 4096 for p in parts)
    assert all(p.text.startswith("Abschnitt") for p in parts)
    assert [bool(p.buttons) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert message_id == str(parts[-1].message_id)


async def test_a_429_pauses_only_that_chat(live_server: BotApiServer, telegram_bot: TelegramAdapter) -> None:
    slow, fast = live_server.create_user("Slow"), live_server.create_user("Fast")
    slow.start()
    fast.start()
    await live_server.wait_until(lambda: bool(slow.chat.inbox) and bool(fast.chat.inbox))
    live_server.inject_429(chat=slow.chat, retry_after=2)
    started = time.monotonic()
    finished: dict[str, float] = {}

    async def send(user_chat: Chat, name: str) -> None:
        await telegram_bot.send(ChatRef("telegram", str(user_chat.id)), Reply(html=f"Hallo {name}"))
        finished[name] = time.monotonic() - started

    await asyncio.gather(send(slow.chat, "slow"), send(fast.chat, "fast"))
    assert finished["fast"] < 0.5
    assert finished["slow"] >= 2.0
    assert slow.chat.last.text == "Hallo slow"


async def test_broadcast_through_the_outbox_survives_429_and_403(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    users = [live_server.create_user(f"Mitglied {i}") for i in range(40)]
    blocked = users[:3]
    channel = live_server.create_channel("Stadtretter News", username="stadtretter_news")
    now = bot_ctx.clock.now()
    async with bot_ctx.db.sessions.begin() as session:
        for user in users:
            user.chat  # noqa: B018  (they pressed Start once)
            sender = Person("telegram", str(user.id), user.first_name)
            await ensure_member(session, bot_ctx.db, sender, now=now)
    for user in blocked:
        user.block()
    targets = [ChatRef("telegram", str(u.id)) for u in users] + [ChatRef("telegram", str(channel.id), False)]
    for target in targets:
        await bot_ctx.outbox.enqueue(
            f"digest:2020-39:{target.key}",
            target,
            Reply(html="<b>Wochenrückblick</b>\nNeues aus dem Netzwerk", subject="digest:2020-39"),
            now=now,
        )
    for user in users[5:12]:
        live_server.inject_429(chat=user.chat, retry_after=1)
    live_server.inject_429(chat=channel, retry_after=1, count=2)
    live_server.inject_disconnect(chat=users[20].chat, count=2)
    worker = OutboxWorker(bot_ctx, idle_seconds=0.1)
    worker.start()
    try:
        await live_server.wait_until(
            lambda: all(len(u.chat.inbox) == 1 for u in users[3:]) and len(channel.inbox) == 1, within=30
        )
        await asyncio.sleep(0.5)
    finally:
        await worker.stop()
    assert [len(u.chat.inbox) for u in users] == [0] * 3 + [1] * 37
    assert len(channel.inbox) == 1
    async with bot_ctx.db.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    statuses = sorted(row.status for row in rows)
    assert statuses == ["sent"] * 38 + ["unreachable"] * 3
    for user in blocked:
        member = await find_member(bot_ctx, user.id)
        assert member is not None
        assert member.unreachable_at is not None
    assert telegram_bot.sender.flood_waits >= 9


async def test_forged_button_data_acts_only_for_the_presser(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    anna, mallory = live_server.create_user("Anna"), live_server.create_user("Mallory")
    anna.start(f"anmelden-{SLUG}")
    consent = await next_message(live_server, anna.chat, 0)
    anna.press(consent, "✅ Einverstanden")
    await live_server.wait_until(lambda: bool(consent.edits))
    await live_server.wait_inbox(anna.chat, 2)  # the offer of the weekly overview

    mallory.start()
    await live_server.wait_inbox(mallory.chat, 1)
    query = mallory.forge_press(consent, f"/abmelden {SLUG}")  # Anna's message, Mallory's press
    await live_server.wait_until(lambda: query.answered)
    ignored = mallory.forge_press(mallory.chat.last, "rm -rf /")
    await live_server.wait_until(lambda: ignored.answered)

    anna.send_command("meine")
    mine = await next_message(live_server, anna.chat, 2)
    assert "Vitale Standorte" in mine.text
    assert "bestätigt" in mine.text
    assert consent.text.startswith("✅ Sie sind angemeldet")
    assert len(consent.edits) == 1
    assert len(mallory.chat.inbox) == 1


async def test_a_button_in_a_group_acts_for_the_presser_and_answers_anew(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    group = live_server.create_group()
    anna, bea = live_server.create_user("Anna"), live_server.create_user("Bea")
    anna.send_command("details", SLUG, chat=group)
    details = await next_message(live_server, group, 0)
    query = bea.press(details, "✅ Anmelden")
    answer = await next_message(live_server, group, 1)
    assert query.answered
    assert details.edits == []
    assert "Bevor ich Sie" in answer.text  # Bea's own consent question, not Anna's registration


async def test_a_member_who_blocked_the_bot_is_marked_unreachable(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    erik = live_server.create_user("Erik")
    erik.start()
    await live_server.wait_inbox(erik.chat, 1)
    async with bot_ctx.db.sessions.begin() as session:
        await ensure_member(
            session, bot_ctx.db, Person("telegram", str(erik.id), "Erik"), now=bot_ctx.clock.now()
        )
    erik.block()
    erik.send_command("termine")  # the answer meets 403
    await live_server.wait_until(lambda: live_server.pending_updates == 0)
    for _ in range(50):
        member = await find_member(bot_ctx, erik.id)
        if member is not None and member.unreachable_at is not None:
            break
        await asyncio.sleep(0.05)
    assert member is not None
    assert member.unreachable_at is not None
    from bot.delivery import Unreachable

    with pytest.raises(Unreachable):
        await telegram_bot.send(ChatRef("telegram", str(erik.id)), Reply(html="Hallo"))


async def test_markup_telegram_would_reject_is_made_safe(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    fiona = live_server.create_user("Fiona")
    fiona.start()
    await live_server.wait_inbox(fiona.chat, 1)
    ref = ChatRef("telegram", str(fiona.id))
    await telegram_bot.send(ref, Reply(html="<p>Preis < 5 € & <b>fett</i> <script>x</script>"))
    assert fiona.chat.last.text == "<p>Preis < 5 € & fett <script>x</script>"
    assert fiona.chat.last.entities == [{"type": "bold", "offset": 17, "length": 23}]  # <b> closed at the end


@pytest.mark.postgres
async def test_on_postgresql_answers_record_subjects_and_the_outbox_delivers_once(
    live_server: BotApiServer, tmp_path: Path, pg_url: str
) -> None:
    ctx = await build_context(bot_settings(live_server, tmp_path, database_url=pg_url))
    adapter = TelegramAdapter(ctx.settings, ctx.ports(), limits=SendLimits(scale=5))
    await adapter.start()
    ctx.transports[adapter.platform] = adapter
    worker = OutboxWorker(ctx, idle_seconds=0.1)
    try:
        gina, hans = live_server.create_user("Gina"), live_server.create_user("Hans")
        # Subjects are recorded for the private chats of people who agreed to be stored.
        await ctx.registrations.give_consent(Person("telegram", str(gina.id)))
        gina.send_text("Wann ist der nächste WebTalk?")
        answer = await next_message(live_server, gina.chat, 0)
        ref = ChatRef("telegram", str(gina.id))
        for _ in range(50):
            if await ctx.messages.subject_of(ref, str(answer.message_id)) is not None:
                break
            await asyncio.sleep(0.02)
        assert await ctx.messages.subject_of(ref, str(answer.message_id)) == f"event:{SLUG}"

        hans.chat  # noqa: B018
        hans.block()
        now = ctx.clock.now()
        for user in (gina, hans):
            await ctx.outbox.enqueue(
                f"impulse:2020-40:{user.id}",
                ChatRef("telegram", str(user.id)),
                Reply(html="<b>Impuls der Woche</b>"),
                now=now,
            )
        live_server.inject_429(chat=gina.chat, retry_after=1)
        worker.start()
        await live_server.wait_until(lambda: len(gina.chat.inbox) == 2, within=10)
        await asyncio.sleep(0.3)
        assert gina.chat.texts[-1] == "Impuls der Woche"
        assert hans.chat.inbox == []
    finally:
        await worker.stop()
        await adapter.stop()
        await ctx.close()


async def test_a_rejected_token_is_reported_without_the_token(
    live_server: BotApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.config import ConfigError

    ctx = await build_context(bot_settings(live_server, tmp_path, telegram_token="999:GEHEIM-token"))
    try:
        adapter = TelegramAdapter(ctx.settings, ctx.ports())
        with pytest.raises(ConfigError) as caught:
            await adapter.start()
        assert "GEHEIM" not in str(caught.value)
        assert "GEHEIM" not in caplog.text
        await adapter.stop()
    finally:
        await ctx.close()


def test_network_errors_never_quote_the_token() -> None:
    from bot.platforms.telegram.request import _without_token

    url = "https://api.telegram.org/bot123:GEHEIM/sendMessage"
    assert _without_token(f"Cannot connect to {url}", url) == (
        "Cannot connect to https://api.telegram.org/bot<token>/sendMessage"
    )


async def test_the_sender_keeps_within_the_limits(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    """Limits x5: 3 at once then 5/s per private chat, 100/min per group, 150/s overall; never a 429."""
    ivo = live_server.create_user("Ivo")
    ivo.chat  # noqa: B018
    group = live_server.create_group(bot_is_admin=True)
    others = [live_server.create_user(f"U{i}") for i in range(60)]
    for user in others:
        user.chat  # noqa: B018
    started = time.monotonic()
    await asyncio.gather(
        *(
            telegram_bot.send(ChatRef("telegram", str(ivo.id)), Reply(html=f"Nachricht {i}"))
            for i in range(8)
        ),
        *(
            telegram_bot.send(ChatRef("telegram", str(group.id), False), Reply(html=f"Runde {i}"))
            for i in range(25)
        ),
        *(telegram_bot.send(ChatRef("telegram", str(u.id)), Reply(html="Hallo")) for u in others),
    )
    elapsed = time.monotonic() - started
    assert ivo.chat.texts == [f"Nachricht {i}" for i in range(8)]  # in order
    assert len(group.inbox) == 25
    assert live_server.stats.rate_limited == 0
    assert elapsed >= (8 - 3) / 5  # the private chat's pace, the slowest here


async def test_an_edit_without_changes_is_fine(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    jana = live_server.create_user("Jana")
    jana.chat  # noqa: B018
    ref = ChatRef("telegram", str(jana.id))
    reply = Reply(html="<b>Gleich</b>", buttons=((Button("Los", "/termine"),),))
    first = await telegram_bot.send(ref, reply)
    assert first is not None
    again = await telegram_bot.sender.deliver(ref, reply, edit_message_id=int(first))
    assert again == first
    assert len(jana.chat.inbox) == 1
    assert jana.chat.last.edits == []


async def test_network_errors_are_retried(live_server: BotApiServer, telegram_bot: TelegramAdapter) -> None:
    kai = live_server.create_user("Kai")
    kai.chat  # noqa: B018
    live_server.inject_disconnect(chat=kai.chat, count=3)
    await telegram_bot.send(ChatRef("telegram", str(kai.id)), Reply(html="trotzdem angekommen"))
    assert kai.chat.texts == ["trotzdem angekommen"]


async def test_stopping_right_after_an_answer_keeps_its_subject(
    live_server: BotApiServer, bot_ctx: AppContext
) -> None:
    adapter = TelegramAdapter(bot_ctx.settings, bot_ctx.ports(), limits=SendLimits(scale=5))
    await adapter.start()
    lena = live_server.create_user("Lena")
    await bot_ctx.registrations.give_consent(Person("telegram", str(lena.id)))  # subjects only with consent
    lena.send_text("Wann ist der nächste WebTalk?")
    answer = await next_message(live_server, lena.chat, 0)
    # The shutdown order of bot.app.run: the adapter finishes its updates, then the core writes the rest.
    await adapter.stop()
    await bot_ctx.close()
    ref = ChatRef("telegram", str(lena.id))
    assert await bot_ctx.messages.subject_of(ref, str(answer.message_id)) == f"event:{SLUG}"


async def test_blocking_and_unblocking_is_noticed_without_sending(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    mia = live_server.create_user("Mia")
    async with bot_ctx.db.sessions.begin() as session:
        sender = Person("telegram", str(mia.id), "Mia")
        await ensure_member(session, bot_ctx.db, sender, now=bot_ctx.clock.now())

    async def becomes_unreachable(expected: bool) -> bool:
        for _ in range(100):
            member = await find_member(bot_ctx, mia.id)
            if member is not None and (member.unreachable_at is not None) == expected:
                return True
            await asyncio.sleep(0.02)
        return False

    mia.block()
    assert await becomes_unreachable(True)
    mia.unblock()
    assert await becomes_unreachable(False)
    assert mia.chat.inbox == []


async def test_a_group_upgraded_to_a_supergroup_still_gets_its_messages(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    group = live_server.create_group("Runde", basic=True)
    supergroup = live_server.upgrade_to_supergroup(group)
    ref = ChatRef("telegram", str(group.id), is_private=False)
    await telegram_bot.send(ref, Reply(html="Impuls der Woche"))
    await telegram_bot.send(ref, Reply(html="Wochenrückblick"))
    assert supergroup.texts == ["Impuls der Woche", "Wochenrückblick"]
    assert (
        sum(
            1
            for method, params in live_server.calls
            if method == "sendmessage" and str(params.get("chat_id")) == str(group.id)
        )
        == 1
    )  # the new id is remembered


def register_probe(ctx: AppContext) -> None:
    """A feature as any handler module declares it: a command whose answer is about "probe:1", and one
    decorated function for replies to messages about a probe."""

    async def probe(request: Request, ctx: AppContext) -> list[Reply]:
        return [Reply(html="Probe gestartet", subject="probe:1")]

    async def probe_reply(request: Request, ctx: AppContext) -> list[Reply]:
        return [Reply(html=f"Antwort zu {request.subject}: {request.text}")]

    ctx.router.command("probe", "probe")(probe)
    ctx.router.reply_to("probe")(probe_reply)


async def subject_recorded(ctx: AppContext, chat: ChatRef, message: SentMessage) -> str | None:
    for _ in range(100):  # recorded in the background right after Telegram confirmed the message
        if (subject := await ctx.messages.subject_of(chat, str(message.message_id))) is not None:
            return subject
        await asyncio.sleep(0.02)
    return None


async def test_a_reply_to_our_message_reaches_the_handler_for_its_subject_in_private(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    register_probe(bot_ctx)
    olga = live_server.create_user("Olga")
    await bot_ctx.registrations.give_consent(Person("telegram", str(olga.id)))  # subjects only with consent
    olga.send_command("probe")
    started = await next_message(live_server, olga.chat, 0)
    assert started.text == "Probe gestartet"
    assert await subject_recorded(bot_ctx, ChatRef("telegram", str(olga.id)), started) == "probe:1"

    olga.send_text("ja, gern", reply_to=started)
    answer = await next_message(live_server, olga.chat, 1)
    assert answer.text == "Antwort zu probe:1: ja, gern"


async def test_a_reply_to_our_message_in_a_group_is_answered_without_mention_or_command(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    register_probe(bot_ctx)
    group = live_server.create_group()  # no privacy mode: the bot sees every message and must choose
    anna, bea = live_server.create_user("Anna"), live_server.create_user("Bea")
    anna.send_command("probe", chat=group)
    started = await next_message(live_server, group, 0)
    group_ref = ChatRef("telegram", str(group.id), is_private=False)
    assert await subject_recorded(bot_ctx, group_ref, started) == "probe:1"

    said = bea.send_text("danke euch allen", chat=group)  # plain: not for the bot
    anna.send_text("gern geschehen", chat=group, reply_to=said)  # a reply, but not to the bot
    bea.send_text("ich bin dabei", chat=group, reply_to=started)  # a reply to the bot: for the bot
    answer = await next_message(live_server, group, 1)  # updates of one chat are handled in order
    assert answer.text == "Antwort zu probe:1: ich bin dabei"
    await asyncio.sleep(0.3)
    assert len(group.inbox) == 2
    assert live_server.pending_updates == 0


async def outbox_row(ctx: AppContext, key: str) -> OutboxMessage | None:
    async with ctx.db.sessions() as session:
        return await session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


async def test_an_answer_refused_with_a_long_429_is_deferred_and_delivered_once(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    nora = live_server.create_user("Nora")
    nora.start()
    await live_server.wait_inbox(nora.chat, 1)
    sender = telegram_bot.sender
    sender.max_flood_wait = 1.0  # Telegram asks for 3 s below: longer than the sender waits
    live_server.inject_429(chat=nora.chat, retry_after=3)
    request = nora.send_command("termine")
    key = f"telegram-answer:{nora.id}:{request['message_id']}:0"
    for _ in range(100):
        if (row := await outbox_row(bot_ctx, key)) is not None:
            break
        await asyncio.sleep(0.02)
    assert row is not None
    assert (row.status, row.attempts, row.is_private) == ("pending", 0, True)
    assert len(nora.chat.inbox) == 1

    assert row.not_before >= bot_ctx.clock.now() + timedelta(seconds=2)  # no earlier than Telegram asked

    worker = OutboxWorker(bot_ctx, idle_seconds=0.1)
    await worker.drain_once()  # not due yet: nothing is claimed, nothing sent
    row = await outbox_row(bot_ctx, key)
    assert row is not None and (row.status, row.attempts) == ("pending", 0)
    assert len(nora.chat.inbox) == 1

    state = sender.pacer.chat(str(nora.id), is_private=True)
    await asyncio.sleep(sender.pacer.paused_for(state) + 0.05)
    bot_ctx.clock.fixed = bot_ctx.clock.now() + timedelta(seconds=10)
    await worker.drain_once()
    await worker.drain_once()
    assert len(nora.chat.inbox) == 2
    assert "Kommende Veranstaltungen" in nora.chat.last.text
    row = await outbox_row(bot_ctx, key)
    assert row is not None and row.status == "sent"
    assert row.platform_message_id == str(nora.chat.last.message_id)
    assert sum(1 for method, _ in live_server.calls if method == "sendmessage") == 3  # start, 429, outbox
    assert row.attempts == 1


async def test_the_adapter_announces_the_bots_username(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    link = bot_ctx.telegram_link("anmelden-webtalk-vitale-standorte")
    assert link == f"https://t.me/{live_server.bot_username}?start=anmelden-webtalk-vitale-standorte"


async def test_an_english_speaker_pressing_buttons_keeps_english(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    # Telegram's interface is German, the member writes English: the typed words decide, and the German
    # command words behind the buttons never switch the answers back.
    mary = live_server.create_user("Mary", language_code="de")
    chat = mary.chat
    mary.send_text("register Thinius please")
    consent = await next_message(live_server, chat, 0)
    assert consent.buttons[0][0] == ("✅ I agree", "/einwilligen webtalk-groesste-zukunft")
    mary.press(consent, "✅ I agree")
    await live_server.wait_until(lambda: bool(consent.edits))
    assert consent.text.startswith("✅ You are registered for Die größte Zukunft aller Zeiten")
    assert consent.button_labels == ["📅 Calendar", "❌ Cancel"]
    mary.press(consent, "❌ Cancel")
    await live_server.wait_until(lambda: len(consent.edits) >= 2)
    assert "cancelled" in consent.text
