"""Pacing for Telegram's flood limits: overall, per chat and per group, with per-chat 429 back-off."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SendLimits:
    """Telegram's documented limits; `scale` multiplies the rates, `margin` keeps us just below them."""

    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: float = 3.0
    group_per_minute: float = 20.0
    scale: float = 1.0
    margin: float = 0.97

    @property
    def overall_interval(self) -> float:
        return 1.0 / (self.per_second * self.scale * self.margin)


@dataclass(slots=True)
class ChatState:
    """One chat's token bucket, its 429 pause, and a lock that keeps its messages in order."""

    rate: float
    capacity: float
    tokens: float
    last: float
    paused_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Pacer:
    """Hands out send slots: at most one per overall interval, and within each chat's bucket."""

    def __init__(self, limits: SendLimits) -> None:
        self.limits = limits
        self._next_slot = 0.0
        self._chats: dict[str, ChatState] = {}

    def chat(self, chat_id: str, *, is_private: bool) -> ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            limits = self.limits
            if is_private:
                rate = limits.per_chat_per_second * limits.scale * limits.margin
                capacity = limits.per_chat_burst
            else:
                rate = limits.group_per_minute * limits.scale * limits.margin / 60.0
                capacity = limits.group_per_minute
            state = ChatState(rate, capacity, capacity, time.monotonic())
            self._chats[chat_id] = state
            if len(self._chats) > 10_000:
                self._forget_idle()
        return state

    async def slot(self, state: ChatState) -> None:
        """Wait until this chat and the bot as a whole may send one more message, and take that slot."""
        while True:
            now = time.monotonic()
            if state.paused_until > now:
                await asyncio.sleep(state.paused_until - now)
                continue
            state.tokens = min(state.capacity, state.tokens + (now - state.last) * state.rate)
            state.last = now
            if state.tokens < 1.0:
                await asyncio.sleep((1.0 - state.tokens) / state.rate)
                continue
            state.tokens -= 1.0
            break
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.limits.overall_interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def pause(self, state: ChatState, seconds: float) -> None:
        """Telegram said 429 for this chat: send nothing more to it for `seconds`."""
        state.paused_until = max(state.paused_until, time.monotonic() + seconds)
        state.tokens = 0.0

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for chat_id, state in list(self._chats.items()):
            if not state.lock.locked() and now - state.last > 120 and state.paused_until < now:
                del self._chats[chat_id]
