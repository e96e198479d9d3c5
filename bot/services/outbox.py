"""The durable outbox: every push (promotion, reminder, impulse, digest) is a row with an idempotency key."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ARRAY, Integer, String, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.chat import Button, ChatRef, Reply
from bot.db.models import OutboxBody, OutboxMessage, OutboxStatus, SentMessage
from bot.db.session import Database

logger = logging.getLogger(__name__)

Delivery = tuple[str, ChatRef, Reply]  # idempotency key, recipient, message
INSERT_BATCH = 1000
# A claim is short and renewed while its batch is in flight: a crashed instance's claims return quickly.
LEASE = timedelta(seconds=30)
# How long a message without an expiry of its own is worth trying (BOT_OUTBOX_HORIZON overrides it).
HORIZON = timedelta(hours=24)


_REFERENCES = ("in_reply_to", "thread", "replaces", "deletes")


def reply_to_payload(reply: Reply) -> dict[str, Any]:
    if reply.attachment is not None:
        raise ValueError("attachments are not sent through the outbox")
    return {
        "html": reply.html,
        "buttons": [[asdict(b) for b in row] for row in reply.buttons],
        "subject": reply.subject,
        # Threads, edits and deletions only where set: older rows and most payloads stay as they were.
        **{name: getattr(reply, name) for name in _REFERENCES if getattr(reply, name) is not None},
    }


def payload_to_reply(payload: dict[str, Any]) -> Reply:
    buttons = tuple(tuple(Button(**b) for b in row) for row in payload.get("buttons", []))
    references = {name: payload[name] for name in _REFERENCES if payload.get(name) is not None}
    return Reply(html=payload["html"], buttons=buttons, subject=payload.get("subject"), **references)


def payload_to_replies(payload: dict[str, Any]) -> list[Reply]:
    """The messages of a payload: one reply, or the parts of a multi-part push (a long weekly overview)."""
    if "parts" in payload:
        return [payload_to_reply(part) for part in payload["parts"]]
    return [payload_to_reply(payload)]


def replies_to_payload(replies: list[Reply]) -> dict[str, Any]:
    if len(replies) == 1:
        return reply_to_payload(replies[0])
    return {"parts": [reply_to_payload(r) for r in replies]}


def _rows(
    deliveries: list[Delivery],
    *,
    now: datetime,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
) -> list[dict[str, Any]]:
    return [
        {
            "key": key[:255],
            "platform": chat.platform,
            "chat_id": chat.id,
            "is_private": chat.is_private,
            "payload": reply_to_payload(reply),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "not_before": not_before or now,
            "created_at": now,
            "expires_at": expires_at,
        }
        for key, chat, reply in deliveries
    ]


@dataclass(slots=True)
class Claimed:
    """A message claimed for sending: read once, never written back as a whole."""

    id: int
    key: str
    platform: str
    chat_id: str
    is_private: bool
    payload: dict[str, Any]
    attempts: int
    body_id: int | None
    progress: int


# A delivered row: the row, the message id to keep, and what that message is about (None: nothing).
Delivered = tuple[Claimed, str | None, str | None]

_OUTBOX = cast(Table, OutboxMessage.__table__)
_CLAIMED = (
    _OUTBOX.c.id,
    _OUTBOX.c.key,
    _OUTBOX.c.platform,
    _OUTBOX.c.chat_id,
    _OUTBOX.c.is_private,
    _OUTBOX.c.payload,
    _OUTBOX.c.attempts,
    _OUTBOX.c.body_id,
    _OUTBOX.c.progress,
)
# Marking a batch sent on PostgreSQL: one statement, the ids and message ids as two arrays.
_SENT = select(
    func.unnest(bindparam("sent_ids", type_=ARRAY(Integer))).label("id"),
    func.unnest(bindparam("sent_mids", type_=ARRAY(String))).label("mid"),
).subquery("sent")
_MARK_SENT_PG = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == _SENT.c.id)
    .values(status=OutboxStatus.SENT, sent_at=bindparam("sent_now"), platform_message_id=_SENT.c.mid)
)


def _sent_params(delivered: list[Delivered], now: datetime) -> dict[str, Any]:
    """The parameters of `_MARK_SENT_PG` for a batch."""
    return {
        "sent_ids": [row.id for row, _, _ in delivered],
        "sent_mids": [mid for _, mid, _ in delivered],
        "sent_now": now,
    }


# On SQLite (in-process, no round trips) one UPDATE per row, executed as many.
_MARK_SENT_ONE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("sent_id"))
    .values(
        status=OutboxStatus.SENT, sent_at=bindparam("sent_now"), platform_message_id=bindparam("sent_mid")
    )
)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue_in(
        self,
        session: AsyncSession,
        key: str,
        chat: ChatRef,
        reply: Reply,
        *,
        now: datetime,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Add a delivery inside the caller's transaction; a key already queued is left as it is.

        `expires_at`: when the message stops being useful (a reminder at its event's start); it is then
        marked expired instead of sent. Without it, the outbox horizon (24 h by default) applies.
        Returns 1 when it was added, 0 when the key was queued already.
        """
        return await self._insert(
            session, [(key, chat, reply)], now=now, not_before=not_before, expires_at=expires_at
        )

    async def enqueue(
        self,
        key: str,
        chat: ChatRef,
        reply: Reply,
        *,
        now: datetime,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await self.enqueue_in(
                session, key, chat, reply, now=now, not_before=not_before, expires_at=expires_at
            )

    async def enqueue_many(
        self, deliveries: list[Delivery], *, now: datetime, expires_at: datetime | None = None
    ) -> None:
        """Add many deliveries (key, chat, reply) in one transaction; keys already queued are left alone."""
        if not deliveries:
            return
        async with self.db.write_lock, self.db.sessions.begin() as session:
            for start in range(0, len(deliveries), INSERT_BATCH):
                batch = deliveries[start : start + INSERT_BATCH]
                await self._insert(session, batch, now=now, expires_at=expires_at)

    async def _insert(
        self,
        session: AsyncSession,
        deliveries: list[Delivery],
        *,
        now: datetime,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        rows = _rows(deliveries, now=now, not_before=not_before, expires_at=expires_at)
        statement = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"])
        if len(rows) == 1:
            result = await session.execute(statement.values(rows[0]))
            return int(getattr(result, "rowcount", 0) or 0)
        await session.execute(statement, rows)
        return len(rows)

    async def enqueue_all_in(
        self, session: AsyncSession, deliveries: list[Delivery], *, now: datetime
    ) -> int:
        """Add deliveries inside the caller's transaction, a few statements for all of them; keys already
        queued are left as they are. Returns how many were added."""
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        added = 0
        for start in range(0, len(deliveries), INSERT_BATCH // 10):
            rows = _rows(deliveries[start : start + INSERT_BATCH // 10], now=now)
            result = await session.execute(
                insert(OutboxMessage)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(OutboxMessage.id)
            )
            added += len(result.all())
        return added

    async def expire(self, *, now: datetime, horizon: timedelta = HORIZON) -> list[str]:
        """Mark due messages that are no longer useful as expired (not sent, not failed); returns their keys.

        A message is no longer useful after its own `expires_at`, or, without one, `horizon` after it was
        queued. Only messages nobody holds a claim on are touched.
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            keys = list(
                (
                    await session.scalars(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                            OutboxMessage.not_before <= now,
                            or_(
                                OutboxMessage.expires_at <= now,
                                and_(
                                    OutboxMessage.expires_at.is_(None),
                                    OutboxMessage.created_at <= now - horizon,
                                ),
                            ),
                        )
                        .values(status=OutboxStatus.EXPIRED)
                        .returning(OutboxMessage.key)
                    )
                ).all()
            )
        return keys

    async def claim(
        self, *, now: datetime, limit: int, platforms: set[str], lease: timedelta = LEASE
    ) -> list[Claimed]:
        """Take due messages for sending; a claim runs out after `lease` unless renewed, so a crash loses
        nothing and a crashed instance's messages are taken up again soon.

        One statement takes them (an UPDATE … RETURNING of the due rows); the batch comes back in queue
        order, so a chat's messages keep their order.
        """
        due = (
            select(_OUTBOX.c.id)
            .where(
                _OUTBOX.c.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                _OUTBOX.c.not_before <= now,
                _OUTBOX.c.platform.in_(platforms),
            )
            .order_by(_OUTBOX.c.not_before, _OUTBOX.c.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        take = (
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(status=OutboxStatus.SENDING, not_before=now + lease, attempts=_OUTBOX.c.attempts + 1)
            .returning(*_CLAIMED)
        )
        async with self.db.write_lock, self.db.engine.begin() as conn:
            rows = [Claimed(*row) for row in await conn.execute(take)]
            body_ids = {row.body_id for row in rows if row.body_id is not None}
            bodies: dict[int, dict[str, Any]] = {}
            if body_ids:
                found = await conn.execute(
                    select(OutboxBody.id, OutboxBody.payload).where(OutboxBody.id.in_(body_ids))
                )
                bodies = {body_id: payload for body_id, payload in found}
        # RETURNING gives no order: the ids are the queue order within a chat.
        rows.sort(key=lambda row: row.id)
        for row in rows:
            if row.body_id is not None:
                row.payload = bodies.get(row.body_id, {})
        return rows

    async def renew(self, ids: list[int], *, until: datetime) -> None:
        """Extend the claims on messages still in flight (a long paced batch keeps what it claimed)."""
        if not ids:
            return
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
                .values(not_before=until)
            )

    async def release(self, ids: list[int], *, retry_at: datetime, tried: bool = False) -> None:
        """Give claimed messages back unsent, due at `retry_at` (they wait behind an earlier one).

        `tried`: their send was started (and cut short by a stop), so the attempt counts.
        """
        if not ids:
            return
        # Not tried: the claim does not count as an attempt.
        attempts = OutboxMessage.attempts if tried else OutboxMessage.attempts - 1
        async with self.db.write_lock, self.db.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
                .values(status=OutboxStatus.PENDING, not_before=retry_at, attempts=attempts)
            )

    async def mark_sent(self, delivered: list[Delivered], *, now: datetime) -> None:
        """Mark delivered rows as sent, with their platform message ids and subjects, in one transaction
        (on PostgreSQL one statement for the rows, however many)."""
        if not delivered:
            return
        async with self.db.write_lock, self.db.engine.begin() as conn:
            if self.db.is_sqlite:
                await conn.execute(
                    _MARK_SENT_ONE,
                    [{"sent_id": row.id, "sent_mid": mid, "sent_now": now} for row, mid, _ in delivered],
                )
            else:
                await conn.execute(_MARK_SENT_PG, _sent_params(delivered, now))
            subjects = [
                {
                    "platform": row.platform,
                    "chat_id": row.chat_id,
                    "message_id": message_id,
                    "subject": subject[:128],
                    "created_at": now,
                }
                for row, message_id, subject in delivered
                if message_id and subject
            ]
            if subjects:
                insert = sqlite_insert if self.db.is_sqlite else pg_insert
                await conn.execute(
                    insert(SentMessage).on_conflict_do_nothing(
                        index_elements=["platform", "chat_id", "message_id"]
                    ),
                    subjects,
                )

    def marks(self) -> SentMarks:
        """A marker for one drain: marks delivered messages sent over a connection it holds."""
        return SentMarks(self)

    async def mark_failed(
        self,
        message_id: int,
        *,
        error: str,
        retry_at: datetime | None,
        status: OutboxStatus = OutboxStatus.FAILED,
        progress: int | None = None,
        remaining: list[Reply] | None = None,
    ) -> None:
        """Schedule a retry at `retry_at`, or give up with `status` when it is None.

        `progress`: parts of a multi-part payload already delivered; a retry goes on from there.
        `remaining`: what is still to send when a part went out only in part (a long message split by the
        platform): the row keeps this rest as its own payload, and a retry sends only it.
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            values: dict[str, Any] = {"last_error": error[:500]}
            if progress is not None:
                values["progress"] = progress
            if remaining is not None:
                values.update(payload=replies_to_payload(remaining), body_id=None, progress=0)
            if retry_at is None:
                values["status"] = status
            else:
                values.update(status=OutboxStatus.PENDING, not_before=retry_at)
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
            )


class SentMarks:
    """Marks delivered messages sent during one drain, over a connection held for it.

    On PostgreSQL a batch without subjects to record is one statement in autocommit: one round trip, where
    a transaction of its own costs four (checkout ping, BEGIN, UPDATE, COMMIT). That keeps short the window
    in which a crash could send a message again (sent, not yet marked). Batches with subjects, and SQLite,
    go through `Outbox.mark_sent`'s transaction.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._conn: AsyncConnection | None = None

    async def mark(self, delivered: list[Delivered], *, now: datetime) -> None:
        if not delivered:
            return
        if self.outbox.db.is_sqlite or any(mid and subject for _, mid, subject in delivered):
            await self.outbox.mark_sent(delivered, now=now)
            return
        try:
            if self._conn is None:
                conn = await self.outbox.db.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await self._conn.execute(_MARK_SENT_PG, _sent_params(delivered, now))
        except Exception:
            await self.close()  # a connection that failed is not used again
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
