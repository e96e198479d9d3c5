"""What the Matrix adapter keeps in the data dir between restarts: login, direct chats, sync position, sent
messages."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class MatrixSession:
    """What survives a restart; the file holds an access token, so it is written with mode 0600."""

    homeserver: str
    user_id: str
    device_id: str = ""
    access_token: str = ""
    direct_rooms: dict[str, str] = field(default_factory=dict)  # user id -> room id

    @classmethod
    def load(cls, path: Path, *, homeserver: str, user_id: str) -> MatrixSession:
        """The saved session for this account, or a fresh one (a session for another account is ignored)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(homeserver=homeserver, user_id=user_id)
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable Matrix session file %s: %s", path, type(exc).__name__)
            return cls(homeserver=homeserver, user_id=user_id)
        if data.get("user_id") != user_id or data.get("homeserver") != homeserver:
            logger.info("Matrix session file is for another account; starting a new session")
            return cls(homeserver=homeserver, user_id=user_id)
        return cls(
            homeserver=homeserver,
            user_id=user_id,
            device_id=str(data.get("device_id") or ""),
            access_token=str(data.get("access_token") or ""),
            direct_rooms={str(k): str(v) for k, v in (data.get("direct_rooms") or {}).items()},
        )

    def save(self, path: Path) -> None:
        """Write atomically so a crash leaves either the old or the new file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)
        os.replace(tmp, path)


class LocalStore:
    """The sync position and the messages the bot sent (newest KEEP), with which reaction runs which button.

    SQLite in WAL mode without a sync on every commit: the sync position is written after every batch, and
    losing the last few writes in a power cut only means a few messages are answered again.
    Every call runs on the store's own worker thread, in the order the calls were made, so the event loop
    never waits for the disk; `remember_sent` does not even wait for its write, a later read still sees it.
    """

    KEEP = 20_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matrix-store")
        self._writing: set[asyncio.Future[None]] = set()
        self._writes = 0

    @classmethod
    async def open(cls, path: Path) -> LocalStore:
        store = cls(path)
        await store._run(store._open)
        return store

    async def get(self, key: str) -> str | None:
        return await self._run(self._get, key)

    async def set(self, key: str, value: str | None) -> None:
        await self._run(self._set, key, value)

    def remember_sent(self, event_id: str, actions: dict[str, str] | None = None) -> None:
        """Note a message the bot sent, with emoji -> action of its buttons (written in the background)."""
        try:
            future = asyncio.get_running_loop().run_in_executor(
                self._worker, self._remember, event_id, actions
            )
        except RuntimeError:  # closed while the message was on its way: it is sent, only not remembered
            logger.warning("Matrix: store closed, sent message %s not remembered", event_id)
            return
        self._writing.add(future)
        future.add_done_callback(self._written)

    async def sent(self, event_id: str) -> dict[str, str] | None:
        """Emoji -> action of the buttons of a message the bot sent ({} without any); None: not the bot's."""
        return await self._run(self._sent, event_id)

    async def close(self) -> None:
        """Finish the writes still queued, then close the database and end the worker thread."""
        try:
            await self._run(self._close)
        finally:
            self._worker.shutdown(wait=False)

    # ----- on the worker thread

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writing.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.error("Matrix: cannot remember a sent message: %s", future.exception())

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False)  # only ever used by the worker thread
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS sent (event_id TEXT PRIMARY KEY, actions TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
        old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reactions'").fetchone()
        if old:  # earlier versions kept only the messages with buttons, in "reactions"
            db.execute(
                "INSERT OR IGNORE INTO sent (event_id, actions) SELECT event_id, actions FROM reactions"
            )
            db.execute("DROP TABLE reactions")
        db.commit()
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the Matrix store is closed")
        return self._db

    def _get(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def _set(self, key: str, value: str | None) -> None:
        db = self._conn()
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))
        db.commit()

    def _remember(self, event_id: str, actions: dict[str, str] | None) -> None:
        db = self._conn()
        db.execute(
            "INSERT OR REPLACE INTO sent (event_id, actions) VALUES (?, ?)",
            (event_id, json.dumps(actions or {}, ensure_ascii=False)),
        )
        self._writes += 1
        if self._writes % 100 == 0:
            db.execute("DELETE FROM sent WHERE rowid <= (SELECT MAX(rowid) FROM sent) - ?", (self.KEEP,))
        db.commit()

    def _sent(self, event_id: str) -> dict[str, str] | None:
        row = self._conn().execute("SELECT actions FROM sent WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        loaded: dict[str, str] = json.loads(row[0])
        return loaded

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
