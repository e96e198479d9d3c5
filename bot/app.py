"""Composition root: wires settings, clock, database, services, handlers, scheduler and platforms.

The only module that imports handlers, the scheduler and the platform adapters together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import stat
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from bot.clock import Clock
from bot.config import BUNDLED_CONTENT_DIR, ConfigError, Settings
from bot.context import AppContext
from bot.db.leadership import Leadership
from bot.db.session import SYNC_LOCK, Database
from bot.delivery import PlatformUnavailable, Transport
from bot.metrics import LEADERSHIP_CHANGES
from bot.notices import Notices
from bot.notices.impulses import DiscussionRenderer
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
from bot.services.discussion import DiscussionService
from bot.services.events import EventService
from bot.services.languages import Languages
from bot.services.members import MemberService
from bot.services.messages import SentMessages, SubjectRecorder
from bot.services.outbox import Outbox
from bot.services.overview import OverviewService, Schedule
from bot.services.privacy import PrivacyService, PrivateChats
from bot.services.registration import RegistrationService
from bot.services.roles import RoleService
from bot.web.health import Status
from bot.web.health import routes as health_routes
from bot.web.pages import routes as page_routes
from bot.web.server import HttpServer
from content.loader import ContentError
from handlers import build_router
from scheduler import Scheduler
from scheduler.outbox import OutboxWorker

logger = logging.getLogger(__name__)

# The demo content's events are in autumn 2020: without BOT_NOW the demo runs on this morning.
DEMO_NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")
# Seconds sends already started get to finish at SIGTERM; the platforms' own shutdown follows.
STOP_GRACE = 5.0


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
    db = Database(
        database_url or settings.effective_database_url,
        read_only=read_only,
        wait=settings.db_wait.total_seconds(),
    )
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
            # Two instances starting together would both insert the same new content.
            async with db.one_at_a_time(SYNC_LOCK):
                await sync_at_start(db, content_dir or settings.content_dir, now=clock.now(), notices=notices)
    except BaseException:
        await db.dispose()
        raise
    outbox = Outbox(db)
    messages = SentMessages(db, clock)
    registrations = RegistrationService(
        db, clock, outbox, notices, language=settings.language, privacy_version=settings.privacy_version
    )
    discussion = DiscussionService(db, outbox, mirror=settings.impulse_mirror)
    privacy = PrivacyService(db, registrations, private_chats(settings))
    languages = Languages(db, clock, default=settings.language)
    languages.on_member_row = registrations.remember_consent  # one read of the member row serves both
    # An erased person's contributions come down from every chat they were copied to, before the rows go.
    privacy.before_erase.append(
        lambda person, now: discussion.forget_author(
            person.platform, person.id, now=now, rendering=DiscussionRenderer(renderer)
        )
    )
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
        discussion=discussion,
        roles=RoleService(db, settings),
        privacy=privacy,
        audit=AuditLog(db),
        demo_clock=demo_clock,
        languages=languages,
    )
    if not read_only:
        await ctx.roles.apply_settings(now=clock.now())
    await ctx.events.refresh(force=True)
    ctx.handles.update(await handles(db))
    return ctx


def private_chats(settings: Settings) -> list[PrivateChats]:
    """The platforms' records of their private chats, read from their files: the running adapter and the
    command line (an erasure on a written request) see the same ones, without logging in."""
    from bot.platforms.matrix.session import DirectRooms, session_path

    return [DirectRooms(session_path(settings.data_dir))]


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
    return [make() for make in adapter_factories(ctx)]


def adapter_factories(ctx: AppContext) -> list[Callable[[], Adapter]]:
    """How to build each enabled adapter (a fresh one for every start attempt)."""
    factories: list[Callable[[], Adapter]] = []
    if ctx.settings.telegram_enabled:
        from bot.platforms.telegram import TelegramAdapter

        factories.append(lambda: TelegramAdapter(ctx.settings, ctx.ports()))
    if ctx.settings.matrix_enabled:
        from bot.platforms.matrix import MatrixAdapter

        factories.append(lambda: MatrixAdapter(ctx.settings, ctx.ports()))
    return factories


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


def settle_heap() -> None:
    """Once started: what is loaded by now (modules, content, settings, platform clients) lives as long as
    the process, so it is moved out of the cyclic garbage collector's scans (`gc.freeze`).

    Without it every full collection walks that whole heap: measured during a broadcast, a stall of the
    event loop of 100–140 ms every few seconds, in which no answer is read and no message marked sent
    (bench/overview_delivery.py). Frozen objects are still freed when their last reference goes.
    """
    gc.collect()
    gc.freeze()


async def run(settings: Settings) -> int:
    """Start every configured platform, the scheduler and the outbox; the console when none is set.

    On PostgreSQL several instances may run: one is active (see bot/db/leadership.py), the others wait
    as standbys and take over when it stops. SIGTERM stops taking updates, lets sends already started
    finish and ends within about 10 s.
    """
    ctx = await build_context(settings, ticking=True, exclusive=True)
    factories = adapter_factories(ctx)
    if not factories:
        try:
            _console_needs_input()
            print(ctx.render("console_no_platforms", settings.language))
            return await run_console(ctx)
        finally:
            await ctx.close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    status = Status()
    address = settings.http_address
    http = HttpServer(address, [*health_routes(ctx.db, status), *page_routes(ctx)]) if address else None
    leadership = Leadership(ctx.db)
    try:
        if http is not None:
            await http.start()
        while not stop.is_set():
            status.role = "standby" if leadership.shared else "starting"
            if not await leadership.acquire(stop):
                break
            await _serve(ctx, factories, status, stop=stop, lost=leadership.lost)
    finally:
        status.role = "stopping"
        await leadership.release()
        if http is not None:
            await http.stop()
        await ctx.close()
    return 0


async def _serve(
    ctx: AppContext,
    factories: list[Callable[[], Adapter]],
    status: Status,
    *,
    stop: asyncio.Event,
    lost: asyncio.Event,
) -> None:
    """Be the active instance until `stop` is set or leadership is `lost`."""
    LEADERSHIP_CHANGES.inc()
    status.role = "active"
    status.platforms = {}
    scheduler = Scheduler(ctx)
    adapters: list[Adapter] = []
    try:
        for make in factories:
            adapter = await _start_adapter(make, status, stop=stop, lost=lost)
            if adapter is None:
                return
            adapters.append(adapter)
            ctx.transports[adapter.platform] = adapter
        await remember_handles(ctx.db, ctx.handles)
        settle_heap()
        scheduler.start()
        logger.info("running: %s", ", ".join(a.platform for a in adapters))
        await _first(stop, lost)
    finally:
        # Sends already started finish (their platform connections are still open), then the platforms stop.
        await scheduler.shutdown(grace=0.0 if lost.is_set() else STOP_GRACE)
        ctx.transports.clear()
        for adapter in reversed(adapters):
            await adapter.stop()
        status.platforms = {}
        if lost.is_set():
            logger.warning("no longer the active instance: platforms, scheduler and outbox stopped")


class _Stopped(Exception):
    """Stopping (or leadership lost) while waiting to try a platform again."""


async def _start_adapter(
    make: Callable[[], Adapter], status: Status, *, stop: asyncio.Event, lost: asyncio.Event
) -> Adapter | None:
    """Start one platform; a network failure is retried with capped backoff until it works or we stop."""

    async def pause(seconds: float) -> None:
        if await _first(stop, lost, within=seconds):
            raise _Stopped

    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        logger.warning("%s; trying again in %.0f s", error, wait)

    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(PlatformUnavailable),
            wait=wait_exponential_jitter(initial=2, max=60),
            sleep=pause,
            before_sleep=log,
            reraise=True,
        ):
            with attempt:
                adapter = make()
                status.platforms[adapter.platform] = False
                await adapter.start()
                status.platforms[adapter.platform] = True
                return adapter
    except _Stopped:
        return None
    raise AssertionError("unreachable")  # pragma: no cover


async def _first(*events: asyncio.Event, within: float | None = None) -> bool:
    """Wait until one of `events` is set (True) or `within` seconds pass (False)."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


def _console_needs_input() -> None:
    """Without a platform `run` chats on the console; with nothing to read from it would end at once."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        mode = None
    if mode is None or (stat.S_ISCHR(mode) and not os.isatty(0)):
        raise ConfigError(
            "no platform configured (BOT_TELEGRAM_TOKEN or BOT_MATRIX_*) and no terminal for the console "
            "chat: set a token, or try the demo interactively (docker run -it …, or stadtretter chat)"
        )
