"""Which of several instances on one PostgreSQL database is the active one: a session advisory lock.

The lock is held on a connection of its own. PostgreSQL releases it when that session ends (the process
was killed, the connection broke), so a standby polling `pg_try_advisory_lock` takes over within a few
seconds. The active instance checks its connection every few seconds and gives up leadership as soon as
it fails, before the server could hand the lock to another; server-side TCP keepalives make the server
notice an active instance that vanished from the network within about 20 s. On SQLite there is one
process (the file lock), so it is always the active one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.db.session import Database

logger = logging.getLogger(__name__)

# Any constant shared by all instances (differs from the migration lock).
LEADER_LOCK = 0x5374_6164_0001
# The server closes a session whose peer stopped answering after idle + interval * count seconds.
KEEPALIVE = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


class Leadership:
    """`acquire(stop)` waits until this instance is the active one; `lost` is set when it stops being."""

    def __init__(self, db: Database, *, poll: float = 2.0, check: float = 3.0, timeout: float = 5.0) -> None:
        self.db = db
        self.poll = poll
        self.check = check
        self.timeout = timeout
        self.lost = asyncio.Event()
        self.active = False
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._watch: asyncio.Task[None] | None = None
        self._waiting_logged = False
        self._unreachable_logged = False

    @property
    def shared(self) -> bool:
        """Whether several instances can share the database (PostgreSQL); SQLite serves one process."""
        return not self.db.is_sqlite

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this instance holds the lock (True), or until `stop` is set (False)."""
        if self.lost.is_set():
            # Just lost it: give the standbys, whose connection works, the first chance to take over.
            self.lost.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll * 3)
        if not self.shared:
            self.active = True
            return True
        while not stop.is_set():
            if await self._try():
                self.active = True
                self._watch = asyncio.create_task(self._watch_connection(), name="leadership")
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll)
        return False

    async def _try(self) -> bool:
        try:
            if self._conn is None:
                self._conn = await self._connect()
            got = await asyncio.wait_for(
                self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}),
                self.timeout,
            )
        except Exception as exc:
            # Once per outage: a standby waiting for the database tries every few seconds.
            log = logger.debug if self._unreachable_logged else logger.warning
            log("leadership: database not reachable (%s); trying again", type(exc).__name__)
            self._unreachable_logged = True
            await self._close()
            return False
        self._unreachable_logged = False
        if not got and not self._waiting_logged:
            logger.info("standby: another instance is active; taking over when it stops")
            self._waiting_logged = True
        return bool(got)

    async def _connect(self) -> AsyncConnection:
        if self._engine is None:
            self._engine = create_async_engine(
                self.db.url, poolclass=NullPool, connect_args={"server_settings": KEEPALIVE}
            )
        conn = await self._engine.connect()
        return await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _watch_connection(self) -> None:
        """Give up leadership as soon as the lock's connection stops answering."""
        assert self._conn is not None
        while True:
            await asyncio.sleep(self.check)
            try:
                await asyncio.wait_for(self._conn.scalar(text("SELECT 1")), self.timeout)
            except Exception as exc:
                logger.error("leadership lost: the database connection failed (%s)", type(exc).__name__)
                break
        self.active = False
        self._waiting_logged = False
        await self._close()
        self.lost.set()

    async def release(self) -> None:
        """Stop being the active one (at shutdown): the lock goes with the connection."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        self.active = False
        await self._close()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # Invalidated, not returned: a broken connection must not wait for a polite goodbye.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.invalidate(), self.timeout)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self.timeout)
