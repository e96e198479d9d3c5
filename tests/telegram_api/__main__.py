"""Run the Bot API test server on its own (for benchmarks): python -m tests.telegram_api --port N."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from tests.telegram_api.limits import Limits
from tests.telegram_api.server import BotApiServer


async def serve(port: int, token: str, scale: float, enabled: bool) -> None:
    server = BotApiServer(token=token, limits=Limits(scale=scale, enabled=enabled))
    server.record_calls = False
    await server.start(port)
    print(f"listening on {server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="123456:TEST-token")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-limits", action="store_true")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.token, args.scale, not args.no_limits))


if __name__ == "__main__":
    main()
