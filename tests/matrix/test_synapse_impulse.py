"""The impulse discussion on Matrix against Synapse: a plain room and an encrypted room hold one
conversation in the post's thread; edits (m.replace) and redactions follow into the copies."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from nio import RedactionEvent

from bot.chat import ChatRef
from bot.db.models import TargetKind, TargetStatus
from scheduler.jobs import post_due_impulses
from scheduler.outbox import OutboxWorker
from tests.matrix.helpers import collect_events, create_room, relation, say, wait_for_event, wait_joined
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse
SLUG = "2020-09-28-thinius"


def body(event: Any) -> str:
    return str(event.source.get("content", {}).get("body", ""))


def bot_says(bot_id: str, start: str) -> Any:
    return lambda event: event.sender == bot_id and body(event).startswith(start)


def in_thread(root: str, *, reply_to: str | None = None) -> dict[str, Any]:
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or root},
        }
    }


async def test_thread_replies_edits_and_redactions_cross_a_plain_and_an_encrypted_room(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    core = bot.core
    core.transports["matrix"] = bot
    anna = await synapse.client(store=stores)
    ben = await synapse.client(store=stores)
    clients.extend([anna, ben])
    plain = await create_room(anna, [bot.user_id], direct=False, encrypted=False, name="Runde offen")
    secret = await create_room(ben, [bot.user_id], direct=False, encrypted=True, name="Runde vertraulich")
    await wait_joined(anna, plain, bot.user_id)
    await wait_joined(ben, secret, bot.user_id)
    for room in (plain, secret):
        await core.overview.set_chat(
            ChatRef("matrix", room, is_private=False),
            kind=TargetKind.ROOM,
            status=TargetStatus.ACTIVE,
            now=core.clock.now(),
        )
    worker = OutboxWorker(core, idle_seconds=0.05)
    worker.start()
    try:
        assert await post_due_impulses(core) == [(SLUG, 2)]
        post_plain = (await wait_for_event(anna, plain, bot_says(bot.user_id, "💡"))).event_id
        post_secret = (await wait_for_event(ben, secret, bot_says(bot.user_id, "💡"))).event_id

        # Anna writes in the post's thread; her words appear in the encrypted room's thread.
        said = await say(anna, plain, "Die Stadt rettet sich selbst!", **in_thread(post_plain))
        copy = await wait_for_event(ben, secret, bot_says(bot.user_id, "💬"))
        assert body(copy).endswith("(Matrix): Die Stadt rettet sich selbst!")
        assert relation(copy)["rel_type"] == "m.thread" and relation(copy)["event_id"] == post_secret

        # Ben answers that copy in the thread: the answer reaches Anna's room as a reply to her message.
        await say(ben, secret, "Mit Hilfe der Nachbarn.", **in_thread(post_secret, reply_to=copy.event_id))
        answer = await wait_for_event(anna, plain, bot_says(bot.user_id, "💬"))
        assert body(answer).endswith("(Matrix): Mit Hilfe der Nachbarn.")
        assert relation(answer)["event_id"] == post_plain
        assert relation(answer)["m.in_reply_to"] == {"event_id": said}
        assert relation(answer)["is_falling_back"] is False

        # Anna edits her message: the copy is edited (m.replace) in the encrypted room.
        await say(
            anna,
            plain,
            "* Die Stadt rettet sich selbst – gemeinsam!",
            **{
                "m.new_content": {"msgtype": "m.text", "body": "Die Stadt rettet sich selbst – gemeinsam!"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": said},
            },
        )
        edit = await wait_for_event(ben, secret, bot_says(bot.user_id, "* 💬"))
        assert relation(edit) == {"rel_type": "m.replace", "event_id": copy.event_id}
        assert "gemeinsam!" in edit.source["content"]["m.new_content"]["body"]

        # Anna redacts it: the copy is redacted too.
        await anna.room_redact(plain, said)
        redaction = await wait_for_event(
            ben, secret, lambda e: isinstance(e, RedactionEvent) and e.sender == bot.user_id
        )
        assert redaction.redacts == copy.event_id
    finally:
        await worker.stop()


@pytest.mark.telegram
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_one_core_with_both_adapters_keeps_one_conversation(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, tmp_path: Path
) -> None:
    from bot.platforms.telegram import TelegramAdapter
    from bot.platforms.telegram.limits import SendLimits
    from tests.telegram.conftest import bot_settings
    from tests.telegram_api import BotApiServer, Limits

    bot = await make_bot()
    core = bot.core
    core.transports["matrix"] = bot
    server = BotApiServer(limits=Limits(enabled=False))
    await server.start()
    telegram = TelegramAdapter(bot_settings(server, tmp_path), core.ports(), limits=SendLimits(scale=50))
    await telegram.start()
    core.transports["telegram"] = telegram
    worker = OutboxWorker(core, idle_seconds=0.05)
    worker.start()
    try:
        channel = server.create_channel("Stadtretter News")
        discussion = server.create_group("Stadtretter News – Diskussion", bot_is_admin=True)
        server.link_discussion(channel, discussion)
        ben = await synapse.client(store=stores)
        clients.append(ben)
        room = await create_room(ben, [bot.user_id], direct=False, encrypted=True, name="Runde")
        await wait_joined(ben, room, bot.user_id)
        now = core.clock.now()
        await core.overview.set_chat(
            ChatRef("telegram", str(channel.id), is_private=False),
            kind=TargetKind.CHANNEL,
            status=TargetStatus.ACTIVE,
            now=now,
        )
        await core.overview.set_chat(
            ChatRef("matrix", room, is_private=False),
            kind=TargetKind.ROOM,
            status=TargetStatus.ACTIVE,
            now=now,
        )
        assert await post_due_impulses(core) == [(SLUG, 2)]
        post_room = (await wait_for_event(ben, room, bot_says(bot.user_id, "💡"))).event_id
        await server.wait_until(lambda: len(channel.inbox) == 1 and bool(discussion.forwards))
        post = channel.inbox[0]
        forward = discussion.forwards[post.message_id]
        channel_ref = ChatRef("telegram", str(channel.id), is_private=False)
        for _ in range(100):
            if await core.messages.copies_of(channel_ref, str(post.message_id)):
                break
            await asyncio.sleep(0.05)

        # A Telegram comment appears once in the Matrix thread ...
        anna = server.create_user("Anna")
        anna.comment(post, "Die Stadt rettet sich selbst!")
        copies = await collect_events(ben, room, 15, bot_says(bot.user_id, "💬"), expect=1, settle=2.0)
        assert [body(e) for e in copies] == ["💬 Anna (Telegram): Die Stadt rettet sich selbst!"]
        assert relation(copies[0])["event_id"] == post_room

        # ... and a Matrix thread reply appears once under the Telegram post (its forward's comments).
        await say(ben, room, "Mit Hilfe der Nachbarn.", **in_thread(post_room))
        await server.wait_until(lambda: len(discussion.inbox) >= 1, within=15)
        await asyncio.sleep(1.0)  # long enough for a duplicate to show up
        assert [
            (m.text.endswith("(Matrix): Mit Hilfe der Nachbarn."), m.reply_to_message_id)
            for m in discussion.inbox
        ] == [(True, forward)]
        assert len(channel.inbox) == 1  # nothing posted into the channel itself
    finally:
        await worker.stop()
        await telegram.stop()
        await server.stop()
