"""Remembers what sent platform messages were about, for reactions, replies and threads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.chat import ChatRef
from bot.clock import Clock
from bot.db.models import SentMessage
from bot.db.session import Database


class SentMessages:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record(self, chat: ChatRef, message_id: str, subject: str) -> None:
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                insert(SentMessage)
                .values(
                    platform=chat.platform,
                    chat_id=chat.id,
                    message_id=message_id,
                    subject=subject[:128],
                    created_at=self.clock.now(),
                )
                .on_conflict_do_nothing(index_elements=["platform", "chat_id", "message_id"])
            )

    async def record_many(self, rows: list[tuple[ChatRef, str, str]]) -> None:
        """Record many (chat, message id, subject) rows in one statement."""
        if not rows:
            return
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        now = self.clock.now()
        values = [
            {
                "platform": chat.platform,
                "chat_id": chat.id,
                "message_id": message_id,
                "subject": subject[:128],
                "created_at": now,
            }
            for chat, message_id, subject in rows
        ]
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                insert(SentMessage).on_conflict_do_nothing(
                    index_elements=["platform", "chat_id", "message_id"]
                ),
                values,
            )

    async def subject_of(self, chat: ChatRef, message_id: str) -> str | None:
        async with self.db.sessions() as session:
            return await session.scalar(
                select(SentMessage.subject).where(
                    SentMessage.platform == chat.platform,
                    SentMessage.chat_id == chat.id,
                    SentMessage.message_id == message_id,
                )
            )
