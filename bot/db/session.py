"""Engine, session factory and migrations (Alembic, applied at start)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Database:
    """One engine and its session factory; `is_sqlite` selects the locking strategy for writes.

    `read_only` refuses every write at the database itself (SQLite `query_only`, PostgreSQL read-only
    transactions): `stadtretter ask` reads the real database that way.
    """

    def __init__(self, url: str, *, echo: bool = False, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, object] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
            if ":memory:" in url or "mode=memory" in url:
                kwargs["poolclass"] = StaticPool  # one shared connection, or each would see its own database
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
            if read_only:
                kwargs["connect_args"] = {"server_settings": {"default_transaction_read_only": "on"}}
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            if read_only:
                event.listen(self.engine.sync_engine, "connect", _sqlite_query_only)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer: serialising writes in-process avoids "database is locked".
        # PostgreSQL needs no such lock; row locks (SELECT ... FOR UPDATE) keep it consistent.
        self.write_lock: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        )

    async def upgrade(self) -> None:
        """Apply all Alembic revisions up to head."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade)

    async def at_head(self) -> bool:
        """Whether every Alembic revision is applied (without applying any)."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        return (
            current is not None
            and current == ScriptDirectory.from_config(alembic_config()).get_current_head()
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_query_only(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _run_upgrade(connection: object) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
