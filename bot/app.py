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
from bot.config import BUNDLED_CONTENT_DIR, ConfigError, Settings
from bot.context import AppContext
from bot.db.session import Database
from bot.delivery import Transport
from bot.notices import Notices
from bot.platforms.console import ConsoleAdapter
from bot.render import Renderer
from bot.services.appstate import handles, remember_handles
from bot.services.audit import AuditLog
from bot.services.content import (
    ContentSourceMismatch,
    prepare_content,
    recorded_source,
    removals,
    source_of,
    sync_content,
)
from bot.services.events import EventService
from bot.services.members import MemberService
from bot.services.messages import SentMessages, SubjectRecorder
from bot.services.outbox import Outbox
from bot.services.overview import OverviewService, Schedule
from bot.services.privacy import PrivacyService
from bot.services.registration import RegistrationService
from bot.services.roles import RoleService
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


def is_demo_content(directory: Path | str | None) -> bool:
    return directory is not None and Path(directory).resolve() == BUNDLED_CONTENT_DIR.resolve()


async def build_context(
    settings: Settings,
    *,
    database_url: str | None = None,
    sync: bool = True,
    content_dir: Path | None = None,
    ticking: bool = False,
    read_only: bool = False,
    exclusive: bool = False,
) -> AppContext:
    """Create the application: migrate the database, load content, build services.

    `read_only` opens an existing, up-to-date database without changing anything (no migration, no sync);
    its content is whatever was synced into it. The demo clock runs only on the bundled demo content.
    `exclusive` (a running assistant) refuses to start beside another one on the same SQLite file.
    """
    db = Database(database_url or settings.effective_database_url, read_only=read_only)
    try:
        if exclusive:
            db.lock_single_process()
        content = await _prepare_database(db, read_only=read_only)
        source: Path | str | None = content if read_only else (content_dir or settings.content_dir)
        demo_clock = settings.now is None and is_demo_content(source)
        clock = Clock(settings.now or (DEMO_NOW if demo_clock else None), ticking=ticking)
        renderer = Renderer(settings.tz)
        notices = Notices(renderer)
        if sync and not read_only:
            await sync_at_start(db, content_dir or settings.content_dir, now=clock.now(), notices=notices)
    except BaseException:
        await db.dispose()
        raise
    outbox = Outbox(db)
    messages = SentMessages(db, clock)
    registrations = RegistrationService(db, clock, outbox, notices, language=settings.language)
    ctx = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        renderer=renderer,
        router=build_router(),
        events=EventService(db),
        members=MemberService(db),
        registrations=registrations,
        outbox=outbox,
        messages=messages,
        subjects=SubjectRecorder(messages),
        overview=OverviewService(db, Schedule.of(settings)),
        roles=RoleService(db, settings),
        privacy=PrivacyService(db, registrations),
        audit=AuditLog(db),
        demo_clock=demo_clock,
    )
    if not read_only:
        await ctx.roles.apply_settings(now=clock.now())
    await ctx.events.refresh(force=True)
    ctx.handles.update(await handles(db))
    return ctx


async def _prepare_database(db: Database, *, read_only: bool) -> str | None:
    """Migrate (or, read-only, check the schema); returns the content folder the database was synced from."""
    if not read_only:
        await db.upgrade()
        return await recorded_source(db)
    if not await db.at_head():
        raise ConfigError("the database is not up to date: run `stadtretter db upgrade` first")
    return await recorded_source(db)


async def sync_at_start(db: Database, directory: Path, *, now: datetime, notices: Notices) -> None:
    """Load the content folder; what would withdraw registered events waits for a person to confirm it.

    Bad files keep the last good content (each is logged); another folder than the recorded one is refused
    (ContentSourceMismatch, a ConfigError).
    """
    recorded = await recorded_source(db)
    if recorded is not None and recorded != source_of(directory):
        raise ContentSourceMismatch(recorded, directory)
    try:
        content = await prepare_content(db, directory)
    except ContentError as exc:
        for path, reason in exc.problems:
            logger.error("content not loaded: %s: %s", path, reason)
        return
    gone = await removals(db, content)
    # (A database from before the folder was recorded is checked by sync_content itself.)
    if gone.risky() and recorded is not None:
        logger.error(
            "content not synced: it would withdraw %d event(s) with registrations and remove %d item(s); "
            "review and confirm with: stadtretter content sync %s",
            gone.events_with_registrations,
            gone.items,
            directory,
        )
        return
    await sync_content(db, directory, now=now, notices=notices, content=content)


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
    ctx = await build_context(settings, ticking=True, exclusive=True)
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
        await remember_handles(ctx.db, ctx.handles)
        scheduler.start()
        logger.info("running: %s", ", ".join(a.platform for a in adapters))
        await stop.wait()
    finally:
        await scheduler.shutdown()
        for adapter in reversed(adapters):
            await adapter.stop()
        await ctx.close()
    return 0
