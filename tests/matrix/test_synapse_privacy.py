"""Erasure on Matrix against Synapse: the member's direct room is forgotten with everything keyed by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_privacy import every_value
from tests.matrix.helpers import collect_events, create_room, from_bot, say, wait_joined
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse

SLUG = "webtalk-vitale-standorte"


async def test_erasing_a_member_forgets_their_direct_room_everywhere(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot()
    core = bot.core
    anna = await synapse.client(store=stores)
    clients.append(anna)
    direct = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, direct, bot.user_id)

    async def ask(text: str) -> str:
        """Say `text` in her direct room; the core's answer, once she received all of it."""
        await say(anna, direct, text)
        replies = await bot.recording.handled(lambda i: i.text.lstrip("/!") == text.lstrip("!"))
        await collect_events(anna, direct, 15.0, from_bot(bot.user_id), expect=len(replies), settle=0.3)
        return "\n".join(r.plain for r in replies)

    assert "angemeldet" in await ask(f"!einwilligen {SLUG}")
    await core.subjects.stop()
    assert any(direct in v for v in await every_value(core))  # what was sent in her room is keyed by it
    session = bot.store_dir / "session.json"
    assert json.loads(session.read_text())["direct_rooms"] == {anna.user_id: direct}

    assert "Wirklich alles über Sie löschen?" in await ask("!loeschen")
    assert "Erledigt" in await ask("!loeschen ja")
    await core.subjects.stop()

    values = await every_value(core)
    assert not [v for v in values if direct in v or anna.user_id in v]
    assert json.loads(session.read_text())["direct_rooms"] == {}
    assert bot.transport.direct_rooms.get(anna.user_id) is None
