"""What the adapter reports to the core for a Telegram message, and the per-chat order of updates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Message, Update

from bot.chat import Kind
from bot.platforms.telegram import TelegramAdapter
from bot.platforms.telegram.updates import OnePerChat
from tests.telegram_api import BotApiServer
from tests.telegram_api.entities import utf16_len

pytestmark = pytest.mark.telegram

GROUP = {"id": -1001000000001, "type": "supergroup", "title": "Runde"}
ANNA = {"id": 10000001, "is_bot": False, "first_name": "Anna", "language_code": "de"}


def message(
    adapter: TelegramAdapter, text: str, *, chat: dict[str, Any] = GROUP, caption: bool = False, **extra: Any
) -> Message:
    """A message as Telegram's clients send it: a bot_command entity at the start, @mentions."""
    entities = []
    if text.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(text.split()[0])})
    for word in text.split():
        if word.startswith("@"):
            offset = utf16_len(text[: text.index(word)])
            entities.append({"type": "mention", "offset": offset, "length": utf16_len(word)})
    data: dict[str, Any] = {"message_id": 7, "date": 0, "chat": chat, "from": ANNA, **extra}
    if caption:
        data |= {
            "caption": text,
            "caption_entities": entities,
            "document": {"file_id": "f", "file_unique_id": "u"},
        }
    else:
        data |= {"text": text, "entities": entities}
    return Message.de_json(data, adapter.application.bot)


def test_own_bot_name_is_removed_and_other_bots_commands_are_not_ours(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    own = message(telegram_bot, "/termine@Stadtretter_Test_Bot morgen")
    incoming = telegram_bot.to_incoming(own)
    assert incoming is not None
    assert (incoming.text, incoming.kind, incoming.mentioned) == ("/termine morgen", Kind.MESSAGE, False)
    assert incoming.chat.is_private is False
    assert telegram_bot.to_incoming(message(telegram_bot, "/termine@other_bot")) is None
    private = {"id": ANNA["id"], "type": "private", "first_name": "Anna"}
    assert telegram_bot.to_incoming(message(telegram_bot, "/start@other_bot", chat=private)) is None
    in_caption = telegram_bot.to_incoming(
        message(telegram_bot, "/details@stadtretter_test_bot webtalk", caption=True)
    )
    assert in_caption is not None and in_caption.text == "/details webtalk"


def test_a_mention_is_a_fact_and_leaves_the_text(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    incoming = telegram_bot.to_incoming(message(telegram_bot, "@stadtretter_test_bot Wann ist der WebTalk?"))
    assert incoming is not None
    assert (incoming.text, incoming.mentioned) == ("Wann ist der WebTalk?", True)
    other = telegram_bot.to_incoming(message(telegram_bot, "@bea kommst du auch?"))
    assert other is not None
    assert (other.text, other.mentioned) == ("@bea kommst du auch?", False)
    plain = telegram_bot.to_incoming(message(telegram_bot, "danke euch allen"))
    assert plain is not None and (plain.kind, plain.mentioned, plain.reply_to) == (Kind.MESSAGE, False, None)


def test_a_reply_names_the_message_and_whether_the_bot_wrote_it(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    ours = {
        "message_id": 5,
        "date": 0,
        "chat": GROUP,
        "text": "Probe",
        "from": {"id": live_server.bot_id, "is_bot": True, "first_name": "Stadtretter"},
    }
    theirs = {"message_id": 6, "date": 0, "chat": GROUP, "text": "Hallo", "from": ANNA}
    to_us = telegram_bot.to_incoming(message(telegram_bot, "ich bin dabei", reply_to_message=ours))
    assert to_us is not None and to_us.kind is Kind.REPLY and to_us.reply_to is not None
    assert (to_us.reply_to.message_id, to_us.reply_to.from_bot) == ("5", True)
    assert to_us.reply_to.chat == to_us.chat
    to_anna = telegram_bot.to_incoming(message(telegram_bot, "gern", reply_to_message=theirs))
    assert to_anna is not None and to_anna.reply_to is not None
    assert (to_anna.kind, to_anna.reply_to.from_bot) == (Kind.REPLY, False)


def test_a_message_in_a_forum_topic_is_no_reply_to_the_topic(
    live_server: BotApiServer, telegram_bot: TelegramAdapter
) -> None:
    topic = {
        "message_id": 40,
        "date": 0,
        "chat": GROUP,
        "from": ANNA,
        "message_thread_id": 40,
        "forum_topic_created": {"name": "Termine", "icon_color": 7322096},
    }
    incoming = telegram_bot.to_incoming(
        message(
            telegram_bot,
            "Wann ist der WebTalk?",
            message_thread_id=40,
            is_topic_message=True,
            reply_to_message=topic,
        )
    )
    assert incoming is not None
    assert (incoming.kind, incoming.reply_to) == (Kind.MESSAGE, None)
    assert incoming.message is not None and incoming.message.thread_id == "40"


def update(update_id: int, chat_id: int) -> Update:
    chat = {"id": chat_id, "type": "private", "first_name": "X"}
    return Update(
        update_id, message=Message.de_json({"message_id": update_id, "date": 0, "chat": chat}, None)
    )


async def test_updates_run_in_order_per_chat_and_concurrently_across_chats() -> None:
    processor = OnePerChat(16)
    done: list[str] = []
    gate = asyncio.Event()

    async def work(name: str, *, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        await asyncio.sleep(0)
        done.append(name)

    first = asyncio.create_task(processor.process_update(update(1, 1), work("a1", wait=True)))
    await asyncio.sleep(0)
    later = [asyncio.create_task(processor.process_update(update(i, 1), work(f"a{i}"))) for i in (2, 3)]
    other = asyncio.create_task(processor.process_update(update(4, 2), work("b")))
    await other
    assert done == ["b"]  # chat 2 did not wait for chat 1
    assert processor.chats_in_progress == 1  # chat 1: one update running, two waiting
    gate.set()
    await asyncio.gather(first, *later)
    assert done == ["b", "a1", "a2", "a3"]
    assert processor.chats_in_progress == 0


async def test_a_cancelled_update_does_not_leave_its_chat_behind() -> None:
    processor = OnePerChat(16)
    blocker = asyncio.Event()
    running = asyncio.create_task(processor.process_update(update(1, 1), blocker.wait()))
    await asyncio.sleep(0)
    never_run = asyncio.sleep(0)
    waiting = asyncio.create_task(processor.process_update(update(2, 1), never_run))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    never_run.close()
    assert processor.chats_in_progress == 1
    blocker.set()
    await running
    assert processor.chats_in_progress == 0
