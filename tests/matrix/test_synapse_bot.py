"""The Matrix adapter against a real Synapse: invites, direct chats (plain and encrypted), groups, threads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from nio import RoomGetStateEventResponse, RoomMessageNotice

from bot.chat import ChatRef, Kind, MessageRef, Reply
from bot.delivery import Unreachable
from tests.matrix.helpers import (
    accept_invites,
    create_room,
    download,
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


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_direct_chat_question_is_answered(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, encrypted: bool
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=encrypted)
    await wait_joined(anna, room_id, bot.user_id)

    await say(anna, room_id, QUESTION)

    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert isinstance(answer, RoomMessageNotice)
    assert answer.decrypted is encrypted
    content = answer.source["content"]
    assert "Vitale Standorte" in content["body"]
    assert "<b>" not in content["body"]
    assert content["format"] == "org.matrix.custom.html"
    assert "<b>Vitale Standorte" in content["formatted_body"]
    assert "\n" not in content["formatted_body"]
    # The buttons become hints: react with the emoji.
    assert content["body"].endswith("✅ Anmelden · 📅 Kalender · ℹ️ Details")
    assert "m.relates_to" not in content

    await say(anna, room_id, "!hilfe")
    help_text = body(await wait_for_event(anna, room_id, from_bot(bot.user_id)))
    assert "!termine" in help_text
    assert "/termine" not in help_text


async def test_invite_from_disallowed_user_is_declined(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    anna = await _user(synapse, stores, clients)
    mallory = await _user(synapse, stores, clients)
    bot = await make_bot(allowed=[anna.user_id])

    foreign = await create_room(mallory, [bot.user_id], direct=True, encrypted=False)
    welcome = await create_room(anna, [bot.user_id], direct=True, encrypted=False)

    await wait_joined(anna, welcome, bot.user_id)
    await wait_for_membership(mallory, foreign, bot.user_id, "leave")
    assert foreign not in bot.client.rooms


async def wait_for_membership(client: Any, room_id: str, user_id: str, membership: str) -> None:
    for _ in range(100):
        response = await client.room_get_state_event(room_id, "m.room.member", user_id)
        content = response.content if isinstance(response, RoomGetStateEventResponse) else {}
        if content.get("membership") == membership:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user_id} never reached {membership} in {room_id}")


async def test_bot_leaves_room_where_it_is_alone(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=False)
    await wait_joined(anna, room_id, bot.user_id)

    await anna.room_leave(room_id)

    for _ in range(100):
        if room_id not in bot.client.rooms:
            break
        await asyncio.sleep(0.1)
    assert room_id not in bot.client.rooms


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_group_room_commands_mentions_files_and_reactions(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, encrypted: bool
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    ben = await _user(synapse, stores, clients)
    room_id = await create_room(
        anna, [bot.user_id, ben.user_id], direct=False, encrypted=encrypted, name="Stadtretter Netzwerk"
    )
    await accept_invites(ben)
    await wait_joined(anna, room_id, bot.user_id)
    await wait_joined(anna, room_id, ben.user_id)

    # Chatter is not for the bot; a command is, and is answered as a reply to it.
    await say(anna, room_id, "Hallo zusammen, wer kommt am Freitag?")
    await say(anna, room_id, "!ping")  # another bot's command
    command = await say(anna, room_id, f"!anmelden {SLUG}")
    consent = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(consent) == {"m.in_reply_to": {"event_id": command}}
    assert "einverstanden" in body(consent)
    await say(anna, room_id, f"!einwilligen {SLUG}")
    registered = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert "Sie sind angemeldet" in body(registered)

    # The calendar file is uploaded (encrypted in encrypted rooms) and sent as m.file.
    await say(anna, room_id, f"!kalender {SLUG}")
    attachment = await wait_for_event(anna, room_id, from_bot(bot.user_id, msgtype="m.file"))
    content = attachment.source["content"]
    assert content["body"] == f"{SLUG}.ics"
    if encrypted:
        from nio.crypto import decrypt_attachment

        assert "url" not in content
        secret = content["file"]
        data = decrypt_attachment(
            await download(anna, secret["url"]), secret["key"]["k"], secret["hashes"]["sha256"], secret["iv"]
        )
    else:
        data = await download(anna, content["url"])
    assert data.startswith(b"BEGIN:VCALENDAR")

    # A mention (pill with m.mentions) is a question to the bot; the mention is not part of the question.
    pill = f'<a href="https://matrix.to/#/{bot.user_id}">stadtretter</a>'
    mention = await say(
        anna,
        room_id,
        f"stadtretter: {QUESTION}",
        format="org.matrix.custom.html",
        formatted_body=f"{pill}: {QUESTION}",
        **{"m.mentions": {"user_ids": [bot.user_id]}},
    )
    card = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(card) == {"m.in_reply_to": {"event_id": mention}}
    assert "Vitale Standorte" in body(card)

    # Every member message reaches the core, which answers ours and ignores the rest.
    calls = [(i.text, i.kind, i.mentioned, bool(replies)) for i, replies in bot.recording.calls]
    assert calls == [
        ("Hallo zusammen, wer kommt am Freitag?", Kind.MESSAGE, False, False),
        ("!ping", Kind.MESSAGE, False, False),
        (f"!anmelden {SLUG}", Kind.MESSAGE, False, True),
        (f"!einwilligen {SLUG}", Kind.MESSAGE, False, True),
        (f"!kalender {SLUG}", Kind.MESSAGE, False, True),
        (QUESTION, Kind.MESSAGE, True, True),
    ]

    # Ben registers by reacting ✅ to the event card; the consent question reaches him in a direct chat,
    # he agrees by reacting ✅ there, and the question turns into the confirmation (an edit).
    await sync_once(ben)
    await react(ben, room_id, card.event_id, "✅")
    ((direct, inviter),) = await accept_invites(ben)
    assert inviter == bot.user_id
    question = await wait_for_event(ben, direct, from_bot(bot.user_id))
    assert "einverstanden" in body(question)
    await react(ben, direct, question.event_id, "✅")
    edit = await wait_for_event(
        ben, direct, lambda e: e.sender == bot.user_id and relation(e).get("rel_type") == "m.replace"
    )
    assert relation(edit)["event_id"] == question.event_id
    assert "Sie sind angemeldet" in edit.source["content"]["m.new_content"]["body"]
    pressed = [(i.text, i.reply_to, i.sender.id) for i in bot.recording.seen if i.is_button]
    assert pressed == [
        (
            f"/rsvp {SLUG}",
            MessageRef(ChatRef("matrix", room_id, False), card.event_id, from_bot=True),
            ben.user_id,
        ),
        (
            f"/einwilligen {SLUG}",
            MessageRef(ChatRef("matrix", direct, True), question.event_id, from_bot=True),
            ben.user_id,
        ),
    ]


async def test_thread_question_is_answered_in_the_thread(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)
    root = await say(anna, room_id, "!termine")
    await wait_for_event(anna, room_id, from_bot(bot.user_id))

    question = await say(
        anna,
        room_id,
        QUESTION,
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        },
    )

    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    rel = relation(answer)
    assert (rel["rel_type"], rel["event_id"]) == ("m.thread", root)
    assert "Vitale Standorte" in body(answer)
    # Thread membership is visible in the message; a message in a thread is not a reply.
    in_thread = bot.recording.seen[-1]
    assert in_thread.message == MessageRef(ChatRef("matrix", room_id, True), question, root)
    assert (in_thread.kind, in_thread.reply_to) == (Kind.MESSAGE, None)

    # A reply (outside a thread) is answered as a reply.
    reply = await say(
        anna,
        room_id,
        f"> <{bot.user_id}> ...\n\n!details {SLUG}",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": answer.event_id}}},
    )
    details = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(details) == {"m.in_reply_to": {"event_id": reply}}
    replied = bot.recording.seen[-1]
    assert (replied.text, replied.kind) == (f"!details {SLUG}", Kind.REPLY)
    assert replied.reply_to == MessageRef(ChatRef("matrix", room_id, True), answer.event_id, from_bot=True)


async def test_push_to_a_user_opens_an_encrypted_direct_chat(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    await sync_once(anna)

    sent = await bot.send(ChatRef("matrix", anna.user_id, True), Reply(html="Du bist <b>nachgerückt</b>."))

    ((room_id, inviter),) = await accept_invites(anna)
    assert inviter == bot.user_id
    message = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert message.event_id == sent
    assert message.decrypted
    assert body(message) == "Du bist nachgerückt."
    # The next push reuses the direct chat.
    again = await bot.send(ChatRef("matrix", anna.user_id, True), Reply(html="Erinnerung"))
    second = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert second.event_id == again

    # Pushes are paced: five take at least four intervals.
    started = time.monotonic()
    for _ in range(5):
        await bot.send(ChatRef("matrix", room_id, True), Reply(html="Digest"))
    assert time.monotonic() - started >= 4 * bot.transport.push_interval

    with pytest.raises(Unreachable):
        await bot.send(ChatRef("matrix", "!unknown:localhost", False), Reply(html="x"))
    with pytest.raises(Unreachable):
        await bot.send(ChatRef("matrix", "@nobody:localhost", True), Reply(html="x"))
