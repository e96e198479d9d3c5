"""Fixtures for the Telegram tests: the Bot API test server and PTB bots pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

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
