"""What the Matrix adapter keeps in the data dir between restarts: login, direct chats, sync position."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


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
    """The sync position and, per message with buttons, which reaction runs which command (newest 5000).

    SQLite in WAL mode without a sync on every commit: the sync position is written after every batch, and
    losing the last few writes in a power cut only means a few messages are answered again.
    """

    KEEP = 5000

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS reactions"
                         " (event_id TEXT PRIMARY KEY, actions TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()
        self._writes = 0

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set(self, key: str, value: str | None) -> None:
        self._db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))
        self._db.commit()

    def remember(self, event_id: str, actions: dict[str, str]) -> None:
        self._db.execute("INSERT OR REPLACE INTO reactions (event_id, actions) VALUES (?, ?)",
                         (event_id, json.dumps(actions)))
        self._writes += 1
        if self._writes % 100 == 0:
            self._db.execute("DELETE FROM reactions"
                             " WHERE rowid <= (SELECT MAX(rowid) FROM reactions) - ?", (self.KEEP,))
        self._db.commit()

    def actions(self, event_id: str) -> dict[str, str] | None:
        row = self._db.execute("SELECT actions FROM reactions WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        loaded: dict[str, str] = json.loads(row[0])
        return loaded

    def close(self) -> None:
        self._db.close()
