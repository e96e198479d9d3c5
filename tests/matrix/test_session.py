"""The Matrix session file: two processes (the running bot, an erasure on the command line) change it one
entry at a time under a lock, so neither writes back what the other removed."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

from bot.chat import Person
from bot.platforms.matrix.session import DirectRooms, MatrixSession, session_path
from bot.platforms.matrix.transport import MatrixTransport


class _NoSubjects:
    def add(self, chat: object, message_id: str, subject: str) -> None: ...

    def alias(self, original: object, copy: object) -> None: ...


def saved(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def test_an_erasure_on_the_command_line_is_not_undone_by_the_running_bot(tmp_path: Path) -> None:
    path = session_path(tmp_path)
    login = MatrixSession(homeserver="https://hs", user_id="@bot:hs", device_id="DEV", access_token="alt")
    login.save(path)
    running = MatrixTransport(session_path=path, subjects=_NoSubjects())
    running.remember_direct("@anna:hs", "!anna:hs")
    running.remember_direct("@bert:hs", "!bert:hs")
    assert running.direct_rooms.get("@anna:hs") == "!anna:hs"

    # `stadtretter member delete matrix:@anna:hs`, another process with its own view of the file.
    await DirectRooms(path).forget(Person("matrix", "@anna:hs"))
    assert running.direct_rooms.get("@anna:hs") is None  # the running bot sees the file as it is now

    # The running bot goes on writing what it knows: a new login, a new direct chat, a room it left.
    login.access_token = "neu"
    login.save(path)
    running.remember_direct("@carl:hs", "!carl:hs")
    running.forget_room("!bert:hs")

    assert running.direct_rooms.get("@anna:hs") is None
    data = saved(path)
    assert data["direct_rooms"] == {"@carl:hs": "!carl:hs"}
    assert data["access_token"] == "neu" and data["device_id"] == "DEV"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name("session.json.lock").stat().st_mode) == 0o600


def test_writers_at_the_same_time_each_keep_their_entry(tmp_path: Path) -> None:
    path = session_path(tmp_path)

    def write(worker: int) -> None:
        rooms = DirectRooms(path)
        for n in range(25):
            rooms.remember(f"@u{worker}-{n}:hs", f"!r{worker}-{n}:hs")

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(DirectRooms(path).mapping()) == 200


async def test_the_privacy_port_knows_only_matrix_people(tmp_path: Path) -> None:
    rooms = DirectRooms(session_path(tmp_path))
    assert await rooms.chats_of(Person("matrix", "@anna:hs")) == []
    rooms.remember("@anna:hs", "!anna:hs")
    assert await rooms.chats_of(Person("matrix", "@anna:hs")) == ["!anna:hs"]
    assert await rooms.chats_of(Person("telegram", "@anna:hs")) == []
    await rooms.forget(Person("telegram", "@anna:hs"))
    assert rooms.get("@anna:hs") == "!anna:hs"
