"""Settings from BOT_* environment variables (and an optional .env), validated by pydantic-settings."""

from __future__ import annotations

import os
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.files import private_dir

BUNDLED_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
_WHEN = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})\s*$", re.I)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PLATFORMS = ("telegram", "matrix", "console")
# Drivers the assistant runs with; what a volunteer writes (postgresql://, sqlite://) maps onto them.
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|min|m|s)?", re.I)
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}
_TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_MATRIX_USER = re.compile(r"@[^:\s]+:[^\s]+")


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


def async_database_url(url: str) -> str:
    """The URL with the async driver the assistant uses: `postgresql://…` becomes `postgresql+asyncpg://…`.

    Raises ValueError (without the password) for what cannot be a database URL or names another driver.
    """
    text = url.strip()
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ValueError("not a database URL; e.g. postgresql://user@host/db or sqlite:///path") from None
    driver = _DRIVERS.get(parsed.drivername.lower())
    if driver is None:
        raise ValueError(
            f"the driver {parsed.drivername!r} is not supported; use postgresql://… or sqlite:///…"
        )
    if driver.startswith("postgresql") and not parsed.database:
        raise ValueError("names no database; e.g. postgresql://user@host/stadtretter")
    # Only the scheme changes: rendering the parsed URL again would quote ":memory:" into a file name.
    rest = text.split("://", 1)[1]
    if driver.startswith("postgresql") and "sslmode=" in rest:
        rest = re.sub(r"([?&])sslmode=", r"\1ssl=", rest)  # libpq's name; asyncpg calls it ssl
    return f"{driver}://{rest}"


