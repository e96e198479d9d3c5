"""The one clock feature code reads: real time, or time set by BOT_NOW for demos and tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Timezone-aware time source.

    With `fixed`, time starts at that instant: frozen (tests, `ask --now`), or `ticking` from there
    (a running demo, where retries and reminders must still come due).
    """

    def __init__(self, fixed: datetime | None = None, *, ticking: bool = False) -> None:
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware datetime")
        self.fixed = fixed
        self.ticking = ticking
        self._started = time.monotonic()

    def now(self) -> datetime:
        if self.fixed is None:
            return datetime.now(UTC)
        if self.ticking:
            return self.fixed + timedelta(seconds=time.monotonic() - self._started)
        return self.fixed
