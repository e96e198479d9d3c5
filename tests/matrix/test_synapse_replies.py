"""Replies and reactions on Matrix reach the core's handlers for what a message is about, against Synapse.

The adapter reports facts (a reply to one of the bot's messages, a reaction); the core decides whether a
group message is meant for the bot and which handler answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.chat import ChatRef, Incoming, Kind, MessageRef, Reply
from bot.notices import Notices
from bot.router import Request
from tests.matrix.helpers import (
    accept_invites,
    collect_events,
    create_room,
    from_bot,
    react,
    relation,
    say,
    sync_once,
    wait_for_event,
    wait_joined,
)
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse

QUESTION = "Wann ist der nächste WebTalk?"
SLUG = "webtalk-vitale-standorte"


async def _user(synapse: Synapse, stores: Path, clients: list[Any]) -> Any:
    client = await synapse.client(store=stores)
    clients.append(client)
    return client


def body(event: Any) -> str:
    return str(event.source["content"]["body"])


async def _group(synapse: Synapse, stores: Path, clients: list[Any], bot: Any) -> tuple[Any, Any, str]:
    """Anna's group room with Ben and the bot (three members, so not a direct chat)."""
    anna = await _user(synapse, stores, clients)
    ben = await _user(synapse, stores, clients)
    room_id = await create_room(
        anna, [bot.user_id, ben.user_id], direct=False, encrypted=False, name="Gruppe"
    )
    await accept_invites(ben)
    await wait_joined(anna, room_id, bot.user_id)
    await wait_joined(anna, room_id, ben.user_id)
    return anna, ben, room_id


async def rich_reply(client: Any, room_id: str, event_id: str, text: str) -> str:
    """A rich reply (m.in_reply_to) without a mention or a command."""
    return await say(client, room_id, text, **{"m.relates_to": {"m.in_reply_to": {"event_id": event_id}}})


def text_is(text: str) -> Any:
    return lambda incoming: incoming.text == text


async def test_reply_to_our_message_about_a_subject_reaches_its_handler(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    router = bot.core.router

    # One command whose answer is about "probe:1", one decorated handler for replies to such answers.
    @router.command("probe", "probe", hidden=True)
    async def probe(req: Request, ctx: Any) -> list[Reply]:
        return [Reply("Worauf antworten Sie?", subject="probe:1")]

    @router.reply_to("probe")
    async def on_probe_reply(req: Request, ctx: Any) -> list[Reply]:
        return [Reply(f"Antwort zu {req.subject}: {req.text}")]

    anna, _, room_id = await _group(synapse, stores, clients, bot)
    await say(anna, room_id, "!probe")
    question = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert body(question) == "Worauf antworten Sie?"

    reply = await rich_reply(anna, room_id, question.event_id, "Auf die Probe")
    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert body(answer) == "Antwort zu probe:1: Auf die Probe"
    assert relation(answer) == {"m.in_reply_to": {"event_id": reply}}
    replied = bot.recording.seen[-1]
    assert (replied.kind, replied.mentioned) == (Kind.REPLY, False)
    assert replied.reply_to == MessageRef(ChatRef("matrix", room_id, False), question.event_id, from_bot=True)

    # A plain message in the room is not for the bot: the core gets it and answers nothing.
    await say(anna, room_id, "Und jetzt etwas ganz anderes")
    assert await bot.recording.handled(text_is("Und jetzt etwas ganz anderes")) == []
    assert await collect_events(anna, room_id, 2.0, from_bot(bot.user_id)) == []


def forget_sent_messages(store_dir: Path) -> None:
    """Empty the adapter's memory of its sent messages (as after losing or pruning the local store)."""
    with contextlib.closing(sqlite3.connect(store_dir / "state.sqlite3")) as db:
        db.execute("DELETE FROM sent")
        db.commit()


async def test_reaction_without_known_buttons_runs_the_command_for_the_messages_subject(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna, ben, room_id = await _group(synapse, stores, clients, bot)
    await say(anna, room_id, f"!details {SLUG}")
    card = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert "✅ Anmelden" in body(card)
    await asyncio.to_thread(forget_sent_messages, bot.store_dir)

    # ✅ on the event card: the core finds what the card is about and registers Ben (who is asked first).
    await sync_once(ben)
    await react(ben, room_id, card.event_id, "✅")
    ((direct, inviter),) = await accept_invites(ben)
    assert inviter == bot.user_id
    consent = await wait_for_event(ben, direct, from_bot(bot.user_id))
    assert "einverstanden" in body(consent)
    reaction = bot.recording.seen[-1]
    assert (reaction.kind, reaction.text, reaction.sender.id) == (Kind.REACTION, "✅", ben.user_id)
    assert reaction.reply_to == MessageRef(ChatRef("matrix", room_id, False), card.event_id)

    # An emoji no command reacts to reaches the core and is answered with nothing, anywhere.
    await react(ben, room_id, card.event_id, "👍")
    assert await bot.recording.handled(text_is("👍")) == []
    assert await collect_events(ben, direct, 2.0, from_bot(bot.user_id)) == []
    assert await collect_events(anna, room_id, 0.5, from_bot(bot.user_id)) == []


async def test_reaction_that_is_not_a_button_of_a_pushed_reminder(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)
    core = bot.core
    (event,) = core.events.resolve(SLUG, now=core.clock.now(), tz=core.settings.tz)
    reminder = Notices(core.renderer).reminder("de", event)  # its only button is 📅
    sent = await bot.send(ChatRef("matrix", room_id, True), reminder)
    pushed = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert pushed.event_id == sent

    await react(anna, room_id, sent, "✅")
    consent = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert "einverstanden" in body(consent)
    assert relation(consent) == {"m.in_reply_to": {"event_id": sent}}
    reaction: Incoming = bot.recording.seen[-1]
    assert (reaction.kind, reaction.text) == (Kind.REACTION, "✅")
    assert reaction.reply_to == MessageRef(ChatRef("matrix", room_id, True), sent, from_bot=True)

    # 📅 is the reminder's own button: a press.
    await react(anna, room_id, sent, "📅")
    await wait_for_event(anna, room_id, from_bot(bot.user_id, msgtype="m.file"))
    pressed = bot.recording.seen[-1]
    assert (pressed.kind, pressed.text) == (Kind.BUTTON, f"/ics {SLUG}")


async def test_reply_to_a_plain_answer_in_a_group_is_for_the_bot(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna, ben, room_id = await _group(synapse, stores, clients, bot)
    await say(anna, room_id, "!hilfe")
    help_answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))

    # The help text is about nothing in particular; a reply to it is still a reply to the bot.
    reply = await rich_reply(anna, room_id, help_answer.event_id, QUESTION)
    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(answer) == {"m.in_reply_to": {"event_id": reply}}
    assert "Vitale Standorte" in body(answer)
    replied = bot.recording.seen[-1]
    assert replied.reply_to is not None and replied.reply_to.from_bot

    # A reply to a member's message is the members' conversation.
    await sync_once(ben)
    await rich_reply(ben, room_id, reply, "Gute Frage, " + QUESTION)
    to_member = await bot.recording.handled(text_is("Gute Frage, " + QUESTION))
    assert to_member == []
    assert bot.recording.seen[-1].reply_to == MessageRef(ChatRef("matrix", room_id, False), reply)
    assert await collect_events(anna, room_id, 2.0, from_bot(bot.user_id)) == []
