"""The yes/no question each person was asked last (consent, deletion), for a typed "ja" or "nein"."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

# A "ja" long after the question means something else.
WINDOW = timedelta(minutes=30)


class PendingQuestions:
    """In memory, bounded, per person: the action a "yes" runs, and when it was asked."""

    def __init__(self, *, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._asked: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def ask(self, person_key: str, action: str, *, now: datetime) -> None:
        self._asked[person_key] = (action, now)
        self._asked.move_to_end(person_key)
        while len(self._asked) > self.capacity:
            self._asked.popitem(last=False)

    def take(self, person_key: str, *, now: datetime) -> str | None:
        """The action a "yes" now answers (forgotten either way), or None when nothing is asked."""
        asked = self._asked.pop(person_key, None)
        if asked is None or now - asked[1] > WINDOW:
            return None
        return asked[0]

    def forget(self, person_key: str) -> None:
        self._asked.pop(person_key, None)
