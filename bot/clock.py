"""The one clock feature code reads: real time, or a fixed instant from BOT_NOW for demos and tests."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Timezone-aware time source; `fixed` freezes it (BOT_NOW, `ask --now`)."""

    def __init__(self, fixed: datetime | None = None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware datetime")
        self.fixed = fixed

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)
