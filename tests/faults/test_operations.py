"""Operations with real processes: a platform down at start, SIGTERM, JSON logs, health and metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

from tests.telegram_api import BotApiServer, Limits

ROOT = Path(__file__).resolve().parents[2]
DEMO_NOW = "2020-09-28T09:00:30+02:00"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_environment(data_dir: Path, **values: str) -> dict[str, str]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(PYTHONPATH=str(ROOT), BOT_DATA_DIR=str(data_dir), BOT_NOW=DEMO_NOW, **values)
    return env


async def start_bot(cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`stadtretter run` as a real process (stdin from /dev/null, as under a service manager)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def wait_role(port: int, role: str, *, within: float) -> float:
    """Wait until the instance on `port` is ready in `role`; returns the monotonic time it was seen."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status, body = await get(port, "/readyz")
            if status == 200 and json.loads(body)["role"] == role:
                return time.monotonic()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"not ready as {role} within {within} s")


async def stderr_lines(proc: asyncio.subprocess.Process, sink: list[str]) -> None:
    assert proc.stderr is not None
    async for line in proc.stderr:
        sink.append(line.decode())


async def test_telegram_down_at_start_is_retried_then_served_and_sigterm_ends_it(tmp_path: Path) -> None:
    server = BotApiServer(limits=Limits(enabled=False))
    api_port, http_port = free_port(), free_port()
    env = bot_environment(
        tmp_path / "data",
        BOT_TELEGRAM_TOKEN=server.token,
        BOT_TELEGRAM_BASE_URL=f"http://127.0.0.1:{api_port}/bot",
        BOT_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        BOT_LOG_FORMAT="json",
    )
    proc = await start_bot(tmp_path, env)
    lines: list[str] = []
    reader = asyncio.create_task(stderr_lines(proc, lines))
    try:
        deadline = time.monotonic() + 60
        while not any("trying again" in line for line in lines):
            assert proc.returncode is None and time.monotonic() < deadline, lines
            await asyncio.sleep(0.2)
        status, body = await get(http_port, "/readyz")
        assert status == 503 and json.loads(body)["platforms"] == {"telegram": False}
        assert (await get(http_port, "/healthz"))[0] == 200
        await server.start(api_port)  # the Bot API comes back: the retry connects
        await wait_role(http_port, "active", within=90)
        user = server.create_user("Anna")
        user.send_command("hilfe")
        await server.wait_inbox(user.chat, 1, within=20)
        _, metrics = await get(http_port, "/metrics")
        assert 'stadtretter_updates_total{platform="telegram"} 1.0' in metrics
        assert "stadtretter_leader 1.0" in metrics
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        await asyncio.wait_for(proc.wait(), 15)
        took = time.monotonic() - stopped
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await reader
        await server.stop()
    assert proc.returncode == 0, lines
    assert took < 10
    records = [json.loads(line) for line in lines]  # every line a JSON object
    assert any(r["level"] == "WARNING" and "Telegram Bot API not reachable" in r["message"] for r in records)
    assert not any("Traceback" in line or server.token.partition(":")[2] in line for line in lines)
