"""The delivery contract between the outbox and the platforms: a Transport sends, or says why it cannot."""

from __future__ import annotations

from typing import Protocol

from bot.chat import ChatRef, Reply


class Unreachable(Exception):
    """The recipient cannot be reached for good (blocked the bot, left, chat gone): do not retry."""


class Rejected(Exception):
    """The platform refused this message for good (malformed, too large); the recipient is fine: do not
    retry it, do not mark anybody."""


class TemporaryFailure(Exception):
    """Sending failed for now; retry after `retry_after` seconds (None: the caller's backoff).

    `unsent`: a reply sent in parts (a long text) failed after some parts went out; this is the rest, the
    only thing to send again. None: nothing of the reply was sent.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, unsent: Reply | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unsent = unsent


class PlatformUnavailable(Exception):
    """A platform could not be reached while starting (network, DNS, its server down): try again later.

    Not for a wrong token or password: those end the start with a ConfigError.
    """


class Transport(Protocol):
    """Delivers one reply to one chat; returns the platform's message id (or None).

    Raises Unreachable, Rejected or TemporaryFailure; anything else counts as temporary too.
    """

    platform: str

    async def send(self, chat: ChatRef, reply: Reply) -> str | None: ...
