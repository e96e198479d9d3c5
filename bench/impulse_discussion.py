"""Benchmark: queueing an impulse post, and one contribution's copies, for 10 and 100 chats.

Run: .venv/bin/python bench/impulse_discussion.py [--runs 5] [--no-write]
SQLite in a temporary file and PostgreSQL on 127.0.0.1:5432 (BOT_TEST_POSTGRES_URL to change; skipped
when unreachable). Writes its section of docs/benchmarks.md. Each measure is the median of `--runs`
fresh impulses (posts) or contributions; the outbox rows of the posts are marked sent in between, so a
contribution finds the post's message in every chat, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine, write_section  # noqa: E402
from sqlalchemy import update  # noqa: E402

from bot.app import build_context  # noqa: E402
from bot.chat import ChatRef, Person  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.context import AppContext  # noqa: E402
from bot.db.models import OutboxMessage, OutboxStatus, TargetKind, TargetStatus  # noqa: E402
from bot.notices.impulses import DiscussionRenderer  # noqa: E402

PG = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")
NAME = "stadtretter_bench_impulse"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _targets(ctx: AppContext, chats: int) -> list[ChatRef]:
    made = []
    for n in range(chats):
        platform, kind = ("telegram", TargetKind.GROUP) if n % 2 else ("matrix", TargetKind.ROOM)
        chat = ChatRef(platform, f"chat-{n}", is_private=False)
        await ctx.overview.set_chat(chat, kind=kind, status=TargetStatus.ACTIVE, now=NOW)
        made.append(chat)
    return made


async def _sent(ctx: AppContext) -> None:
    """Mark everything queued as sent, with a message id per row (as the outbox worker would)."""
    async with ctx.db.sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING.value)
            .values(
                status=OutboxStatus.SENT,
                platform_message_id="m" + OutboxMessage.id.cast(OutboxMessage.key.type),
            )
        )


async def measure(url: str, chats: int, runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as data:
        ctx = await build_context(load_settings(data_dir=Path(data), now=NOW.isoformat()), database_url=url)
        try:
            rendering = DiscussionRenderer(ctx.renderer)
            targets = await _targets(ctx, chats)
            posts, contributions = [], []
            for run in range(runs):
                made = await ctx.discussion.create_impulse(
                    title=f"Impuls {run}", author="A", body="Text.", post_at=NOW, created_by="bench", now=NOW
                )
                start = time.perf_counter()
                assert await ctx.discussion.post(made.slug, rendering, now=NOW) == chats
                posts.append(time.perf_counter() - start)
                await _sent(ctx)
                start = time.perf_counter()
                await ctx.discussion.contribute(
                    f"impulse:{made.slug}",
                    chat=targets[0],
                    message_id=f"c{run}",
                    author=Person("matrix", "@anna:x", display_name="Anna Schmidt"),
                    text="Die Stadt rettet sich selbst!",
                    now=NOW,
                    rendering=rendering,
                )
                contributions.append(time.perf_counter() - start)
            return statistics.median(posts), statistics.median(contributions)
        finally:
            await ctx.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        databases = [("SQLite", lambda n: f"sqlite+aiosqlite:///{folder}/bench-{n}.sqlite3")]
        try:
            await _admin("SELECT 1")
            base = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            databases.append(("PostgreSQL", lambda n: f"{base}/{NAME}_{n}"))
        except Exception as exc:
            print(f"PostgreSQL skipped: {exc}")
        for label, url in databases:
            for chats in (10, 100):
                if label == "PostgreSQL":
                    await _admin(f'DROP DATABASE IF EXISTS "{NAME}_{chats}"')
                    await _admin(f'CREATE DATABASE "{NAME}_{chats}"')
                try:
                    post, contribution = await measure(url(chats), chats, args.runs)
                finally:
                    if label == "PostgreSQL":
                        await _admin(f'DROP DATABASE IF EXISTS "{NAME}_{chats}" WITH (FORCE)')
                rows.append(f"| {label} | {chats} | {post * 1000:.1f} ms | {contribution * 1000:.1f} ms |")
                print(rows[-1])
    text = "\n".join(
        [
            f"Run on {machine(load)}.",
            f"`python bench/impulse_discussion.py --runs {args.runs}` (median of {args.runs}).",
            "",
            "| database | chats | queue the post for every chat | queue one contribution's copies |",
            "|---|---|---|---|",
            *rows,
            "",
            "A post is one outbox row and one `impulse_posts` row per chat in one transaction; a contribution "
            "is stored once and copied into every other chat (one outbox row and one `contribution_mirrors` "
            "row each), with the post's message per chat looked up in one query.",
        ]
    )
    if not args.no_write:
        write_section("impulse", text)


if __name__ == "__main__":
    asyncio.run(main())
