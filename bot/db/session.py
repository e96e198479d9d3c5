"""Engine, session factory, write locking and migrations (Alembic, applied at start).

SQLite is one process's database: `lock_single_process` refuses a second running assistant on the same
file, and every write transaction starts with `BEGIN IMMEDIATE` (taking SQLite's write lock before the
first read), so even another process that writes (`content sync`, a script) never interleaves with a
decision about seats. PostgreSQL serialises with row locks; its migrations run under an advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from bot.config import ConfigError, async_database_url
from bot.files import private_file, tighten

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant shared by all instances: the advisory lock migrations run under on PostgreSQL.
MIGRATION_LOCK = 0x5374_6164  # "Stad"
SYNC_LOCK = MIGRATION_LOCK + 1  # the content sync at start
# Set while a task holds the write lock: its transactions on SQLite begin IMMEDIATE.
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("stadtretter_db_writing", default=False)


class WriteLock:
    """`async with db.write_lock, db.sessions.begin()`: the way every write transaction starts.

    On SQLite it serialises this process's writers (an asyncio lock) and makes the transaction begin
    IMMEDIATE, which takes the database's write lock across processes before the first read. On
    PostgreSQL it only marks the transaction; row locks keep it consistent.
    """

    def __init__(self, *, serialise: bool) -> None:
        self._lock = asyncio.Lock() if serialise else None

    async def __aenter__(self) -> None:
        if self._lock is not None:
            await self._lock.acquire()
            _writing.set(True)  # in this task's context only; tasks never share a write transaction

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._lock is not None:
            _writing.set(False)
            self._lock.release()


class DatabaseInUse(ConfigError):
    """Another running assistant holds this SQLite database."""


class Database:
    """One engine and its session factory; `is_sqlite` selects the locking strategy for writes.

    `read_only` refuses every write at the database itself (SQLite `query_only`, PostgreSQL read-only
    transactions): `stadtretter ask` reads the real database that way.
    """

    def __init__(self, url: str, *, echo: bool = False, read_only: bool = False, wait: float = 0.0) -> None:
        url = async_database_url(url)
        self.url = url
        self.read_only = read_only
        # Seconds `check` keeps retrying a database that is not reachable yet (BOT_DB_WAIT).
        self.wait = wait
        self.is_sqlite = url.startswith("sqlite")
        self.in_memory = self.is_sqlite and (":memory:" in url or "mode=memory" in url or url.endswith("://"))
        kwargs: dict[str, object] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
            if self.in_memory:
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
            if not self.in_memory:
                # The driver's own BEGIN comes only before the first write, after the reads that decided it;
                # we begin every transaction ourselves, IMMEDIATE for writes.
                event.listen(self.engine.sync_engine, "connect", _sqlite_manual_transactions)
                event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer: serialising writes in-process avoids "database is locked".
        # PostgreSQL needs no such lock; row locks (SELECT ... FOR UPDATE) keep it consistent.
        self.write_lock = WriteLock(serialise=self.is_sqlite)
        self._file_lock: filelock.BaseFileLock | None = None

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file (None for PostgreSQL and in-memory databases)."""
        if not self.is_sqlite or self.in_memory:
            return None
        database = make_url(self.url).database
        return Path(database) if database else None

    def lock_single_process(self) -> None:
        """Refuse to run beside another assistant on the same SQLite file (held until `dispose`)."""
        path = self.sqlite_path
        if path is None or self._file_lock is not None:
            return
        lock = filelock.FileLock(str(path) + ".lock", timeout=0, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise DatabaseInUse(
                f"BOT_DATABASE_URL: {path} is in use by another running assistant "
                "(SQLite serves one process; use PostgreSQL to run two)"
            ) from None
        self._file_lock = lock

    def describe(self) -> str:
        """The URL without its password, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def check(self) -> None:
        """Connect once; a database that cannot be opened becomes one readable ConfigError."""
        path = self.sqlite_path
        if path is not None and not path.exists() and not self.read_only:
            private_file(path)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_transient),
                stop=stop_after_delay(self.wait),
                wait=wait_exponential_jitter(initial=1, max=15),
                before_sleep=self._log_wait,
                reraise=True,
            ):
                with attempt:
                    async with self.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
        except (OSError, DBAPIError) as exc:
            where = f"BOT_DATABASE_URL: cannot open the database {self.describe()}"
            raise ConfigError(f"{where}: {_reason(exc)}{_hint(exc, self)}") from None
        if path is not None and not self.read_only:
            tighten(path)

    def _log_wait(self, state: RetryCallState) -> None:
        outcome = state.outcome
        reason = _reason(outcome.exception()) if outcome and outcome.exception() else "?"  # type: ignore[arg-type]
        logger.warning(
            "database %s not reachable (%s); trying again (BOT_DB_WAIT %.0f s)",
            self.describe(),
            reason,
            self.wait,
        )

    async def upgrade(self) -> None:
        """Apply all Alembic revisions up to head; instances starting together migrate one after the other."""
        await self.check()
        async with self.write_lock, self.engine.begin() as conn:
            if not self.is_sqlite:
                # Released at commit; the next instance then finds the schema at head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(_run_upgrade)

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, key: int) -> AsyncIterator[None]:
        """Instances sharing a PostgreSQL database run the block one after the other (e.g. the content sync
        at start); SQLite has one process, so nothing to wait for."""
        if self.is_sqlite:
            yield
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()

    async def at_head(self) -> bool:
        """Whether every Alembic revision is applied (without applying any)."""
        await self.check()
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
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_manual_transactions(dbapi_conn: Any, _record: object) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing.get() else "BEGIN")


def _reason(exc: BaseException) -> str:
    """A short reason for a failed connection, first line only (driver messages can run long)."""
    original = getattr(exc, "orig", None) or exc
    detail = str(original).strip().splitlines()
    return f"{type(original).__name__}: {detail[0]}" if detail else type(original).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the driver's error it wraps and what caused that."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 5:
        found.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return found


def _transient(exc: BaseException) -> bool:
    """A database that is not reachable or not ready yet (worth waiting for), not a wrong setting."""
    return any(
        isinstance(e, OSError | TimeoutError)
        or type(e).__name__
        in ("CannotConnectNowError", "TooManyConnectionsError", "ConnectionDoesNotExistError")
        for e in _causes(exc)
    )


def _hint(exc: BaseException, db: Database) -> str:
    """What to do about a database that cannot be opened, in a few words."""
    names = {type(e).__name__ for e in _causes(exc)}
    url = make_url(db.url)
    if "InvalidCatalogNameError" in names:
        return f"; create it first: createdb -O {url.username or 'stadtretter'} {url.database}"
    if names & {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
        return "; check the user name and password in BOT_DATABASE_URL"
    if db.is_sqlite:
        return "; check that its folder exists and is writable"
    if _transient(exc):
        return (
            f"; is PostgreSQL running and reachable at {url.host or 'localhost'}:{url.port or 5432}? "
            "(BOT_DB_WAIT=60s waits for it at start)"
        )
    return ""


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
