"""A second (or killed) process for the fault suite: `python -m tests.faults.proc drain|register ...`.

`drain DB_URL BOT_API_URL TOKEN [START]` drains the outbox through the real Telegram sender, from the wall
clock time START on, until nothing is left (or until killed). `register DB_URL START PREFIX COUNT SLUG...`
registers COUNT members for each event in turn, the n-th at START + n * 0.5 s, so that two processes given
the same START compete for the same seats at the same moment.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import func, select
from telegram import Bot

from bot.app import build_context
from bot.chat import ChatRef, Person, Reply
from bot.clock import Clock
from bot.config import load_settings
from bot.context import AppContext
from bot.db.models import OutboxMessage, OutboxStatus
from bot.platforms.telegram.limits import SendLimits
from bot.platforms.telegram.sender import TelegramSender
from scheduler.outbox import OutboxWorker

NOW = "2020-09-28T09:00:00+02:00"


class Transport:
    """The real Telegram sender as the outbox's transport (no polling: another process may poll)."""

    platform = "telegram"

    def __init__(self, sender: TelegramSender) -> None:
        self.sender = sender

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        return await self.sender.deliver(chat, reply)


async def _unreachable(chat: ChatRef) -> None:
    return None


async def drain(db_url: str, base_url: str, token: str, start: float) -> None:
    settings = load_settings(data_dir=".", now=NOW)
    ctx = await build_context(settings, database_url=db_url, sync=False)
    ctx.clock = Clock()  # real time: claims must run out as they would after a real crash
    bot = Bot(token, base_url=base_url)
    async with bot:
        sender = TelegramSender(bot, SendLimits(scale=1000), on_unreachable=_unreachable)
        ctx.transports["telegram"] = Transport(sender)
        worker = OutboxWorker(ctx, concurrency=64)
        print("draining", flush=True)
        await asyncio.sleep(max(0.0, start - time.time()))
        deadline = time.monotonic() + 120
        # Until nothing is left to send: messages another (killed) process claimed come due after its lease.
        while await _open(ctx) and time.monotonic() < deadline:
            if await worker.drain_once() == 0:
                await asyncio.sleep(0.5)
    await ctx.close()


async def _open(ctx: AppContext) -> int:
    async with ctx.db.sessions() as session:
        pending = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        return (
            await session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.status.in_(pending))
            )
            or 0
        )


async def register(db_url: str, start: float, prefix: str, count: int, slugs: list[str]) -> None:
    settings = load_settings(data_dir=".", now=NOW)
    ctx = await build_context(settings, database_url=db_url, sync=False)
    people = [Person("telegram", f"{prefix}{i}", display_name=f"{prefix} {i}") for i in range(count)]
    for person in people:
        await ctx.registrations.give_consent(person)
    for number, slug in enumerate(slugs):
        event = ctx.events.catalog.by_slug[slug]
        await asyncio.sleep(max(0.0, start + number * 0.5 - time.time()))
        results = await asyncio.gather(*(ctx.registrations.register(p, event) for p in people))
        print(slug, " ".join(r.outcome.value for r in results), flush=True)
    await ctx.close()


def main(argv: list[str]) -> None:
    if argv[0] == "drain":
        asyncio.run(drain(argv[1], argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 0.0))
    elif argv[0] == "register":
        asyncio.run(register(argv[1], float(argv[2]), argv[3], int(argv[4]), argv[5:]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