def parse_duration(value: object) -> object:
    """ "24h", "90 min", "2d", "3600" (seconds) or "1h30m" as a timedelta; anything else goes to pydantic."""
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts).lower() != text.lower():
        return value
    return timedelta(seconds=sum(float(n) * _DURATION_UNITS[(u or "s").lower()] for n, u in parts))


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// address")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("stadtretter")))
    database_url: str | None = None
    content_dir: Path = BUNDLED_CONTENT_DIR
    timezone: str = "Europe/Berlin"
    language: str = "de"
    now: datetime | None = None
    log_level: str = "INFO"
    # Message texts appear in logs only when this is set (debugging a conversation with consent).
    log_content: bool = False
    # "json" for log collectors: one JSON object per line, redacted like the text format.
    log_format: str = "text"
    # How long to wait for an unreachable database at start (retrying with backoff); 0: fail at once.
    db_wait: timedelta = timedelta(0)
    # host:port of the HTTP endpoint (/healthz, /readyz, /metrics); unset: no HTTP server.
    http_listen: str | None = None
    # Where members reach that HTTP server from outside (https://bot.example.org): online overview, calendars.
    public_url: str | None = None
    # How long a push or deferred answer without an expiry of its own is worth trying.
    outbox_horizon: timedelta = timedelta(hours=24)
    # Platform user keys ("telegram:123", "matrix:@anna:example.org", "console:local") allowed to manage.
    managers: Annotated[list[str], NoDecode] = ["console:local"]
    # Admins also give and take roles; both lists are stored as roles at every start.
    admins: Annotated[list[str], NoDecode] = ["console:local"]

    # Data protection: who is responsible (named in the privacy notice) and the full notice's address.
    privacy_contact: str = ""
    privacy_url: str | None = None
    # Which version of the privacy notice a member agrees to (stored with their consent).
    privacy_version: str = "2026-12"
    # How long data about people is kept (days); a daily job deletes or anonymises what is older.
    keep_pushes_days: int = Field(default=30, ge=1, le=3650)
    keep_sent_messages_days: int = Field(default=90, ge=1, le=3650)
    keep_registrations_days: int = Field(default=365, ge=1, le=3650)
    keep_contributions_days: int = Field(default=365, ge=1, le=3650)
    # More messages a minute from one person get one polite notice, then are dropped (0: no limit).
    flood_per_minute: int = Field(default=20, ge=0)

    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    # Telegram's documented limits; a self-hosted Bot API server or a test server may allow more (scale).
    telegram_rate_per_second: float = Field(default=30.0, gt=0)
    telegram_rate_per_chat: float = Field(default=1.0, gt=0)
    telegram_rate_group_per_minute: float = Field(default=20.0, gt=0)
    telegram_rate_scale: float = Field(default=1.0, gt=0)

    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: SecretStr | None = None
    matrix_access_token: SecretStr | None = None
    matrix_device_id: str | None = None
    matrix_allowed: Annotated[list[str], NoDecode] = []

    # The weekly overview: when it goes out, how far it looks back and ahead (see README "Weekly overview").
    overview_at: str = "mon 09:00"
    overview_lookback_days: int = Field(default=7, ge=1, le=31)
    overview_ahead_days: int = Field(default=21, ge=1, le=90)
    # The impulse discussion: contributions shown in the other chats (off: each chat keeps its own); how long
    # they are kept is `keep_contributions_days` (see README "Impulse of the week").
    impulse_mirror: bool = True
    # Reminders before an event: offsets such as "24h,1h" (m, h, d); empty for none.
    reminders: Annotated[list[str], NoDecode] = ["24h", "1h"]

    @field_validator("privacy_version")
    @classmethod
    def _privacy_version(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 40:
            raise ValueError("must name the privacy notice's version in 1 to 40 characters, e.g. 2026-12")
        return value

    @field_validator("overview_at")
    @classmethod
    def _overview_time(cls, value: str) -> str:
        weekday_and_time(value)
        return value

    @property
    def overview_when(self) -> tuple[int, time]:
        """(weekday, Monday = 0; local time) of the weekly overview."""
        return weekday_and_time(self.overview_at)

    @field_validator("reminders")
    @classmethod
    def _reminder_offsets(cls, value: list[str]) -> list[str]:
        for offset in value:
            duration = parse_duration(offset)
            if not isinstance(duration, timedelta) or duration < timedelta(minutes=1):
                raise ValueError(f"{offset!r} is not an offset such as 24h, 90m or 2d")
        return value

    @property
    def reminder_offsets(self) -> list[timedelta]:
        """The reminder offsets, longest first (whole minutes)."""
        found = set()
        for offset in self.reminders:
            duration = parse_duration(offset)
            if isinstance(duration, timedelta):
                found.add(timedelta(minutes=int(duration.total_seconds() // 60)))
        return sorted(found, reverse=True)

    @field_validator("managers", "admins", "matrix_allowed", "reminders", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return async_database_url(value) if value is not None and value.strip() else None

    @field_validator("outbox_horizon", "db_wait", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value)

    @field_validator("db_wait")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must be a duration such as 60s, 5m or 0")
        return value

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("text", "json"):
            raise ValueError("must be 'text' or 'json'")
        return value

    @field_validator("http_listen")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        listen_address(value)
        return value.strip()

    @property
    def http_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTP endpoint, None when it is off."""
        return listen_address(self.http_listen) if self.http_listen else None

    @field_validator("outbox_horizon")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 24h, 90m or 2d")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _token_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not _TELEGRAM_TOKEN.fullmatch(token):
            # Never echo the value: it is a secret, however mistyped.
            raise ValueError("not a bot token as BotFather gives it (digits, a colon, then letters)")
        return SecretStr(token)

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ or -")
        return value

    @field_validator(
        "telegram_base_url",
        "telegram_base_file_url",
        "telegram_webhook_url",
        "matrix_homeserver",
        "public_url",
        "privacy_url",
    )
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("matrix_user_id")
    @classmethod
    def _matrix_user(cls, value: str | None) -> str | None:
        if value is not None and not _MATRIX_USER.fullmatch(value.strip()):
            raise ValueError("must be a full Matrix user id, e.g. @stadtretter:example.org")
        return value.strip() if value else value

    @field_validator("managers", "admins")
    @classmethod
    def _manager_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not person_key_ok(entry):
                raise ValueError(
                    f"{entry!r} is not platform:user-id (e.g. telegram:12345 or matrix:@anna:example.org)"
                )
        return value

    @field_validator("matrix_allowed")
    @classmethod
    def _allowed_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*" and not entry.startswith(":") and not _MATRIX_USER.fullmatch(entry):
                raise ValueError(f"{entry!r} is neither a user id (@anna:example.org), :server nor *")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        value = value.lower()
        if value not in ("de", "en"):
            raise ValueError("must be 'de' or 'en'")
        return value

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2020-09-28T09:00:00+02:00")
        return value

    @field_validator("content_dir")
    @classmethod
    def _content_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("BOT_TELEGRAM_WEBHOOK_SECRET is required with BOT_TELEGRAM_WEBHOOK_URL")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'stadtretter.sqlite3'}"

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_token is not None

    @property
    def matrix_enabled(self) -> bool:
        return bool(
            self.matrix_homeserver
            and self.matrix_user_id
            and (self.matrix_password or self.matrix_access_token)
        )


def listen_address(text: str) -> tuple[str, int]:
    """ "0.0.0.0:8080", "[::]:8080" or ":8080" (all interfaces) as (host, port); ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


def person_key_ok(key: str) -> bool:
    """Whether `key` names a person as "telegram:12345", "matrix:@anna:example.org" or "console:local"."""
    platform, _, user = key.partition(":")
    if platform == "telegram":
        return user.isascii() and user.isdigit()
    if platform == "matrix":
        return _MATRIX_USER.fullmatch(user) is not None
    return platform in PLATFORMS and bool(user) and not any(ch.isspace() for ch in user)


def weekday_and_time(text: str) -> tuple[int, time]:
    """ "mon 09:00" -> (0, 09:00); raises ValueError with a readable reason for anything else."""
    match = _WHEN.match(text)
    if not match:
        raise ValueError("expected a weekday and a time, e.g. 'mon 09:00'")
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return _WEEKDAYS.index(match.group(1).lower()[:3]), time(hour, minute)


class ConfigError(Exception):
    """A setting is invalid; the message names the variable and is safe to print (no secret values)."""


# Settings that were replaced: set, they would be ignored silently (and data kept longer than meant).
_REPLACED = {
    "BOT_DISCUSSION_RETENTION_MONTHS": "replaced by BOT_KEEP_CONTRIBUTIONS_DAYS (in days, default 365)",
}


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable line without values of secrets."""
    env_file = Settings.model_config.get("env_file")
    in_file = dotenv_values(env_file) if isinstance(env_file, str) and Path(env_file).is_file() else {}
    for name, instead in _REPLACED.items():
        if name in os.environ or name in in_file:
            raise ConfigError(f"{name}: {instead}; set that instead")
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = f"BOT_{field.upper()}" if field else "configuration"
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    try:
        private_dir(settings.data_dir)
    except OSError as exc:
        raise ConfigError(f"BOT_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror}") from None
    if not os.access(settings.data_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"BOT_DATA_DIR: {settings.data_dir} is not writable")
    return settings
