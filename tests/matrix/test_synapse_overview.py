"""The weekly overview on Matrix against Synapse: a room and an encrypted room a manager turned it on in,
and a member's encrypted direct chat – each gets it once, at its time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scheduler.jobs import send_overview_if_due
from scheduler.outbox import OutboxWorker
from tests.matrix.helpers import create_room, from_bot, say, sync_once, wait_for_event, wait_joined
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse


def body(event: Any) -> str:
    return str(event.source["content"]["body"])


def overview_from(bot_id: str) -> Any:
    is_bot = from_bot(bot_id)
    return lambda event: is_bot(event) and body(event).startswith("📬 Stadtretter-Wochenübersicht")


async def overviews_seen(
    client: Any, room_ids: list[str], bot_id: str, seconds: float = 6.0
) -> dict[str, list[Any]]:
    """The bot's overview notices arriving in each room within `seconds` (one sync loop for all rooms, so
    no room's events are consumed while looking at another)."""
    match = overview_from(bot_id)
    found: dict[str, list[Any]] = {room: [] for room in room_ids}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = await sync_once(client, timeout_ms=300)
        for room in room_ids:
            info = response.rooms.join.get(room)
            found[room] += [e for e in (info.timeline.events if info else []) if match(e)]
        if all(found.values()):
            deadline = min(deadline, time.monotonic() + 1.5)  # long enough for a duplicate to show up
    return found


async def _user(synapse: Synapse, stores: Path, clients: list[Any]) -> Any:
    client = await synapse.client(store=stores)
    clients.append(client)
    return client


async def test_rooms_and_a_direct_chat_get_the_overview_once(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    core = bot.core
    core.transports["matrix"] = bot
    anna, ben, cara = [await _user(synapse, stores, clients) for _ in range(3)]
    core.settings.managers.append(f"matrix:{anna.user_id}")

    rooms = {}
    for encrypted in (False, True):
        room_id = await create_room(
            anna, [bot.user_id, ben.user_id], direct=False, encrypted=encrypted, name=f"Runde {encrypted}"
        )
        await wait_joined(anna, room_id, bot.user_id)
        await say(anna, room_id, "!wochenuebersicht an")
        confirmed = await wait_for_event(anna, room_id, from_bot(bot.user_id))
        assert "erhält jetzt die Wochenübersicht" in body(confirmed)
        rooms[encrypted] = room_id

    direct = await create_room(cara, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(cara, direct, bot.user_id)
    await say(cara, direct, "!abo")
    consent = await wait_for_event(cara, direct, from_bot(bot.user_id))
    assert "einverstanden" in body(consent)
    await say(cara, direct, "!abo ja")
    done = await wait_for_event(cara, direct, from_bot(bot.user_id))
    assert "Ab jetzt erhalten Sie die Wochenübersicht" in body(done)

    assert await send_overview_if_due(core) == ("2020-W40", 3)
    worker = OutboxWorker(core, idle_seconds=0.05)
    await worker.drain_once()
    await worker.drain_once()
    seen = await overviews_seen(anna, list(rooms.values()), bot.user_id)
    seen |= await overviews_seen(cara, [direct], bot.user_id)
    assert {room: len(events) for room, events in seen.items()} == {
        rooms[False]: 1,
        rooms[True]: 1,
        direct: 1,
    }
    for got in seen.values():
        content = got[0].source["content"]
        assert content["msgtype"] == "m.notice" and "<b>" in content["formatted_body"]
        assert "!rsvp webtalk-groesste-zukunft" in body(got[0])  # the command to type
    assert "!abbestellen" in body(got[0])  # the member's own chat says how to stop it
    assert await send_overview_if_due(core) is None


async def test_only_a_manager_turns_the_overview_on_in_a_room(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    anna, ben = [await _user(synapse, stores, clients) for _ in range(2)]
    room_id = await create_room(anna, [bot.user_id, ben.user_id], direct=False, encrypted=False)
    await wait_joined(anna, room_id, bot.user_id)
    await say(anna, room_id, "!wochenuebersicht an")
    refused = await wait_for_event(anna, room_id, from_bot(bot.user_id))
    assert "nur Community-Manager" in body(refused)
    assert await bot.core.overview.targets() == []
