"""Short guided conversations in a chat (a manager writing an impulse), in memory, ending on their own."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TIMEOUT = timedelta(minutes=30)


@dataclass
class Dialogue:
    """Which dialogue a chat is in, at which step, with what was answered so far."""

    name: str
    step: str
    expires_at: datetime
    values: dict[str, str] = field(default_factory=dict)


class Dialogues:
    """One open dialogue per chat; it ends when finished, cancelled, or 30 minutes after the last answer."""

    def __init__(self, *, timeout: timedelta = TIMEOUT, capacity: int = 1000) -> None:
        self.timeout = timeout
        self.capacity = capacity
        self._open: OrderedDict[str, Dialogue] = OrderedDict()

    def start(self, chat_key: str, name: str, step: str, *, now: datetime) -> Dialogue:
        dialogue = Dialogue(name, step, now + self.timeout)
        self._open[chat_key] = dialogue
        self._open.move_to_end(chat_key)
        while len(self._open) > self.capacity:
            self._open.popitem(last=False)
        return dialogue

    def get(self, chat_key: str, *, now: datetime) -> Dialogue | None:
        dialogue = self._open.get(chat_key)
        if dialogue is not None and dialogue.expires_at <= now:
            del self._open[chat_key]
            return None
        return dialogue

    def advance(self, dialogue: Dialogue, step: str, *, now: datetime, **values: str) -> None:
        dialogue.step = step
        dialogue.values.update(values)
        dialogue.expires_at = now + self.timeout

    def end(self, chat_key: str) -> None:
        self._open.pop(chat_key, None)
