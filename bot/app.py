"""Wires settings, clock, database, services, router and platforms into one running application."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.chat import Incoming, Reply
from bot.clock import Clock
from bot.config import BUNDLED_CONTENT_DIR, Settings
from bot.db.session import Database
from bot.platforms.base import Adapter, Sender
from bot.render import Renderer
from bot.router import Router
from bot.services.content import sync_content
from bot.services.conversations import Conversations
from bot.services.events import EventService
from bot.services.members import MemberService
from bot.services.messages import SentMessages
from bot.services.outbox import Outbox
from bot.services.registration import RegistrationService
from content.loader import ContentError

logger = logging.getLogger(__name__)

# The demo content's events are in autumn 2020: without BOT_NOW the demo runs on this morning.
DEMO_NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")


@dataclass
class AppContext:
    """Everything handlers, jobs and adapters need, passed explicitly."""

    settings: Settings
    clock: Clock
    db: Database
    renderer: Renderer
    router: Router
    events: EventService
    members: MemberService
    registrations: RegistrationService
    outbox: Outbox
    messages: SentMessages
    demo_clock: bool = False
    senders: dict[str, Sender] = field(default_factory=dict)
    conversations: Conversations = field(default_factory=Conversations)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one message or button press (never raises, never sends)."""
        return await self.router.dispatch(incoming, self)

    def render(self, name: str, lang: str, **context: object) -> str:
        return self.renderer.render(name, lang, **context)

    async def close(self) -> None:
        await self.db.dispose()


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
    from handlers import build_router  # handlers import the app's types; import late to avoid a cycle

    demo_clock = settings.now is None and uses_demo_content(settings)
    clock = Clock(settings.now or (DEMO_NOW if demo_clock else None), ticking=ticking)
    db = Database(database_url or settings.effective_database_url)
    await db.upgrade()
    renderer = Renderer(settings.tz)
    outbox = Outbox(db)

    def render_promotion(lang: str, event: object) -> Reply:
        from handlers.registration import promotion_reply

        return promotion_reply(renderer, lang, event)  # type: ignore[arg-type]

    ctx = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        renderer=renderer,
        router=build_router(),
        events=EventService(db),
        members=MemberService(db),
        registrations=RegistrationService(db, clock, outbox, render_promotion),
        outbox=outbox,
        messages=SentMessages(db, clock),
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
    adapters: list[Adapter] = []
    if ctx.settings.telegram_enabled:
        from bot.platforms.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(ctx))
    if ctx.settings.matrix_enabled:
        from bot.platforms.matrix import MatrixAdapter

        adapters.append(MatrixAdapter(ctx))
    return adapters


async def run(settings: Settings) -> int:
    """Start every configured platform, the scheduler and the outbox; the console when none is set."""
    from scheduler import Scheduler

    ctx = await build_context(settings, ticking=True)
    adapters = build_adapters(ctx)
    if not adapters:
        from bot.platforms.console import run_console

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
            ctx.senders[adapter.platform] = adapter
        scheduler.start()
        logger.info("running: %s", ", ".join(a.platform for a in adapters))
        await stop.wait()
    finally:
        await scheduler.shutdown()
        for adapter in reversed(adapters):
            await adapter.stop()
        await ctx.close()
    return 0
