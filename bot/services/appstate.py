"""Small named values every instance and command shares, such as the bot's name on each platform."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import AppState
from bot.db.session import Database

HANDLE = "handle:"  # handle:<platform> -> the bot's username (Telegram) or user id (Matrix)


async def handles(db: Database) -> dict[str, str]:
    """The bot's names as the adapters last announced them (the CLI builds deep links from them)."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(AppState.key, AppState.value).where(AppState.key.startswith(HANDLE))
        )
        return {key.removeprefix(HANDLE): value for key, value in rows}


async def remember_handles(db: Database, names: dict[str, str]) -> None:
    async with db.write_lock, db.sessions.begin() as session:
        for platform, name in names.items():
            await session.merge(AppState(key=f"{HANDLE}{platform}", value=name[:255]))
