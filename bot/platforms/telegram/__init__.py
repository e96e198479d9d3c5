"""The Telegram adapter (python-telegram-bot): with Matrix's, the only package that imports a platform
library."""

from bot.platforms.telegram.adapter import TelegramAdapter
from bot.platforms.telegram.limits import SendLimits

__all__ = ["SendLimits", "TelegramAdapter"]
