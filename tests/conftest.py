"""Shared fixtures: settings on a temporary data dir, app contexts on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.app import build_context
from bot.chat import ChatRef, Incoming, Kind, Person, Reply
from bot.config import Settings, load_settings
from bot.context import AppContext

DEMO_NOW = "2020-09-28T09:00:00+02:00"
PG_BASE = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_counter = itertools.count()
T = TypeVar("T")


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own: sync fixtures may be set up while the test loop runs."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_BASE, timeout=5)
    try:
        if sql:
            await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        run_in_thread(_admin(""))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {PG_BASE}: {type(exc).__name__}: {exc}"
        if os.environ.get("BOT_TEST_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield PG_BASE


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"stadtretter_test_{os.getpid()}_{next(_counter)}"
    run_in_thread(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    run_in_thread(_admin(f'CREATE DATABASE "{name}"'))
    base = postgres_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    run_in_thread(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", now=DEMO_NOW)


@pytest.fixture
async def ctx(settings: Settings, tmp_path: Path) -> AsyncIterator[AppContext]:
    """The demo content on a fresh SQLite file."""
    context = await build_context(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}")
    yield context
    await context.close()


@pytest.fixture
async def any_ctx(settings: Settings, db_url: str) -> AsyncIterator[AppContext]:
    """The demo content on SQLite and on PostgreSQL."""
    context = await build_context(settings, database_url=db_url)
    yield context
    await context.close()


def person(
    user: str = "anna",
    *,
    platform: str = "telegram",
    name: str = "Anna Beispiel",
    language: str | None = None,
) -> Person:
    return Person(platform, user, display_name=name, language=language)


async def say(
    ctx: AppContext,
    text: str,
    *,
    user: str = "anna",
    platform: str = "telegram",
    button: bool = False,
    language: str | None = None,
    private: bool = True,
    mentioned: bool = False,
) -> list[Reply]:
    """Send one message (or button press) through the router, as a member would."""
    sender = person(user, platform=platform, language=language)
    chat = ChatRef(platform, user if private else "group-1", is_private=private)
    kind = Kind.BUTTON if button else Kind.MESSAGE
    return await ctx.handle(Incoming(chat, sender, text, kind=kind, mentioned=mentioned))


def text_of(replies: list[Reply]) -> str:
    return "\n\n".join(r.plain for r in replies)


def actions(replies: list[Reply]) -> list[str]:
    return [b.action for r in replies for row in r.buttons for b in row]
