"""PTB's HTTP transport on aiohttp: one keep-alive pool, cheaper per request than the httpx default."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` that sends Bot API requests with aiohttp.

    Measured against the Bot API test server it needs about half the CPU time per request of PTB's httpx
    transport (see docs/benchmarks.md); aiohttp is a dependency anyway.
    """

    def __init__(
        self,
        *,
        connection_pool_size: int = 128,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # The timeouts are PTB's ODVInput[float]: a number, None (no limit) or BaseRequest.DEFAULT_NONE.
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = _timeout(read_timeout, self._read_timeout)
        connect = _timeout(connect_timeout, self._connect_timeout)
        pool = _timeout(pool_timeout, self._pool_timeout)
        write = _timeout(write_timeout, self._media_write_timeout if files else self._write_timeout)
        # aiohttp has no write timeout of its own; uploads get it added to the time to the answer
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_add(pool, connect),
            sock_connect=connect,
            sock_read=_add(read, write) if files else read,
        )
        data: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, upload in files.items():
                    filename, content, mime = _upload(upload)
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                # A JSON body (the Bot API takes one): encoded in C, where aiohttp's form encoding quotes
                # every character in Python, the largest cost of sending a long message.
                data = request_data.json_payload
                headers = _JSON
        try:
            async with self._session.request(
                method, url, data=data, timeout=timeout, headers=headers
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {_without_token(str(err), url)}") from err


_JSON = {"Content-Type": "application/json"}


def _without_token(message: str, url: str) -> str:
    """Error texts may quote the request URL, which holds the bot token: cut it out."""
    _, found, rest = url.partition("/bot")
    token = rest.split("/", 1)[0] if found else ""
    return message.replace(token, "<token>") if token else message


def _timeout(given: object, default: float | None) -> float | None:
    """A timeout PTB passed, or ours where it passed none (`BaseRequest.DEFAULT_NONE`, documented as
    the value to compare with `is`; any other marker PTB might pass counts as none given too)."""
    if given is not BaseRequest.DEFAULT_NONE and (given is None or isinstance(given, int | float)):
        return given
    return default


def _add(first: float | None, second: float | None) -> float | None:
    if first is None or second is None:
        return None
    return first + second


def _upload(upload: Any) -> tuple[str, bytes, str]:
    """(filename, bytes, mime type) from PTB's multipart value: a tuple with bytes or a file handle."""
    if isinstance(upload, tuple):
        filename = upload[0]
        content = upload[1]
        mime = upload[2] if len(upload) > 2 else "application/octet-stream"
    else:  # a bare file handle
        filename, content, mime = getattr(upload, "name", "file"), upload, "application/octet-stream"
    if hasattr(content, "read"):
        content = content.read()
    return str(filename), bytes(content), str(mime)
