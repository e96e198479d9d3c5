"""Fixtures for the Matrix tests: one Synapse per session, test users as nio clients, the bot adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

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
    """Start bot adapters (stopped at the end); the same data_dir and user make a restart."""
    from bot.config import load_settings
    from bot.platforms.matrix import MatrixAdapter

    running: list[MatrixAdapter] = []

    async def make(*, user: TestUser | None = None, data_dir: Path | None = None,
                   allowed: list[str] | None = None, ctx: Any = None, token_login: bool = False,
                   **options: Any) -> MatrixAdapter:
        user = user or synapse.register()
        data_dir = data_dir or tmp_path / f"bot-{len(running)}"
        login = {"matrix_password": user.password}
        if token_login:
            login = {"matrix_access_token": user.access_token, "matrix_device_id": user.device_id}
        settings = load_settings(
            data_dir=data_dir, matrix_homeserver=synapse.url, matrix_user_id=user.user_id,
            matrix_allowed=allowed or [], now="2020-09-28T09:00:00+02:00",
            database_url=f"sqlite+aiosqlite:///{data_dir / 'bot.sqlite3'}", **login)
        ctx = ctx or await make_context(settings)
        adapter = MatrixAdapter(ctx, **options)
        adapter.test_user = user  # type: ignore[attr-defined]
        running.append(adapter)
        await adapter.start()
        return adapter

    yield make
    for adapter in running:
        await adapter.stop()
    for ctx in {id(a.ctx): a.ctx for a in running}.values():
        if hasattr(ctx, "close"):
            await ctx.close()


async def make_context(settings: Any) -> Any:
    """The real core, recording what reaches it."""
    from bot.app import build_context

    return Recording(await build_context(settings))


class Recording:
    """The core's AppContext, remembering every Incoming handed to it (for assertions)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.seen: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def handle(self, incoming: Any) -> Any:
        self.seen.append(incoming)
        return await self._ctx.handle(incoming)
