"""Logging set-up: one format, and a filter that keeps secrets and members' message texts out of every log.

Libraries log what they send and receive (python-telegram-bot every Bot API call with the token in the
URL and the message in the parameters at DEBUG, matrix-nio every sync, SQLAlchemy every statement with its
values). The filter sits on the handlers, so it sees every record of every logger:

- secrets (the Telegram token, the Matrix access token and password, the webhook secret, the database
  password, and tokens the Matrix login hands out at run time) are replaced by "<redacted>" in the message,
  its arguments and any traceback, at every level;
- a library's records below WARNING keep their wording but not their values ("…"), unless
  `BOT_LOG_CONTENT=1` asks for message texts in the log. The project's own records never carry texts.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings

REDACTED = "<redacted>"
HIDDEN = "…"
OWN_LOGGERS = ("bot", "handlers", "scheduler", "content", "__main__")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor(logging.Filter):
    """Removes secrets from every record and library values from records below WARNING."""

    def __init__(self, secrets: Iterable[str] = (), *, content: bool = False) -> None:
        super().__init__()
        self.content = content
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also redact this value (e.g. an access token the homeserver handed out at login)."""
        if secret and len(secret) >= 4:  # a blank or one-letter "secret" would redact every word
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.content and record.levelno < logging.WARNING and not _own(record.name) and record.args:
            record.args = _hidden(record.args)
        if self._secrets:
            self._redact(record)
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        clean = self.clean(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


def _hidden(args: tuple[object, ...] | Mapping[str, object]) -> tuple[object, ...] | dict[str, object]:
    if isinstance(args, Mapping):
        return dict.fromkeys(args, HIDDEN)
    return tuple(HIDDEN for _ in args)


def secrets_of(settings: Settings) -> list[str]:
    """Every configured value that must never appear in a log."""
    found = [
        secret.get_secret_value()
        for secret in (
            settings.telegram_token,
            settings.telegram_webhook_secret,
            settings.matrix_access_token,
            settings.matrix_password,
        )
        if secret is not None
    ]
    if settings.telegram_token is not None:
        # The part after the colon is the secret half; error texts sometimes quote only that.
        found.append(settings.telegram_token.get_secret_value().partition(":")[2])
    if settings.database_url:
        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None
        if password:
            found.append(str(password))
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log collectors; sees the record after the redacting filter."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


_redactor = Redactor()


def redactor() -> Redactor:
    """The filter the running program's handlers carry (adapters add tokens they receive at run time)."""
    return _redactor


def setup_logging(settings: Settings, *, level: str | None = None) -> None:
    """Log to stderr at `level` (default BOT_LOG_LEVEL) through the redacting filter."""
    global _redactor
    _redactor = Redactor(secrets_of(settings), content=settings.log_content)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(FORMAT))
    handler.addFilter(_redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
