"""The HTTP server (`BOT_HTTP_LISTEN`): one aiohttp application for every route the assistant serves."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.config import ConfigError

logger = logging.getLogger(__name__)


class HttpServer:
    """Serves `routes` on (host, port) until stopped."""

    def __init__(self, address: tuple[str, int], routes: list[web.RouteDef]) -> None:
        self.host, self.port = address
        self.app = web.Application()
        self.app.add_routes(routes)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"BOT_HTTP_LISTEN: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        logger.info("HTTP on %s:%s (/healthz, /readyz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
