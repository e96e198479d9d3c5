"""Composition root: wires settings, clock, database, services, handlers, scheduler and platforms.

The only module that imports handlers, the scheduler and the platform adapters together.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

from bot.clock import Clock
from bot.config import BUNDLED_CONTENT_DIR, Settings
from bot.context import AppContext
from bot.db.session import Database
from bot.delivery import Transport
from bot.notices import Notices
from bot.platforms.console import ConsoleAdapter
from bot.render import Renderer
from bot.services.content import sync_content
from bot.services.events import EventService
from bot.services.members import MemberService
from bot.services.messages import SentMessages, SubjectRecorder
from bot.services.outbox import Outbox
from bot.services.registration import RegistrationService
from content.loader import ContentError
from handlers import build_router
from scheduler import Scheduler
from scheduler.outbox import OutboxWorker

logger = logging.getLogger(__name__)

# The demo content's events are in autumn 2020: without BOT_NOW the demo runs on this morning.
DEMO_NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")


class Adapter(Transport, Protocol):
    """A running platform connection: receives updates, hands them to the core, sends replies."""

    async def start(self) -> None:
        """Connect and start receiving in background tasks; return once running."""

    async def stop(self) -> None:
        """Stop receiving, finish in-flight work, close connections."""


def uses_demo_content(settings: Settings) -> bool:
    return settings.content_dir.resolve() == BUNDLED_CONTENT_DIR.resolve()


async def build_context(
    settings: Settings,
    *,
    database_url: str | None = None,
    sync: bool = True,
    content_dir: Path | None = None,
    ticking: bool = False,
) -> AppContext:
    """Create the application: migrate the database, load content, build services."""
    demo_clock = settings.now is None and uses_demo_content(settings)
    clock = Clock(settings.now or (DEMO_NOW if demo_clock else None), ticking=ticking)
    db = Database(database_url or settings.effective_database_url)
    await db.upgrade()
    renderer = Renderer(settings.tz)
    outbox = Outbox(db)
    messages = SentMessages(db, clock)
    ctx = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        renderer=renderer,
        router=build_router(),
        events=EventService(db),
        members=MemberService(db),
        registrations=RegistrationService(db, clock, outbox, Notices(renderer), language=settings.language),
        outbox=outbox,
        messages=messages,
        subjects=SubjectRecorder(messages),
        demo_clock=demo_clock,
    )
    if sync:
        directory = content_dir or settings.content_dir
        try:
            await sync_content(db, directory)
        except ContentError as exc:
            # The database keeps the last good content; the operator sees every bad file.
            for path, reason in exc.problems:
                logger.error("content not loaded: %s: %s", path, reason)
    await ctx.events.refresh(force=True)
    return ctx


def build_adapters(ctx: AppContext) -> list[Adapter]:
    """The platform adapters the settings enable, each built with the core's ports only."""
    adapters: list[Adapter] = []
    if ctx.settings.telegram_enabled:
        from bot.platforms.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(ctx.settings, ctx.ports()))
    if ctx.settings.matrix_enabled:
        from bot.platforms.matrix import MatrixAdapter

        adapters.append(MatrixAdapter(ctx.settings, ctx.ports()))
    return adapters


async def run_console(ctx: AppContext, *, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Chat on the terminal until end of input (Ctrl-D) or 'exit'; pushes to the console are printed."""
    adapter = ConsoleAdapter(ctx.ports(), downloads=ctx.settings.data_dir / "downloads", out=out)
    ctx.transports[adapter.platform] = adapter
    worker = OutboxWorker(ctx)
    worker.start()
    try:
        return await adapter.run(stdin or sys.stdin, after_each=worker.drain_once)
    finally:
        await worker.stop()


async def run(settings: Settings) -> int:
    """Start every configured platform, the scheduler and the outbox; the console when none is set."""
    ctx = await build_context(settings, ticking=True)
    adapters = build_adapters(ctx)
    if not adapters:
        print(ctx.render("console_no_platforms", settings.language))
        try:
            return await run_console(ctx)
        finally:
            await ctx.close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = Scheduler(ctx)
    try:
        for adapter in adapters:
            await adapter.start()
            ctx.transports[adapter.platform] = adapter
        scheduler.start()
        logger.info("running: %s", ", ".join(a.platform for a in adapters))
        await stop.wait()
    finally:
        await scheduler.shutdown()
        for adapter in reversed(adapters):
            await adapter.stop()
        await ctx.close()
    return 0
