"""The Matrix adapter against a real Synapse: invites, direct chats (plain and encrypted), groups, threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nio import RoomMessageNotice

from tests.matrix.helpers import (
    create_room,
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
