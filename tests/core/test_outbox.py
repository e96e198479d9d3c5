"""The durable outbox: idempotent keys, delivery through a sender, retries, unreachable recipients."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from bot.app import build_context
from bot.chat import ChatRef, Reply
from bot.config import Settings
from bot.context import AppContext
from bot.db.models import Member, OutboxMessage, SentMessage
from bot.delivery import TemporaryFailure, Unreachable
from bot.platforms.console import ConsoleAdapter
from scheduler.jobs import enqueue_reminders
from scheduler.outbox import BATCH, OutboxWorker
from tests.conftest import person, say


class FlakySender(ConsoleAdapter):
    """The console transport, failing as told for given chats first."""

    def __init__(self, ctx: AppContext, failures: dict[str, list[Exception]]) -> None:
        super().__init__(ctx.ports(), downloads=ctx.settings.data_dir / "downloads", out=io.StringIO())
        self.failures = failures
        self.delivered: list[str] = []

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        pending = self.failures.get(chat.id)
        if pending:
            raise pending.pop(0)
        await super().send(chat, reply)
        self.delivered.append(chat.id)
        return f"m{len(self.delivered)}"


async def outbox_rows(ctx: AppContext) -> dict[str, tuple[str, int]]:
    async with ctx.db.sessions() as session:
        return {
            r.chat_id: (r.status, r.attempts) for r in (await session.scalars(select(OutboxMessage))).all()
        }


async def test_delivery_retries_and_unreachable(ctx: AppContext) -> None:
    sender = FlakySender(
        ctx, {"b": [TemporaryFailure("flood", retry_after=0)], "c": [Unreachable("blocked")]}
    )
    ctx.transports["console"] = sender
    await ctx.registrations.give_consent(person("c", platform="console"))
    now = ctx.clock.now()
    for chat in ("a", "b", "c"):
        await ctx.outbox.enqueue(f"k-{chat}", ChatRef("console", chat), Reply("Hallo"), now=now)
        await ctx.outbox.enqueue(f"k-{chat}", ChatRef("console", chat), Reply("Hallo doppelt"), now=now)
    worker = OutboxWorker(ctx)
    await worker.drain_once()
    await worker.drain_once()
    assert sorted(sender.delivered) == ["a", "b"]
    assert await outbox_rows(ctx) == {"a": ("sent", 1), "b": ("sent", 2), "c": ("unreachable", 1)}
    async with ctx.db.sessions() as session:
        member = await session.scalar(select(Member).where(Member.user_id == "c"))
    assert member is not None and member.unreachable_at is not None
    assert "Hallo doppelt" not in sender.out.getvalue()  # type: ignore[attr-defined]


async def test_network_errors_are_retried_until_the_horizon_then_expire(ctx: AppContext) -> None:
    sender = FlakySender(ctx, {"x": [OSError("down")] * 200})
    ctx.transports["console"] = sender
    await ctx.outbox.enqueue("k-x", ChatRef("console", "x"), Reply("Hallo"), now=ctx.clock.now())
    worker = OutboxWorker(ctx)
    for _ in range(12):  # three hours of outage: still pending, never given up
        await worker.drain_once()
        ctx.clock.fixed = ctx.clock.now() + timedelta(minutes=15)
    status, attempts = (await outbox_rows(ctx))["x"]
    assert (status, attempts) == ("pending", 12)
    ctx.clock.fixed = ctx.clock.now() + timedelta(hours=21)  # past the 24-hour horizon
    await worker.drain_once()
    assert (await outbox_rows(ctx))["x"] == ("expired", 12)
    assert worker.counts["expired"] == 1 and "failed" not in worker.counts
    assert sender.delivered == []


async def test_a_chat_that_must_wait_holds_back_its_later_messages_and_no_other_chat(
    ctx: AppContext,
) -> None:
    sender = FlakySender(ctx, {"slow": [TemporaryFailure("Too Many Requests", retry_after=30)]})
    ctx.transports["console"] = sender
    now = ctx.clock.now()
    for number in (1, 2, 3):
        for chat in ("slow", "fast"):
            await ctx.outbox.enqueue(
                f"k-{chat}-{number}", ChatRef("console", chat), Reply(f"{number}"), now=now
            )
    worker = OutboxWorker(ctx)
    await worker.drain_once()
    assert sender.delivered == ["fast"] * 3  # the 429 of one chat stalls no other chat
    async with ctx.db.sessions() as session:
        waiting = (await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == "slow"))).all()
    assert {(r.status, r.attempts, r.not_before) for r in waiting} == {
        ("pending", 1, now + timedelta(seconds=30))
    } | {("pending", 0, now + timedelta(seconds=30))}  # the later two wait with it, not counted as tries
    ctx.clock.fixed = now + timedelta(seconds=31)
    await worker.drain_once()
    assert sender.delivered == ["fast"] * 3 + ["slow"] * 3
    lines = [line for line in sender.out.getvalue().splitlines() if line.strip() in {"1", "2", "3"}]  # type: ignore[attr-defined]
    assert lines[-3:] == ["1", "2", "3"]  # in the order they were queued


class StuckSender(ConsoleAdapter):
    """A transport whose sends never return (a platform that hangs)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx.ports(), downloads=ctx.settings.data_dir / "downloads", out=io.StringIO())
        self.called = asyncio.Event()

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        self.called.set()
        await asyncio.Event().wait()
        return None


