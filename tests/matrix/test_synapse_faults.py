"""The Matrix adapter across restarts, homeserver outages and rate limits, against a real Synapse."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.chat import ChatRef, Reply
from bot.delivery import TemporaryFailure
from scheduler.outbox import OutboxWorker
from tests.matrix.helpers import (
    collect_events,
    create_room,
    from_bot,
    say,
    wait_for_event,
    wait_joined,
)
from tests.matrix.synapse import Synapse

pytestmark = pytest.mark.synapse

QUESTION = "Wann ist der nächste WebTalk?"


async def _user(synapse: Synapse, stores: Path, clients: list[Any]) -> Any:
    client = await synapse.client(store=stores)
    clients.append(client)
    return client


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_restart_resumes_without_duplicates_or_losses(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, encrypted: bool
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=encrypted)
    await wait_joined(anna, room_id, bot.user_id)
    await say(anna, room_id, QUESTION)
    await wait_for_event(anna, room_id, from_bot(bot.user_id))
    device = bot.client.device_id
    await bot.stop()

    # Sent while the bot is down: answered once after the restart; the first question is not answered again.
    await say(anna, room_id, "!termine")
    await say(anna, room_id, "!hilfe")
    again = await make_bot(user=bot.test_user, data_dir=bot.settings.data_dir)

    answers = await collect_events(anna, room_id, 10.0, from_bot(bot.user_id), expect=2)
    assert len(answers) == 2
    assert "Kommende Veranstaltungen" in answers[0].source["content"]["body"]
    assert "!termine" in answers[1].source["content"]["body"]
    assert [i.text for i in again.recording.seen] == ["!termine", "!hilfe"]
    assert again.client.device_id == device  # the saved login is reused, no new device


async def test_first_start_ignores_history(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    anna = await _user(synapse, stores, clients)
    account = synapse.register()
    # The account already sits in a room with an old question (e.g. set up by hand before the bot ran).
    as_bot = await synapse.client(account, store=stores, encryption=False)
    clients.append(as_bot)
    room_id = await create_room(anna, [account.user_id], direct=True, encrypted=False)
    await as_bot.join(room_id)
    await wait_joined(anna, room_id, account.user_id)
    await say(anna, room_id, "!hilfe")

    bot = await make_bot(user=account)
    await say(anna, room_id, QUESTION)

    answers = await collect_events(anna, room_id, 10.0, from_bot(bot.user_id), expect=1)
    assert len(answers) == 1
    assert "Vitale Standorte" in answers[0].source["content"]["body"]
    assert [i.text for i in bot.recording.seen] == [QUESTION]


async def test_homeserver_outage_while_running(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot()
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)

    caplog.set_level(logging.WARNING, logger="bot.platforms.matrix")
    await asyncio.to_thread(synapse.stop)
    for _ in range(50):
        if not bot.connected:
            break
        await asyncio.sleep(0.1)
    assert not bot.connected
    with pytest.raises(TemporaryFailure):
        await bot.send(ChatRef("matrix", room_id, True), Reply(html="x"))
    await asyncio.sleep(1.5)  # a few failed reconnects
    await asyncio.to_thread(synapse.start)

    await say(anna, room_id, QUESTION)
    answer = await wait_for_event(anna, room_id, from_bot(bot.user_id), within=30)
    assert "Vitale Standorte" in answer.source["content"]["body"]
    assert bot.connected
    assert any("unreachable" in r.getMessage() for r in caplog.records)


async def test_rate_limit_is_waited_out_briefly_then_handed_back(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    admin = synapse.register(admin=True)
    bot = await make_bot(max_rate_wait=3.0)
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=False)
    await wait_joined(anna, room_id, bot.user_id)
    await asyncio.to_thread(
        synapse.override_ratelimit, admin.access_token, bot.user_id, per_second=1, burst=1
    )
    caplog.set_level(logging.WARNING, logger="bot.platforms.matrix")

    for text in ("!hilfe", "!termine", QUESTION):
        await say(anna, room_id, text)
    answers = await collect_events(anna, room_id, 15.0, from_bot(bot.user_id), expect=3, settle=0.5)

    assert len(answers) == 3
    waits = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
    assert waits, "the 429s were waited out and logged"

    # A push that would wait longer than allowed is handed back to the outbox with the server's retry time.
    bot.transport.max_rate_wait = 0.0
    chat = ChatRef("matrix", room_id, True)
    with pytest.raises(TemporaryFailure) as failure:
        for _ in range(3):
            await bot.send(chat, Reply(html="Erinnerung"))
    assert failure.value.retry_after is not None and 0 < failure.value.retry_after <= 1.0

    # Answers that cannot be sent now are not lost: they go to the outbox, which delivers them later.
    await asyncio.sleep(1.0)
    questions = ["!hilfe", "!termine", QUESTION]
    for text in questions:
        await say(anna, room_id, text)
    deferred: list[Any] = []
    for _ in range(50):
        deferred = await outbox_rows(bot.core)
        if deferred:
            break
        await asyncio.sleep(0.1)
    assert deferred and all(row.chat_id == room_id for row in deferred)
    bot.core.transports["matrix"] = bot
    worker = OutboxWorker(bot.core)
    for _ in range(6):
        await asyncio.sleep(1.0)
        bot.core.clock.fixed += timedelta(seconds=2)  # BOT_NOW stands still; retries are due by the clock
        await worker.drain_once()
        if all(row.status == "sent" for row in await outbox_rows(bot.core)):
            break
    answers = await collect_events(anna, room_id, 10.0, from_bot(bot.user_id), expect=len(questions))
    assert len(answers) == len(questions)


async def outbox_rows(ctx: Any) -> list[Any]:
    from sqlalchemy import select

    from bot.db.models import OutboxMessage

    async with ctx.db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def test_login_by_access_token_and_after_a_revoked_login(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot(token_login=True)
    assert bot.client.device_id == bot.test_user.device_id
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)
    await say(anna, room_id, QUESTION)
    await wait_for_event(anna, room_id, from_bot(bot.user_id))
    await bot.stop()

    # A saved login that the server no longer accepts: with a password the bot logs in again, as the same
    # device, so its encryption keys stay valid.
    other = await make_bot()
    device = other.client.device_id
    await other.stop()
    session = other.store_dir / "session.json"
    session.write_text(session.read_text().replace('"access_token": "', '"access_token": "revoked'))
    again = await make_bot(user=other.test_user, data_dir=other.settings.data_dir)
    assert again.client.device_id == device
    assert "revoked" not in session.read_text()
    room_id = await create_room(anna, [again.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, again.user_id)
    await say(anna, room_id, QUESTION)
    await wait_for_event(anna, room_id, from_bot(again.user_id))


async def test_long_downtime_gap_is_fetched(
    synapse: Synapse, stores: Path, clients: list[Any], make_bot: Any
) -> None:
    bot = await make_bot(timeline_limit=3)
    anna = await _user(synapse, stores, clients)
    room_id = await create_room(anna, [bot.user_id], direct=True, encrypted=True)
    await wait_joined(anna, room_id, bot.user_id)
    await bot.stop()

    texts = [
        f"!details {slug}"
        for slug in (
            "webtalk-vitale-standorte",
            "webtalk-groesste-zukunft",
            "webtalk-willkommen",
            "roundtable-leerstand-bid-isg",
            "projektauftakt-innenstadt-2030",
            "webtalk-vitale-standorte",
        )
    ]
    for text in texts:
        await say(anna, room_id, text)
    again = await make_bot(user=bot.test_user, data_dir=bot.settings.data_dir, timeline_limit=3)

    answers = await collect_events(anna, room_id, 10.0, from_bot(bot.user_id), expect=len(texts))
    assert len(answers) == len(texts)
    assert [i.text for i in again.recording.seen] == texts
