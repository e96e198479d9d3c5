"""Shared fixtures: settings on a temporary data dir, app contexts on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import AppContext, build_context
from bot.chat import ChatRef, Incoming, Reply, Sender
from bot.config import Settings, load_settings

DEMO_NOW = "2020-09-28T09:00:00+02:00"
PG_BASE = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_counter = itertools.count()


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_BASE, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_BASE}: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    reason = _pg_reachable()
    if reason:
        if os.environ.get("BOT_TEST_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield PG_BASE


@pytest.fixture
async def pg_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import asyncpg

    name = f"stadtretter_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = postgres_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", now=DEMO_NOW)


@pytest.fixture
async def ctx(settings: Settings, tmp_path: Path) -> AsyncIterator[AppContext]:
    """The demo content on a fresh SQLite file."""
    context = await build_context(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}")
    yield context
    await context.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_ctx(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> AsyncIterator[AppContext]:
    """The demo content on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    context = await build_context(settings, database_url=url)
    yield context
    await context.close()


def person(user: str = "anna", *, platform: str = "telegram", name: str = "Anna Beispiel",
           language: str | None = None) -> Sender:
    return Sender(platform, user, display_name=name, language=language)


async def say(ctx: AppContext, text: str, *, user: str = "anna", platform: str = "telegram",
              button: bool = False, language: str | None = None, private: bool = True,
              addressed: bool = True) -> list[Reply]:
    """Send one message (or button press) through the router, as a member would."""
    sender = person(user, platform=platform, language=language)
    chat = ChatRef(platform, user if private else "group-1", is_private=private)
    return await ctx.handle(Incoming(chat, sender, text, is_button=button, addressed=addressed))


def text_of(replies: list[Reply]) -> str:
    return "\n\n".join(r.plain for r in replies)


def actions(replies: list[Reply]) -> list[str]:
    return [b.action for r in replies for row in r.buttons for b in row]
