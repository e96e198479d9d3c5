"""Real processes: `kill -9` in the middle of a delivery batch, and two processes on one database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.app import build_context
from bot.chat import ChatRef, Reply
from bot.config import Settings
from bot.db.models import Event, OutboxMessage, OutboxStatus, Registration, RegistrationStatus
from tests.telegram_api import BotApiServer, Limits

ROOT = Path(__file__).resolve().parents[2]


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(ROOT)
    return env


async def spawn(tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.proc",
        *args,
        cwd=tmp_path,
        env=environment(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def queue_messages(settings: Settings, db_url: str, server: BotApiServer, count: int) -> list[int]:
    """One message each to `count` new members, queued in the outbox; returns their chat ids."""
    users = [server.create_user(f"Mitglied {i}") for i in range(count)]
    for user in users:
        user.chat  # noqa: B018  (each pressed Start once: the private chat exists)
    ctx = await build_context(settings, database_url=db_url)
    deliveries = [
        (f"fault:{u.id}", ChatRef("telegram", str(u.id)), Reply(html=f"Nachricht {u.id}")) for u in users
    ]
    await ctx.outbox.enqueue_many(deliveries, now=datetime.now(UTC))  # the drainers run on real time
    await ctx.close()
    return [u.id for u in users]


async def count_status(settings: Settings, db_url: str, status: OutboxStatus) -> int:
    ctx = await build_context(settings, database_url=db_url, sync=False)
    async with ctx.db.sessions() as session:
        found = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.status == status)
        )
    await ctx.close()
    return found or 0


def received(server: BotApiServer, chat_ids: list[int]) -> Counter[int]:
    return Counter({chat_id: len(server.chats[chat_id].inbox) for chat_id in chat_ids})


def note(line: str) -> None:
    """A measured figure, appended to $FAULT_FIGURES when set (docs/reliability.md quotes them)."""
    target = os.environ.get("FAULT_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


async def test_kill_9_mid_batch_loses_nothing_and_returns_claims_within_the_lease(
    settings: Settings, tmp_path: Path
) -> None:
    server = BotApiServer(limits=Limits(enabled=False))
    server.record_calls = False
    await server.start()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    try:
        chat_ids = await queue_messages(settings, db_url, server, 3000)
        first = await spawn(tmp_path, "drain", db_url, server.base_url, server.token)
        await server.wait_until(lambda: server.stats.sent >= 1250, within=90)  # in its third batch
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await first.wait()
        sent_before = server.stats.sent
        claimed = await count_status(settings, db_url, OutboxStatus.SENDING)

        second = await spawn(tmp_path, "drain", db_url, server.base_url, server.token)
        await server.wait_until(lambda: server.stats.sent >= 3000, within=120)
        all_in = time.monotonic() - killed_at
        await asyncio.wait_for(second.wait(), 60)
    finally:
        await server.stop()
    counts = received(server, chat_ids)
    lost = sum(1 for c in chat_ids if counts[c] == 0)
    duplicated = sum(counts[c] - 1 for c in chat_ids if counts[c] > 1)
    note(
        f"kill -9 after {sent_before} of 3000 sent, {claimed} claimed: lost {lost}, duplicated {duplicated}, "
        f"all delivered {all_in:.1f} s after the kill"
    )
    assert claimed > 0  # the kill did hit a batch in flight
    assert lost == 0
    assert duplicated <= 64  # at most what was in flight (sent, not yet marked) when the process died
    assert all_in < 30 + 20  # the claims of the killed process return after the 30 s lease


def test_a_second_running_assistant_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    env = environment(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert first.stdout is not None
        first.stdout.readline()  # the greeting: the first one holds the database
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "in use by another running assistant" in second.stderr
    finally:
        assert first.stdin is not None
        first.stdin.close()
        first.wait(timeout=60)
    assert first.returncode == 0
    again = subprocess.run(
        [sys.executable, "-m", "bot", "chat"], input="", capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert again.returncode == 0  # the lock went with the first process


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_processes_registering_at_the_same_moment_never_overbook(
    settings: Settings, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    db_url = (
        f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        if database == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    ctx = await build_context(settings, database_url=db_url)
    slugs = [event.slug for event in ctx.events.catalog.upcoming(ctx.clock.now())][:8]
    async with ctx.db.write_lock, ctx.db.sessions.begin() as session:
        await session.execute(update(Event).values(capacity=2))
    start = time.time() + 5
    procs = [await spawn(tmp_path, "register", db_url, str(start), f"p{p}-", "3", *slugs) for p in range(2)]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Registration.event_id, func.count(Registration.id))
            .where(Registration.status == RegistrationStatus.CONFIRMED)
            .group_by(Registration.event_id)
        )
        confirmed = sorted(count for _, count in rows)
    await ctx.close()
    note(
        f"two processes, 6 registrations at the same moment for 2 seats, {len(slugs)} events on {database}: "
        f"confirmed per event {confirmed}"
    )
    assert confirmed == [2] * len(slugs)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_processes_drain_one_outbox_without_duplicates(
    settings: Settings, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    db_url = (
        f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        if database == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    server = BotApiServer(limits=Limits(enabled=False))
    server.record_calls = False
    await server.start()
    try:
        chat_ids = await queue_messages(settings, db_url, server, 1500)
        start = str(time.time() + 4)  # both claim their first batch at the same moment
        procs = [
            await spawn(tmp_path, "drain", db_url, server.base_url, server.token, start) for _ in range(2)
        ]
        await server.wait_until(lambda: server.stats.sent >= 1500, within=120)
        for proc in procs:
            await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await server.stop()
    counts = received(server, chat_ids)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    lost = sum(1 for c in chat_ids if counts[c] == 0)
    note(f"two processes draining 1500 messages on {database}: lost {lost}, duplicated {duplicated}")
    assert (lost, duplicated) == (0, 0)
    ctx = await build_context(settings, database_url=db_url, sync=False)
    async with ctx.db.sessions() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
    await ctx.close()
    assert statuses == {OutboxStatus.SENT: 1500}


@pytest.mark.postgres
def test_instances_starting_together_on_postgresql_migrate_one_after_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    env = environment(tmp_path) | {"BOT_DATABASE_URL": pg_url.replace("+asyncpg", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "db", "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        for _ in range(4)
    ]
    results = [(proc.wait(timeout=120), proc.stderr.read() if proc.stderr else "") for proc in procs]
    assert [code for code, _ in results] == [0, 0, 0, 0], results
