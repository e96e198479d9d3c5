"""Short-term memory of what each chat was just shown, so follow-ups ("Und wo?", "Und danach?") make sense.

In memory only and per instance: a conversation on another instance starts afresh, which is harmless.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from bot.services.followups import Shown

# A follow-up after this long refers to nothing: the member has moved on.
LIFETIME = timedelta(minutes=30)


class Conversations:
    """What was last shown per chat, bounded in number (oldest chats forgotten first) and in time."""

    def __init__(self, *, capacity: int = 10_000, lifetime: timedelta = LIFETIME) -> None:
        self.capacity = capacity
        self.lifetime = lifetime
        self._last: OrderedDict[str, tuple[datetime, Shown]] = OrderedDict()

    def get(self, chat_key: str, *, now: datetime) -> Shown | None:
        found = self._last.get(chat_key)
        if found is None:
            return None
        if now - found[0] > self.lifetime:
            del self._last[chat_key]
            return None
        return found[1]

    def put(self, chat_key: str, shown: Shown, *, now: datetime) -> None:
        self._last[chat_key] = (now, shown)
        self._last.move_to_end(chat_key)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)

    def forget(self, chat_key: str) -> None:
        self._last.pop(chat_key, None)
