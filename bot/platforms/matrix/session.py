"""What the Matrix adapter keeps in the data dir between restarts: login, direct chats, sync position, sent
messages."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.chat import Person

logger = logging.getLogger(__name__)

T = TypeVar("T")


def session_path(data_dir: Path) -> Path:
    """Where the Matrix session (login and direct chats) is kept in the data dir."""
    return data_dir / "matrix" / "session.json"


class SessionFile:
    """session.json, changed read-modify-write under an exclusive lock on a file beside it.

    The running bot and `stadtretter member delete` both change it: each applies only its own change (one
    direct chat, or the login) to what the file holds now, so neither writes back what the other removed.
    Writes replace the file atomically (a reader sees the old or the new file) with mode 0600: it holds the
    access token.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def read(self) -> dict[str, Any]:
        """What the file holds ({} when it is missing or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable Matrix session file %s: %s", self.path, type(exc).__name__)
            return {}
        return data if isinstance(data, dict) else {}

    def change(self, apply: Callable[[dict[str, Any]], bool | None]) -> dict[str, Any]:
        """Apply one change to the file's current contents and write them (not when `apply` returns False)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self.read()
            if apply(data) is not False:
                tmp = self.path.with_suffix(".tmp")
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(out, "w", encoding="utf-8") as handle:
                    json.dump(data, handle)
                os.replace(tmp, self.path)
            return data
        finally:
            os.close(fd)  # releases the lock


@dataclass
class MatrixSession:
    """The login that survives a restart (the direct chats are `DirectRooms`, in the same file)."""

    homeserver: str
    user_id: str
    device_id: str = ""
    access_token: str = ""

    @classmethod
    def load(cls, path: Path, *, homeserver: str, user_id: str) -> MatrixSession:
        """The saved session for this account, or a fresh one (a session for another account is ignored)."""
        data = SessionFile(path).read()
        if not data:
            return cls(homeserver=homeserver, user_id=user_id)
        if data.get("user_id") != user_id or data.get("homeserver") != homeserver:
            logger.info("Matrix session file is for another account; starting a new session")
            return cls(homeserver=homeserver, user_id=user_id)
        return cls(
            homeserver=homeserver,
            user_id=user_id,
            device_id=str(data.get("device_id") or ""),
            access_token=str(data.get("access_token") or ""),
        )

    def save(self, path: Path) -> None:
        """Write this login, keeping the direct chats (another account's file starts afresh)."""

        def apply(data: dict[str, Any]) -> None:
            if data.get("user_id") != self.user_id or data.get("homeserver") != self.homeserver:
                data.clear()
            data.update(asdict(self))

        SessionFile(path).change(apply)


def _rooms_in(data: dict[str, Any]) -> dict[str, str]:
    rooms = data.get("direct_rooms")
    return {str(k): str(v) for k, v in rooms.items()} if isinstance(rooms, dict) else {}


class DirectRooms:
    """The bot's direct chat with each user (user id -> room id), kept in session.json.

    The file is the truth: an erasure on the command line may remove a person's entry while the bot runs, so
    a lookup sees the file as it is now (read again when it changed) and a write changes one entry. This is
    also the privacy service's `PrivateChats` port for Matrix: a member's pushes are addressed to their user
    id, but what the bot records about their direct chat is keyed by its room id.
    """

    platform = "matrix"

    def __init__(self, path: Path) -> None:
        self.file = SessionFile(path)
        self._stamp: tuple[int, int, int, int] | None = None
        self._rooms: dict[str, str] = {}

    def mapping(self) -> dict[str, str]:
        """User id -> room id, as the file holds it now."""
        try:
            st = os.stat(self.file.path)
        except FileNotFoundError:
            self._stamp, self._rooms = None, {}
            return self._rooms
        stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        if stamp != self._stamp:
            self._rooms = _rooms_in(self.file.read())
            self._stamp = stamp
        return self._rooms

    def get(self, user_id: str) -> str | None:
        return self.mapping().get(user_id)

    def remember(self, user_id: str, room_id: str) -> None:
        """This room is the direct chat with this user."""
        if self.get(user_id) == room_id:
            return

        def apply(data: dict[str, Any]) -> None:
            rooms = _rooms_in(data)
            rooms[user_id] = room_id
            data["direct_rooms"] = rooms

        self.file.change(apply)
        self._stamp = None  # our own write: read again next time

    def forget_room(self, room_id: str) -> None:
        """The bot left this room: it is nobody's direct chat any more."""
        self._remove(lambda user, room: room == room_id)

    def forget_user(self, user_id: str) -> None:
        """Remove the user's entry (their erasure)."""
        self._remove(lambda user, room: user == user_id)

    def _remove(self, drop: Callable[[str, str], bool]) -> None:
        if not any(drop(user, room) for user, room in self.mapping().items()):
            return

        def apply(data: dict[str, Any]) -> bool:
            rooms = _rooms_in(data)
            kept = {user: room for user, room in rooms.items() if not drop(user, room)}
            data["direct_rooms"] = kept
            return kept != rooms

        self.file.change(apply)
        self._stamp = None

    # ----- the privacy service's port

    async def chats_of(self, person: Person) -> list[str]:
        """The id of the person's direct chat with the bot, if there is one."""
        if person.platform != self.platform:
            return []
        room = self.get(person.id)
        return [room] if room else []

    async def forget(self, person: Person) -> None:
        if person.platform == self.platform:
            await asyncio.to_thread(self.forget_user, person.id)

    async def keep_only(self, platform_ids: Callable[[str], Awaitable[set[str]]]) -> int:
        """Forget the direct chats of people who never agreed (nor hold a role): the entry is written when
        someone invites the bot, before anyone knows whether they will agree. Nothing is lost by it: the
        room is found again among the bot's rooms when a push needs it."""
        if not self.mapping():
            return 0
        keep = await platform_ids(self.platform)
        strangers = {user for user in self.mapping() if user not in keep}
        if strangers:
            await asyncio.to_thread(self._remove, lambda user, room: user in strangers)
        return len(strangers)


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
