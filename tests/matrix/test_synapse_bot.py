"""The Matrix adapter against a real Synapse: invites, direct chats (plain and encrypted), groups, threads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice

from bot.chat import ChatRef, Reply
from bot.platforms.base import Unreachable
from tests.matrix.helpers import (
    accept_invites,
    create_room,
    download,
    react,
    relation,
    sync_once,
    from_bot,
    say,
    wait_for_event,
    wait_joined,
)
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse

QUESTION = "Wann ist der nächste WebTalk?"


async def _user(synapse: Synapse, stores: Path, clients: list[Any], name: str | None = None) -> Any:
    client = await synapse.client(store=stores, localpart=name)
    clients.append(client)
    return client


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_direct_chat_question_is_answered(synapse: Synapse, stores: Path, clients: list[Any],
                                                make_bot: Any, encrypted: bool) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=encrypted)
    await wait_joined(anna, room_id, bot.user_id)

    await say(anna, room_id, QUESTION)

    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert isinstance(answer, RoomMessageNotice)
    content = answer.source["content"]
    assert "Vitale Standorte" in content["body"]
    assert "<b>" not in content["body"]
    assert content["format"] == "org.matrix.custom.html"
    assert "Vitale Standorte" in content["formatted_body"]
    assert answer.decrypted is encrypted


async def test_invite_from_disallowed_user_is_declined(synapse: Synapse, stores: Path, clients: list[Any],
                                                       make_bot: Any) -> None:
    anna = await _user(synapse, stores, clients)
    mallory = await _user(synapse, stores, clients)
    bot = await make_bot(allowed=[anna.user_id])

    foreign = await create_room(mallory, [bot.user_id], direct=True, encrypted=False)
    welcome = await create_room(anna, [bot.user_id], direct=True, encrypted=False)

    await wait_joined(anna, welcome, bot.user_id)
    await wait_for_membership(mallory, foreign, bot.user_id, "leave")
    assert foreign not in bot.client.rooms


async def wait_for_membership(client: Any, room_id: str, user_id: str, membership: str) -> None:
    from nio import RoomGetStateEventResponse

    for _ in range(100):
        response = await client.room_get_state_event(room_id, "m.room.member", user_id)
        if isinstance(response, RoomGetStateEventResponse) and response.content.get("membership") == membership:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user_id} never reached {membership} in {room_id}")


async def test_bot_leaves_room_where_it_is_alone(synapse: Synapse, stores: Path, clients: list[Any],
                                                 make_bot: Any) -> None:
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
async def test_group_room_commands_mentions_and_files(synapse: Synapse, stores: Path, clients: list[Any],
                                                      make_bot: Any, encrypted: bool) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    ben = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id, ben.user_id], direct=False, encrypted=encrypted,
                                name="Stadtretter Netzwerk")
    await accept_invites(ben)
    await wait_joined(anna, room_id, bot.user_id)
    await wait_joined(anna, room_id, ben.user_id)

    await say(anna, room_id, "Hallo zusammen, wer kommt morgen?")
    command = await say(anna, room_id, "!anmelden webtalk-vitale-standorte")

    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(answer) == {"m.in_reply_to": {"event_id": command}}
    assert "angemeldet" in answer.source["content"]["body"]
    attachment = await wait_for_event(anna, room_id, from_bot(bot.user_id, msgtype="m.file"))
    content = attachment.source["content"]
    assert content["body"] == "webtalk-vitale-standorte.ics"
    if encrypted:
        from nio.crypto import decrypt_attachment

        data = await download(anna, content["file"]["url"])
        plain = decrypt_attachment(data, content["file"]["key"]["k"], content["file"]["hashes"]["sha256"],
                                   content["file"]["iv"])
        assert "url" not in content
    else:
        plain = await download(anna, content["url"])
    assert plain.startswith(b"BEGIN:VCALENDAR")

    mention = await say(anna, room_id, f"stadtretter {QUESTION}",
                        format="org.matrix.custom.html",
                        formatted_body=f'<a href="https://matrix.to/#/{bot.user_id}">bot</a> {QUESTION}',
                        **{"m.mentions": {"user_ids": [bot.user_id]}})
    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert relation(answer) == {"m.in_reply_to": {"event_id": mention}}
    assert "Vitale Standorte" in answer.source["content"]["body"]
    assert "✅ = Anmelden" in answer.source["content"]["body"]

    # The chatter was seen but not addressed; only the command and the mention were.
    addressed = [(i.text, i.addressed) for i in bot.ctx.seen]
    assert addressed[0] == ("Hallo zusammen, wer kommt morgen?", False)
    assert [text for text, flag in addressed if flag] == ["!anmelden webtalk-vitale-standorte",
                                                           f"stadtretter {QUESTION}"] or \
        addressed[1:] == [("!anmelden webtalk-vitale-standorte", True), (QUESTION, True)]

    # Registration by reaction: the confirmation reaches Ben in a direct chat, not the whole group.
    await sync_once(ben)
    await react(ben, room_id, answer.event_id, "✅")
    (direct, inviter), = await accept_invites(ben)
    assert inviter == bot.user_id
    confirmation = await wait_for_event(ben, direct, from_bot(bot.user_id))
    assert "angemeldet" in confirmation.source["content"]["body"]
    pressed = bot.ctx.seen[-1]
    assert (pressed.text, pressed.is_button, pressed.sender.id) == (
        "/anmelden webtalk-vitale-standorte", True, ben.user_id)


async def test_thread_question_is_answered_in_the_thread(synapse: Synapse, stores: Path, clients: list[Any],
                                                         make_bot: Any) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)
    root = await say(anna, room_id, "Thema: Innenstadt")
    await wait_for_event(anna, room_id, from_bot(bot.user_id))

    question = await say(anna, room_id, QUESTION, **{"m.relates_to": {
        "rel_type": "m.thread", "event_id": root, "is_falling_back": True,
        "m.in_reply_to": {"event_id": root}}})

    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    rel = relation(answer)
    assert (rel["rel_type"], rel["event_id"]) == ("m.thread", root)
    assert bot.ctx.seen[-1].message.thread_id == root
    assert bot.ctx.seen[-1].message.message_id == question


async def test_push_to_a_user_opens_an_encrypted_direct_chat(synapse: Synapse, stores: Path,
                                                             clients: list[Any], make_bot: Any) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    await sync_once(anna)

    sent = await bot.send(ChatRef("matrix", anna.user_id, True), Reply(html="Du bist <b>nachgerückt</b>."))

    (room_id, inviter), = await accept_invites(anna)
    assert inviter == bot.user_id
    message = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert message.event_id == sent
    assert message.decrypted
    assert message.source["content"]["body"] == "Du bist nachgerückt."
    # The next push reuses the direct chat.
    again = await bot.send(ChatRef("matrix", anna.user_id, True), Reply(html="Erinnerung"))
    second = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert second.event_id == again

    with pytest.raises(Unreachable):
        await bot.send(ChatRef("matrix", "!unknown:localhost", False), Reply(html="x"))
    with pytest.raises(Unreachable):
        await bot.send(ChatRef("matrix", "@nobody:localhost", True), Reply(html="x"))
