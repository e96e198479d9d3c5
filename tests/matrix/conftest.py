"""Fixtures for the Matrix tests: one Synapse per session, test users as nio clients, the bot adapter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.chat import Incoming, Reply
from tests.matrix.synapse import Synapse, TestUser


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"Synapse did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def stores(tmp_path: Path) -> Path:
    path = tmp_path / "stores"
    path.mkdir()
    return path


@pytest.fixture
async def clients(synapse: Synapse, stores: Path) -> AsyncIterator[list[object]]:
    """Test users created in a test; closed afterwards."""
    made: list[object] = []
    yield made
    for client in made:
        await client.close()  # type: ignore[attr-defined]


@pytest.fixture
async def make_bot(synapse: Synapse, tmp_path: Path) -> AsyncIterator[Any]:
    """Start bot adapters on the real core (stopped at the end); the same data_dir and user make a restart.

    Each adapter gets `core` (the AppContext), `recording` (what reached the core and what it answered)
    and `test_user` for the assertions.
    """
    from bot.app import build_context
    from bot.config import load_settings
    from bot.platforms.matrix import MatrixAdapter

    running: list[MatrixAdapter] = []
    contexts: list[Any] = []

    async def make(
        *,
        user: TestUser | None = None,
        data_dir: Path | None = None,
        allowed: list[str] | None = None,
        token_login: bool = False,
        **options: Any,
    ) -> MatrixAdapter:
        user = user or synapse.register()
        data_dir = data_dir or tmp_path / f"bot-{len(running)}"
        login = {"matrix_password": user.password}
        if token_login:
            login = {"matrix_access_token": user.access_token, "matrix_device_id": user.device_id}
        settings = load_settings(
            data_dir=data_dir,
            matrix_homeserver=synapse.url,
            matrix_user_id=user.user_id,
            matrix_allowed=allowed or [],
            now="2020-09-28T09:00:00+02:00",
            database_url=f"sqlite+aiosqlite:///{data_dir / 'bot.sqlite3'}",
            **login,
        )
        core = await build_context(settings)
        contexts.append(core)
        recording = Recording(core.handle)
        adapter = MatrixAdapter(settings, replace(core.ports(), handle=recording.handle), **options)
        adapter.test_user = user  # type: ignore[attr-defined]
        adapter.core = core  # type: ignore[attr-defined]
        adapter.recording = recording  # type: ignore[attr-defined]
        running.append(adapter)
        await adapter.start()
        return adapter

    yield make
    for adapter in running:
        await adapter.stop()
    for core in contexts:
        await core.close()


class Recording:
    """Wraps the core's `handle` port the adapter is built with: every Incoming and what the core answered."""

    def __init__(self, handle: Callable[[Incoming], Awaitable[list[Reply]]]) -> None:
        self._handle = handle
        self.calls: list[tuple[Incoming, list[Reply]]] = []

    @property
    def seen(self) -> list[Incoming]:
        return [incoming for incoming, _ in self.calls]

    async def handle(self, incoming: Incoming) -> list[Reply]:
        replies = await self._handle(incoming)
        self.calls.append((incoming, replies))
        return replies

    async def handled(self, match: Callable[[Incoming], bool], within: float = 15.0) -> list[Reply]:
        """What the core answered to the first Incoming that matches, once it was handled."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for incoming, replies in self.calls:
                if match(incoming):
                    return replies
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching Incoming reached the core within {within} s")
