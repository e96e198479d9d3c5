"""Flood limits of the Bot API test server: token buckets per bot, per chat and per group."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Limits:
    """Telegram's documented sending limits; `scale` multiplies every rate (benchmarks use 20)."""

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: float = 3.0
    group_per_minute: float = 20.0
    scale: float = 1.0
    enabled: bool = True


class Bucket:
    """A token bucket: `capacity` messages at once, refilled at `rate` per second."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, *, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is there now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0
