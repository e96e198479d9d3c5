"""The HTTP server (`BOT_HTTP_LISTEN`): one aiohttp application for every route the assistant serves."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.config import ConfigError

logger = logging.getLogger(__name__)


# Pages need nothing but their own inline style: no scripts, no frames, no forms, no foreign resources.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: a Content-Security-Policy and no content sniffing."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "same-origin")


class HttpServer:
    """Serves `routes` on (host, port) until stopped."""

    def __init__(self, address: tuple[str, int], routes: list[web.RouteDef]) -> None:
        self.host, self.port = address
        self.app = web.Application()
        self.app.add_routes(routes)
        self.app.on_response_prepare.append(security_headers)
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
