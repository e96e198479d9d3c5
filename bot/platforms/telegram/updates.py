"""Update processing for PTB: concurrent across chats, in order within each chat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class _ChatTurn:
    """One chat's lock and how many of its updates hold or wait for it (the lock goes when none do)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class OnePerChat(BaseUpdateProcessor):
    """Process updates concurrently across chats but one at a time within a chat, so answers keep order."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[int, _ChatTurn] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        turn = self._turns.get(chat.id)
        if turn is None:
            turn = self._turns[chat.id] = _ChatTurn()
        turn.users += 1
        try:
            async with turn.lock:
                await coroutine
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[chat.id]

    @property
    def chats_in_progress(self) -> int:
        """Chats with an update being processed or waiting (for tests: stays bounded)."""
        return len(self._turns)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