async def test_stopping_gives_back_the_batch_claimed_ahead(settings: Settings, db_url: str) -> None:
    ctx = await build_context(settings, database_url=db_url)
    try:
        sender = StuckSender(ctx)
        ctx.transports["console"] = sender
        now = ctx.clock.now()
        deliveries = [(f"k-{n}", ChatRef("console", f"c{n}"), Reply("Hallo")) for n in range(BATCH + 100)]
        await ctx.outbox.enqueue_many(deliveries, now=now)
        worker = OutboxWorker(ctx)
        worker.start()
        await asyncio.wait_for(sender.called.wait(), 10)
        await asyncio.sleep(0.2)  # on PostgreSQL the next batch is claimed meanwhile
        await worker.stop()
        async with ctx.db.sessions() as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
    finally:
        await ctx.close()
    # The first batch was being sent: cut short by the stop, it is due again at once (the attempt counts),
    # rather than after the lease; the batch claimed ahead is free, untried. Nothing is left claimed.
    assert Counter((r.status, r.attempts) for r in rows) == {("pending", 1): BATCH, ("pending", 0): 100}


def test_backoff_grows_to_a_cap_with_jitter() -> None:
    from scheduler.outbox import BACKOFF_CAP, backoff

    waits = [backoff(attempt).total_seconds() for attempt in range(1, 12)]
    assert 1.0 <= waits[0] <= 2.0 and 4.0 <= waits[2] <= 8.0
    assert all(BACKOFF_CAP.total_seconds() / 2 <= w <= BACKOFF_CAP.total_seconds() for w in waits[7:])
    assert len({backoff(10) for _ in range(20)}) > 1  # jitter: retries after an outage do not bunch up


async def test_promotion_is_delivered_once(ctx: AppContext) -> None:
    sender = FlakySender(ctx, {})
    ctx.transports["telegram"] = sender
    async with ctx.db.sessions.begin() as session:
        from sqlalchemy import update

        from bot.db.models import Event

        await session.execute(update(Event).values(capacity=1))
    for user in ("anna", "bert"):
        await say(ctx, "/einwilligen Thinius", user=user)
    await say(ctx, "/abmelden Thinius", user="anna")
    worker = OutboxWorker(ctx)
    await worker.drain_once()
    await worker.drain_once()
    assert sender.delivered == ["bert"]
    assert "Platz ist frei geworden" in sender.out.getvalue()  # type: ignore[attr-defined]


async def test_reminders_are_queued_once_per_registration(ctx: AppContext) -> None:
    await say(ctx, "/einwilligen Thinius", user="anna")
    assert await enqueue_reminders(ctx) == 0  # a week ahead: too early
    ctx.clock.fixed = ctx.clock.now() + timedelta(days=7, hours=12)
    assert await enqueue_reminders(ctx) == 1
    await enqueue_reminders(ctx)
    rows = await outbox_rows(ctx)
    assert rows == {"anna": ("pending", 0)}


def test_a_running_demo_clock_ticks_from_bot_now() -> None:
    import time as _time
    from datetime import datetime

    from bot.clock import Clock

    start = datetime.fromisoformat("2020-09-28T09:00:00+02:00")
    frozen, ticking = Clock(start), Clock(start, ticking=True)
    _time.sleep(0.02)
    assert frozen.now() == start
    assert timedelta(seconds=0.01) < ticking.now() - start < timedelta(seconds=5)


async def test_subject_recorder_writes_everything_by_stop(ctx: AppContext) -> None:
    from bot.services.messages import SubjectRecorder

    recorder = SubjectRecorder(ctx.messages)
    chat = ChatRef("matrix", "!room:example.org", is_private=False)
    for i in range(1200):
        recorder.add(chat, f"$event{i}", "event:webtalk-groesste-zukunft")
    await recorder.stop()
    assert await ctx.messages.subject_of(chat, "$event1199") == "event:webtalk-groesste-zukunft"
    async with ctx.db.sessions() as session:
        from sqlalchemy import func

        assert await session.scalar(select(func.count(SentMessage.id))) == 1200


def test_the_payload_carries_threads_edits_and_deletions_only_where_set() -> None:
    from bot.services.outbox import payload_to_reply, reply_to_payload

    plain = Reply("Hallo", subject="impulse:x")
    assert set(reply_to_payload(plain)) == {"html", "buttons", "subject"}
    assert payload_to_reply(reply_to_payload(plain)) == plain
    threaded = Reply("Anna (Telegram): Ja", in_reply_to="$p", thread="$p", subject="contribution:1")
    assert reply_to_payload(threaded)["in_reply_to"] == "$p"
    assert payload_to_reply(reply_to_payload(threaded)) == threaded
    for reply in (Reply("neu", replaces="12"), Reply("(Beitrag entfernt)", deletes="12")):
        assert payload_to_reply(reply_to_payload(reply)) == reply
