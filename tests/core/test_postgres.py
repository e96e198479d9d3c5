"""PostgreSQL specifics: migrations apply, and 50 concurrent registrations for 10 seats never overbook."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select, text, update

from bot.app import build_context
from bot.config import Settings
from bot.db.models import Event, Registration
from tests.conftest import person

THINIUS = "webtalk-groesste-zukunft"


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from bot.db.session import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_fifty_concurrent_registrations_for_ten_seats(pg_url: str, settings: Settings) -> None:
    # Two independent application instances share the database, as in production with two processes.
    first = await build_context(settings, database_url=pg_url)
    second = await build_context(settings, database_url=pg_url, sync=False)
    try:
        assert first.db.engine.dialect.name == "postgresql"
        async with first.db.sessions.begin() as session:
            await session.execute(update(Event).where(Event.slug == THINIUS).values(capacity=10))
        users = [f"member-{i}" for i in range(50)]
        for user in users:
            await first.registrations.give_consent(person(user))
        event = first.events.catalog.by_slug[THINIUS]
        results = await asyncio.gather(
            *(
                (first if i % 2 else second).registrations.register(person(user), event)
                for i, user in enumerate(users)
            )
        )
        outcomes = [r.outcome.value for r in results]
        assert outcomes.count("confirmed") == 10
        assert outcomes.count("waitlisted") == 40
        async with first.db.sessions() as session:
            counts = dict(
                (
                    await session.execute(
                        select(Registration.status, func.count()).group_by(Registration.status)
                    )
                ).all()
            )
            positions = sorted(r.waitlist_position for r in results if r.waitlist_position)
        assert counts == {"confirmed": 10, "waitlisted": 40}
        assert positions == list(range(1, 41))
    finally:
        await first.close()
        await second.close()


async def test_migrations_create_the_schema(pg_url: str, settings: Settings, tmp_path: Path) -> None:
    ctx = await build_context(settings, database_url=pg_url)
    try:
        async with ctx.db.engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            tables = set(
                (
                    await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                ).scalars()
            )
        assert version == head_revision()
        assert {"events", "members", "registrations", "outbox", "sent_messages", "faq", "impulses"} <= tables
        assert len(ctx.events.catalog.events) == 5
        # Starting again on the same database is a no-op.
        again = await build_context(settings, database_url=pg_url)
        await again.close()
    finally:
        await ctx.close()


async def test_the_migrations_build_exactly_the_models(db_url: str, settings: Settings) -> None:
    """Schema changes go through Alembic: after all revisions, the database matches the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.db.models import Base

    ctx = await build_context(settings, database_url=db_url, sync=False)
    try:
        async with ctx.db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == []
    finally:
        await ctx.close()


async def test_a_status_outside_the_enum_is_refused(db_url: str, settings: Settings) -> None:
    from sqlalchemy.exc import IntegrityError

    ctx = await build_context(settings, database_url=db_url, sync=False)
    try:
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (key, platform, chat_id, is_private, payload, status, attempts,"
                    " not_before, created_at) VALUES ('k', 'console', 'x', true, '{}', 'sent', 0,"
                    " '2020-01-01 00:00:00+00', '2020-01-01 00:00:00+00')"
                )
            )
        try:
            async with ctx.db.engine.begin() as conn:
                await conn.execute(text("UPDATE outbox SET status = 'lost'"))
            raise AssertionError("the CHECK constraint let an unknown status in")
        except IntegrityError:
            pass
    finally:
        await ctx.close()
