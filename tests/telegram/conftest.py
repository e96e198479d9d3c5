"""Fixtures for the Telegram tests: the Bot API test server and PTB bots pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from telegram import Bot

from bot.app import build_context
from bot.config import Settings, load_settings
from bot.context import AppContext
from bot.db.models import Member
from bot.platforms.telegram import TelegramAdapter
from bot.platforms.telegram.limits import SendLimits
from tests.telegram_api import BotApiServer, Limits


@pytest.fixture
async def tg_server() -> AsyncIterator[BotApiServer]:
    server = BotApiServer(limits=Limits(enabled=False))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def ptb_bot(tg_server: BotApiServer) -> AsyncIterator[Bot]:
    bot = Bot(tg_server.token, base_url=tg_server.base_url, base_file_url=tg_server.base_file_url)
    async with bot:
        yield bot


DEMO_NOW = "2020-09-28T09:00:00+02:00"


def bot_settings(server: BotApiServer, data_dir: Path, **overrides: object) -> Settings:
    """Settings for the real bot against the test server: temporary SQLite, demo content, demo clock."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'bot.sqlite3'}",
        "now": DEMO_NOW,
        "telegram_token": server.token,
        "telegram_base_url": server.base_url,
        "telegram_base_file_url": server.base_file_url,
        "telegram_webhook_url": None,
        "managers": ["console:local"],
    }
    return load_settings(**(values | overrides))


@pytest.fixture
async def live_server() -> AsyncIterator[BotApiServer]:
    """The test server with Telegram's limits, sped up five times so tests stay quick."""
    server = BotApiServer(limits=Limits(scale=5))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot_ctx(live_server: BotApiServer, tmp_path: Path) -> AsyncIterator[AppContext]:
    ctx = await build_context(bot_settings(live_server, tmp_path))
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
async def telegram_bot(bot_ctx: AppContext) -> AsyncIterator[TelegramAdapter]:
    """The real adapter, polling the test server, with the real core behind it."""
    adapter = TelegramAdapter(bot_ctx.settings, bot_ctx.ports(), limits=SendLimits(scale=5))
    await adapter.start()
    bot_ctx.transports[adapter.platform] = adapter
    try:
        yield adapter
    finally:
        await adapter.stop()


async def find_member(ctx: AppContext, user_id: int | str, platform: str = "telegram") -> Member | None:
    """The member row of a Telegram user, straight from the database."""
    async with ctx.db.sessions() as session:
        return await session.scalar(
            select(Member).where(Member.platform == platform, Member.user_id == str(user_id))
        )
