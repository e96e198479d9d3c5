"""The fault suite reuses the Telegram fixtures: the Bot API test server and the real adapter on it."""

from tests.telegram.conftest import bot_ctx, live_server, telegram_bot, tg_server

__all__ = ["bot_ctx", "live_server", "telegram_bot", "tg_server"]
