"""What every platform adapter offers the core: receiving (start/stop) and sending (for the outbox)."""

from __future__ import annotations

from typing import Protocol

from bot.chat import ChatRef, Reply


class Unreachable(Exception):
    """The recipient cannot be reached for good (blocked the bot, left, chat gone): do not retry."""


class TemporaryFailure(Exception):
    """Sending failed for now; retry after `retry_after` seconds (None: the caller's backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    """Delivers one reply to one chat; returns the platform's message id (or None)."""

    platform: str

    async def send(self, chat: ChatRef, reply: Reply) -> str | None: ...


class Adapter(Sender, Protocol):
    """A running platform connection: receives updates, hands them to the core, sends replies."""

    async def start(self) -> None:
        """Connect and start receiving in background tasks; return once running."""

    async def stop(self) -> None:
        """Stop receiving, finish in-flight work, close connections."""
