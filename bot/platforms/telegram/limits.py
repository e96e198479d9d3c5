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
            # One message less than Telegram's burst stays in reserve for network jitter.
            if is_private:
                rate = limits.per_chat_per_second * limits.scale * limits.margin
                capacity = max(1.0, limits.per_chat_burst - 1)
            else:
                rate = limits.group_per_minute * limits.scale * limits.margin / 60.0
                capacity = max(1.0, limits.group_per_minute - 1)
            state = ChatState(rate, capacity, capacity, time.monotonic())
            self._chats[chat_id] = state
            if len(self._chats) > 10_000:
                self._forget_idle()
        return state

    async def slot(self, state: ChatState) -> None:
        """Wait until this chat and the bot as a whole may send one more message, and take that slot.

        The chat waits for its own bucket and pause first, without holding an overall slot: a chat paused
        by a 429 (or waiting for its group bucket) never delays another chat. The chat's token is charged
        at the moment the message goes out (after any wait for the overall pace), so the spacing Telegram
        sees per chat is the spacing the bucket allows.
        """
        while True:
            now = time.monotonic()
            if now > state.last:
                state.tokens = min(state.capacity, state.tokens + (now - state.last) * state.rate)
                state.last = now
            chat_ready = max(now, state.paused_until, state.last)
            if state.tokens < 1.0:
                chat_ready = max(chat_ready, state.last + (1.0 - state.tokens) / state.rate)
            if chat_ready <= now:
                break
            await asyncio.sleep(chat_ready - now)
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.limits.overall_interval
        state.tokens = min(state.capacity, state.tokens + (slot - state.last) * state.rate) - 1.0
        state.last = slot
        if slot > now:
            await asyncio.sleep(slot - now)

    def paused_for(self, state: ChatState) -> float:
        """Seconds this chat must still wait after a 429 (0 when it may send)."""
        return max(0.0, state.paused_until - time.monotonic())

    def pause(self, state: ChatState, seconds: float) -> None:
        """Telegram said 429 for this chat: send nothing more to it for `seconds`."""
        now = time.monotonic()
        state.paused_until = max(state.paused_until, now + seconds)
        state.tokens, state.last = 0.0, max(state.last, now)

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for chat_id, state in list(self._chats.items()):
            if not state.lock.locked() and now - state.last > 120 and state.paused_until < now:
                del self._chats[chat_id]
