"""A Bot API test server for integration tests and benchmarks (see server.BotApiServer)."""

from tests.telegram_api.limits import Limits
from tests.telegram_api.model import CallbackQueryRecord, Chat, SentDocument, SentMessage, User
from tests.telegram_api.server import BotApiServer

__all__ = ["BotApiServer", "CallbackQueryRecord", "Chat", "Limits", "SentDocument", "SentMessage", "User"]
