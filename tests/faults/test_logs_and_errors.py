"""Secrets and message texts never in logs, at DEBUG too; Matrix errors classified as the server meant."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

import pytest
from nio import RoomSendError

from bot.context import AppContext
from bot.delivery import Rejected, TemporaryFailure, Unreachable
from bot.logs import FORMAT, Redactor, secrets_of
from bot.platforms.matrix.transport import failure
from bot.platforms.telegram import TelegramAdapter
from tests.telegram_api import BotApiServer

PHONE = "+49 170 5550123"


@pytest.mark.telegram
async def test_debug_logs_hold_no_token_and_no_message_text(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(Redactor(secrets_of(bot_ctx.settings)))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        anna = live_server.create_user("Anna")
        anna.send_text(f"Bitte rufen Sie mich an: {PHONE}")
        await live_server.wait_inbox(anna.chat, 1)
        live_server.inject_disconnect(chat=anna.chat, count=6)  # errors quote the request URL
        anna.send_command("termine")
        await live_server.wait_until(lambda: "network error" in out.getvalue(), within=15)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = out.getvalue()
    assert "Calling Bot API endpoint" in logged  # PTB's DEBUG records were there, without their values
    assert live_server.token.split(":")[1] not in logged
    assert "5550123" not in logged and "rufen Sie mich" not in logged


def test_the_filter_redacts_secrets_everywhere_and_library_values_below_warning() -> None:
    redactor = Redactor(["123456:SECRET-token", "hunter22"])
    record = logging.LogRecord(
        "telegram.ext", logging.DEBUG, __file__, 1, "POST %s with %s", ("url", "Hallo 0170"), None
    )
    redactor.filter(record)
    assert record.getMessage() == "POST … with …"
    try:
        raise RuntimeError("login failed for hunter22 at /bot123456:SECRET-token/getMe")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "nio.client", logging.ERROR, __file__, 1, "failed: %s", ("hunter22",), sys.exc_info()
        )
    redactor.filter(record)
    text = logging.Formatter().format(record)
    assert "hunter22" not in text and "SECRET-token" not in text and "<redacted>" in text
    own = logging.LogRecord(
        "bot.platforms.telegram.adapter", logging.INFO, __file__, 1, "to %s", ("telegram:1",), None
    )
    redactor.filter(own)
    assert own.getMessage() == "to telegram:1"
    shown = Redactor([], content=True)
    record = logging.LogRecord("telegram.ext", logging.DEBUG, __file__, 1, "text %s", ("Hallo",), None)
    shown.filter(record)
    assert record.getMessage() == "text Hallo"


def _error(code: str | None, status: int) -> RoomSendError:
    response = RoomSendError("error", code)
    response.transport_response = SimpleNamespace(status=status)  # type: ignore[assignment]
    return response


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("M_UNKNOWN", 500, TemporaryFailure),
        ("M_UNKNOWN", 400, TemporaryFailure),
        (None, 502, TemporaryFailure),
        ("M_LIMIT_EXCEEDED", 429, TemporaryFailure),
        ("M_FORBIDDEN", 403, Unreachable),
        ("M_NOT_FOUND", 404, Unreachable),
        ("M_UNKNOWN", 404, Unreachable),  # Synapse's answer for a user that does not exist
        ("M_TOO_LARGE", 413, Rejected),
        ("M_INVALID_PARAM", 400, Rejected),
    ],
)
def test_only_refusals_mark_a_matrix_member_unreachable(
    code: str | None, status: int, expected: type
) -> None:
    assert type(failure("send", _error(code, status))) is expected
