"""Who may run a command, and where: the router's one filter chain (errbot's access control is the model).

A command declares what it needs (`role=Role.MANAGER`, `private=True`, or a function of the request for
commands whose sub-commands differ); the router asks `decide` before a handler runs, so handlers never
check roles. Each filter looks at one thing and either passes or decides; the first decision wins.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.chat import ChatRef, Incoming
from bot.db.models import Role


@dataclass(frozen=True, slots=True)
class Access:
    """What running a command needs: at least this role, and (with `private`) a private chat."""

    role: Role = Role.MEMBER
    private: bool = False


OPEN = Access()
MANAGER_PRIVATE = Access(Role.MANAGER, private=True)


class Verdict(StrEnum):
    RUN = "run"  # run the handler where it was asked
    REFUSE = "refuse"  # the role does not suffice: a short refusal, nothing written, no handler
    MOVE = "move"  # a private matter asked in a group: a notice there, the answer in the private chat


Filter = Callable[[Access, Role, Incoming], Verdict | None]


def role_filter(needed: Access, role: Role, incoming: Incoming) -> Verdict | None:
    return None if role.covers(needed.role) else Verdict.REFUSE


def private_filter(needed: Access, role: Role, incoming: Incoming) -> Verdict | None:
    return Verdict.MOVE if needed.private and not incoming.chat.is_private else None


CHAIN: tuple[Filter, ...] = (role_filter, private_filter)


def decide(needed: Access, role: Role, incoming: Incoming, chain: tuple[Filter, ...] = CHAIN) -> Verdict:
    """The first filter's decision, or RUN when all pass."""
    for check in chain:
        verdict = check(needed, role, incoming)
        if verdict is not None:
            return verdict
    return Verdict.RUN


def private_chat(incoming: Incoming) -> ChatRef:
    """The sender's private chat with the bot (adapters find or open it from the user id)."""
    return ChatRef(incoming.sender.platform, incoming.sender.id, is_private=True)


class Flood(StrEnum):
    OK = "ok"
    NOTICE = "notice"  # the first message over the limit: one polite notice
    DROP = "drop"  # further ones within the minute: no answer, nothing written


@dataclass
class FloodGate:
    """Messages per person in the last minute (in memory; the console's person is never limited)."""

    window: float = 60.0
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _noticed: set[str] = field(default_factory=set)

    def check(self, incoming: Incoming, limit: int, *, now: float | None = None) -> Flood:
        if limit <= 0 or incoming.sender.platform == "console":
            return Flood.OK
        key = incoming.sender.key
        moment = time.monotonic() if now is None else now
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= moment - self.window:
            seen.popleft()
        if len(seen) < limit:
            seen.append(moment)
            self._noticed.discard(key)
            if len(self._seen) > 50_000:
                self._forget_quiet(moment)
            return Flood.OK
        if key in self._noticed:
            return Flood.DROP
        self._noticed.add(key)
        return Flood.NOTICE

    def _forget_quiet(self, moment: float) -> None:
        for key in [k for k, times in self._seen.items() if not times or times[-1] <= moment - self.window]:
            del self._seen[key]
