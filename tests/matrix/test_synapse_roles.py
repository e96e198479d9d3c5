"""Roles on Matrix against Synapse: a personal command in a room is answered in the direct chat, and an
invitation is accepted with !rolle."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.db.models import Role
from tests.matrix.helpers import create_room, from_bot, say, sync_once, wait_for_event, wait_joined
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse


def body(event: Any) -> str:
    return str(event.source["content"]["body"])


async def bot_messages(
    client: Any, room_ids: list[str], bot_id: str, seconds: float = 8.0
) -> dict[str, list[str]]:
    """The bot's messages arriving in each room (one sync loop for all rooms)."""
    is_bot = from_bot(bot_id)
    found: dict[str, list[str]] = {room: [] for room in room_ids}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = await sync_once(client, timeout_ms=300)
        for room in room_ids:
            info = response.rooms.join.get(room)
            found[room] += [body(e) for e in (info.timeline.events if info else []) if is_bot(e)]
        if all(found.values()):
            deadline = min(deadline, time.monotonic() + 1.0)
    return found


async def test_a_personal_command_in_a_room_is_answered_in_the_direct_chat_and_rolle_accepts(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    core = bot.core
    anna = await synapse.client(store=stores)
    ben = await synapse.client(store=stores)
    clients += [anna, ben]
    core.settings.admins.append(f"matrix:{anna.user_id}")

    direct = await create_room(anna, [bot.user_id], direct=True, encrypted=False)
    await wait_joined(anna, direct, bot.user_id)
    room = await create_room(anna, [bot.user_id, ben.user_id], direct=False, encrypted=False, name="Runde")
    await wait_joined(anna, room, bot.user_id)

    await say(anna, room, "!einladen manager")
    seen = await bot_messages(anna, [room, direct], bot.user_id)
    assert len(seen[room]) == 1 and "im privaten Chat" in seen[room][0]
    assert len(seen[direct]) == 1 and "!rolle " in seen[direct][0]
    token = re.search(r"!rolle ([A-Za-z0-9_-]+)", seen[direct][0])
    assert token is not None

    ben_direct = await create_room(ben, [bot.user_id], direct=True, encrypted=False)
    await wait_joined(ben, ben_direct, bot.user_id)
    await say(ben, ben_direct, f"!rolle {token.group(1)}")
    welcome = await wait_for_event(ben, ben_direct, from_bot(bot.user_id))
    assert "Sie sind jetzt Community-Manager" in body(welcome)
    assert await core.roles.role_of(f"matrix:{ben.user_id}") is Role.MANAGER
