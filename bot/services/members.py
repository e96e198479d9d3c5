"""Members: found or created by platform identity, with consent and reachability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Person
from bot.db.models import Member
from bot.db.session import Database


async def ensure_member(session: AsyncSession, db: Database, sender: Person, *, now: datetime) -> Member:
    """Return the member for `sender`, creating it race-free (concurrent first messages are fine)."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    stmt = (
        insert(Member)
        .values(
            platform=sender.platform,
            user_id=sender.id,
            display_name=sender.display_name[:255],
            language=sender.language,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["platform", "user_id"])
    )
    await session.execute(stmt)
    member = await session.scalar(
        select(Member).where(Member.platform == sender.platform, Member.user_id == sender.id)
    )
    assert member is not None
    if sender.display_name and member.display_name != sender.display_name[:255]:
        member.display_name = sender.display_name[:255]
    return member


def language_of(member: Member, default: str) -> str:
    """The member's language for pushes: the platform's hint ("en-US" -> "en") when we speak it."""
    hint = (member.language or "")[:2].lower()
    return hint if hint in ("de", "en") else default


class MemberService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def mark_unreachable(self, platform: str, user_id: str, *, now: datetime) -> None:
        """Remember that this member blocked the bot or left: pushes to them stop."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                update(Member)
                .where(Member.platform == platform, Member.user_id == user_id)
                .values(unreachable_at=now)
            )

    async def mark_reachable(self, platform: str, user_id: str) -> None:
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                update(Member)
                .where(
                    Member.platform == platform, Member.user_id == user_id, Member.unreachable_at.is_not(None)
                )
                .values(unreachable_at=None)
            )

    async def reminders(self, person: Person, *, turn: bool | None = None) -> bool | None:
        """Whether the member gets reminders (after turning them on or off); None without a member row."""
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member = await session.scalar(
                select(Member).where(Member.platform == person.platform, Member.user_id == person.id)
            )
            if member is None:
                return None
            if turn is not None:
                member.reminders = turn
            return member.reminders
