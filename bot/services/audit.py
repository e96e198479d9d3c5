"""The audit log: grants, revocations, invitations, exports, erasures; written in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry
from bot.db.session import Database

MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    actor: str | None
    action: str
    subject: str | None
    detail: str


def record_in(
    session: AsyncSession,
    action: str,
    *,
    actor: str | None,
    now: datetime,
    subject: str | None = None,
    detail: str = "",
) -> None:
    """Add an entry to the transaction that makes the change, so neither exists without the other."""
    session.add(AuditEntry(at=now, actor=actor, action=action, subject=subject, detail=detail[:MAX_DETAIL]))


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, action: str, *, actor: str | None, now: datetime, subject: str | None = None, detail: str = ""
    ) -> None:
        """An entry for something that changes nothing else (an export)."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            record_in(session, action, actor=actor, now=now, subject=subject, detail=detail)

    async def latest(self, limit: int = 20) -> list[Entry]:
        """The newest entries, newest first."""
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
            )
            return [Entry(r.at, r.actor, r.action, r.subject, r.detail) for r in rows]
