"""The impulse discussion on Telegram end to end: a channel with its discussion group, and a group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.chat import ChatRef
from bot.context import AppContext
from bot.db.models import TargetKind, TargetStatus
from bot.platforms.telegram import TelegramAdapter
from scheduler.jobs import post_due_impulses
from scheduler.outbox import OutboxWorker
from tests.telegram_api import BotApiServer

pytestmark = [
    pytest.mark.telegram,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]
SLUG = "2020-09-28-thinius"


async def until(check: Callable[[], Awaitable[bool] | bool], worker: OutboxWorker, what: str) -> None:
    """Deliver what the outbox holds until `check` holds (the adapter takes updates in meanwhile)."""
    deadline = time.monotonic() + 5
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        assert time.monotonic() < deadline, what
        await worker.drain_once()
        await asyncio.sleep(0.05)


async def test_a_comment_under_the_channel_post_and_a_reply_in_the_group_are_one_conversation(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    channel = live_server.create_channel("Stadtretter News")
    discussion = live_server.create_group("Stadtretter News – Diskussion", bot_is_admin=True)
    live_server.link_discussion(channel, discussion)
    group = live_server.create_group("Runde Nord")  # privacy mode: the bot sees replies to it
    now = bot_ctx.clock.now()
    for chat, kind in ((channel, TargetKind.CHANNEL), (group, TargetKind.GROUP)):
        ref = ChatRef("telegram", str(chat.id), is_private=False)
        await bot_ctx.overview.set_chat(ref, kind=kind, status=TargetStatus.ACTIVE, now=now)
    worker = OutboxWorker(bot_ctx)

    assert await post_due_impulses(bot_ctx) == [(SLUG, 2)]
    await until(lambda: len(channel.inbox) >= 1, worker, "channel 1")
    await until(lambda: len(group.inbox) >= 1, worker, "group 1")
    post, group_post = channel.inbox[0], group.inbox[0]
    assert "Muss die Stadt gerettet werden?" in post.text and "Wochenübersicht zitiert" in post.text
    forward = discussion.forwards[post.message_id]
    channel_ref = ChatRef("telegram", str(channel.id), is_private=False)

    async def forwarded() -> bool:
        return bool(await bot_ctx.messages.copies_of(channel_ref, str(post.message_id)))

    await until(forwarded, worker, "the automatic forward was not reported")

    # Anna comments on the channel post: her comment appears once in the group, under the bot's post.
    anna = live_server.create_user("Anna", username=None)
    comment = anna.comment(post, "Die Stadt rettet sich selbst!")
    await until(lambda: len(group.inbox) >= 2, worker, "group 2")
    copy = group.inbox[1]
    assert copy.text == "💬 Anna (Telegram): Die Stadt rettet sich selbst!"
    assert copy.reply_to_message_id == group_post.message_id
    assert discussion.inbox == []  # never back where it came from

    # Ben answers the bot's post in the group: it appears under the channel post's forward.
    ben = live_server.create_user("Ben")
    ben.send_text("Bei uns in Kassel auch.", chat=group, reply_to=group_post)
    await until(lambda: len(discussion.inbox) >= 1, worker, "discussion 1")
    assert discussion.inbox[0].text == "💬 Ben (Telegram): Bei uns in Kassel auch."
    assert discussion.inbox[0].reply_to_message_id == forward

    # Anna edits her comment: the copy in the group changes with it.
    anna.edit(comment, "Die Stadt rettet sich selbst – mit Hilfe!")
    await until(lambda: bool(copy.edits), worker, "edit")
    assert copy.text == "💬 Anna (Telegram) (bearbeitet): Die Stadt rettet sich selbst – mit Hilfe!"

    # A manager hides Ben's contribution by answering its copy: the copy goes, Ben's message stays.
    maria = live_server.create_user("Maria")
    bot_ctx.settings.managers.append(f"telegram:{maria.id}")
    maria.send_text("/verbergen", chat=discussion, reply_to=discussion.inbox[0])
    await until(lambda: bool(discussion.inbox[0].deleted), worker, "hidden")
    assert discussion.inbox[0].deleted
    assert "verborgen" in discussion.inbox[-1].text
    assert [m.deleted for m in group.inbox[:2]] == [False, False]

    # Past Telegram's 48 hours a copy cannot be deleted: its text is replaced instead.
    copy.date -= 3 * 24 * 3600
    maria.send_text("/verbergen", chat=group, reply_to=copy)
    await until(lambda: bool(copy.text.startswith("(")), worker, "replaced")
    assert copy.text == "(Beitrag entfernt)" and not copy.deleted
