"""Short-term memory of each chat's last question, so follow-ups like "Und der übernächste?" make sense."""

from __future__ import annotations

from collections import OrderedDict

from bot.services.questions import Query


class Conversations:
    """The last question per chat, in memory, bounded (oldest chats forgotten first)."""

    def __init__(self, *, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._last: OrderedDict[str, Query] = OrderedDict()

    def get(self, chat_key: str) -> Query | None:
        return self._last.get(chat_key)

    def put(self, chat_key: str, query: Query) -> None:
        self._last[chat_key] = query
        self._last.move_to_end(chat_key)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)

    def forget(self, chat_key: str) -> None:
        self._last.pop(chat_key, None)
