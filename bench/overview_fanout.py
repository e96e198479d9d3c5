"""Benchmark: enqueueing the weekly overview for 100,000 members and 200 channels and rooms on PostgreSQL.

Run: .venv/bin/python bench/overview_fanout.py [--members 100000] [--shared 200] [--no-write]
Needs PostgreSQL on 127.0.0.1:5432 (BOT_TEST_POSTGRES_URL to change). Writes its section of
docs/benchmarks.md. The baseline, measured in the same run on the same database, is the fastest way
PostgreSQL can make the same outbox rows: one INSERT … SELECT inside the server, nothing rendered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine, write_section  # noqa: E402

from bot.app import build_context  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.notices.overview import overview_renderer  # noqa: E402
from bot.services.overview import assemble  # noqa: E402

PG = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")
NAME = "stadtretter_bench_fanout"


class PeakRss:
    """Samples this process's resident memory every 10 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fill(url: str, members: int, shared: int) -> None:
    """Members who consented and subscribed, and channels and rooms, straight into the tables."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            INSERT INTO members (platform, user_id, display_name, language, consent_at, created_at, reminders)
            SELECT 'telegram', (100000000 + g)::text, 'Mitglied ' || g, CASE WHEN g % 5 = 0 THEN 'en' ELSE 'de' END,
                   $1, $1, true
            FROM generate_series(1, $2) AS g
            """,
            NOW,
            members,
        )
        await conn.execute(
            """
            INSERT INTO overview_targets (platform, chat_id, kind, status, title, language, overview, impulses,
                                          member_id, created_at, updated_at)
            SELECT platform, user_id, 'member', 'active', display_name, language, true, true, id, $1, $1
            FROM members
            """,
            NOW,
        )
        await conn.execute(
            """
            INSERT INTO overview_targets (platform, chat_id, kind, status, title, language, overview, impulses,
                                          created_at, updated_at)
            SELECT CASE WHEN g % 2 = 0 THEN 'telegram' ELSE 'matrix' END,
                   CASE WHEN g % 2 = 0 THEN (-1000000000000 - g)::text ELSE '!room' || g || ':example.org' END,
                   CASE WHEN g % 2 = 0 THEN 'channel' ELSE 'room' END, 'active', 'Kanal ' || g, 'de', true, true,
                   $1, $1
            FROM generate_series(1, $2) AS g
            """,
            NOW,
            shared,
        )
    finally:
        await conn.close()


async def baseline(url: str) -> float:
    """The same outbox rows made by the database alone (one statement, nothing rendered)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM outbox")
        started = time.perf_counter()
        await conn.execute(
            """
            INSERT INTO outbox (key, platform, chat_id, is_private, payload, status, attempts, progress,
                                not_before, created_at)
            SELECT 'baseline:' || platform || ':' || chat_id, platform, chat_id, kind = 'member', '{}',
                   'pending', 0, 0, $1, $1
            FROM overview_targets WHERE status = 'active'
            """,
            NOW,
        )
        return time.perf_counter() - started
    finally:
        await conn.execute("DELETE FROM outbox")
        await conn.close()


async def measure(members: int, shared: int) -> dict[str, float]:
    await admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{NAME}"')
    base = PG.rsplit("/", 1)[0]
    url = f"{base}/{NAME}"
    try:
        settings = load_settings(data_dir=ROOT / "bench" / "out" / "fanout", now=NOW.isoformat())
        ctx = await build_context(
            settings, database_url=url.replace("postgresql://", "postgresql+asyncpg://")
        )
        ctx.handles["telegram"] = "stadtretter_bot"
        await fill(url, members, shared)
        base_seconds = await baseline(url)
        week = assemble("2020-W40", ctx.overview.schedule, ctx.events.catalog, ctx.events.items)
        before = psutil.Process().memory_info().rss
        with PeakRss() as rss:
            started = time.perf_counter()
            count = await ctx.overview.enqueue(week, overview_renderer(ctx), now=NOW)
            seconds = time.perf_counter() - started
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetchval("SELECT count(*) FROM outbox")
            bodies = await conn.fetchval("SELECT count(*) FROM outbox_bodies")
            size = await conn.fetchval(
                "SELECT pg_total_relation_size('outbox') + pg_total_relation_size('outbox_bodies')"
            )
        finally:
            await conn.close()
        await ctx.close()
        assert count == rows == members + shared, (count, rows)
        return {
            "seconds": seconds,
            "baseline": base_seconds,
            "rows": rows,
            "bodies": bodies,
            "mb_on_disk": size / 2**20,
            "rss_before": before / 2**20,
            "rss_peak": rss.peak / 2**20,
        }
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--shared", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    r = asyncio.run(measure(args.members, args.shared))
    text = f"""Run on {machine()}; PostgreSQL 15 on 127.0.0.1.
`python bench/overview_fanout.py --members {args.members} --shared {args.shared}`

| measure | result | target |
|---|---|---|
| enqueue the overview for {args.members:,} members + {args.shared} channels/rooms (render per audience, claim the week, insert the rows) | {r["seconds"]:.2f} s | < 10 s |
| baseline: the same number of outbox rows made by PostgreSQL alone (one INSERT … SELECT) | {r["baseline"]:.2f} s | |
| ratio ours / baseline | {r["seconds"] / r["baseline"]:.2f} | |
| outbox rows / shared payloads stored | {r["rows"]:,} / {r["bodies"]} | |
| outbox on disk after the fan-out | {r["mb_on_disk"]:.0f} MB | |
| RSS of the process before / peak during the fan-out | {r["rss_before"]:.0f} MB / {r["rss_peak"]:.0f} MB | < 200 MB |

The overview is rendered once per audience (platform × language × own chat or shared), stored once per
audience, and the rows pointing at it are made inside the database (one INSERT … SELECT per audience):
the difference to the baseline is the per-row ON CONFLICT check that keeps it idempotent, the week's run
row and the rendering."""
    print(text)
    if not args.no_write:
        write_section("overview", text)


if __name__ == "__main__":
    main()
