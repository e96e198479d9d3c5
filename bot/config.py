"""Settings from BOT_* environment variables (and an optional .env), validated by pydantic-settings."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
_WHEN = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})\s*$", re.I)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_OFFSET = re.compile(r"^\s*(\d{1,4})\s*([mhd])\s*$")


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
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
    # Platform user keys ("telegram:123", "matrix:@anna:example.org", "console:local") allowed to manage.
    managers: Annotated[list[str], NoDecode] = ["console:local"]

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
    # Reminders before an event: offsets such as "24h,1h" (m, h, d); empty for none.
    reminders: Annotated[list[str], NoDecode] = ["24h", "1h"]

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
            if not _OFFSET.match(offset):
                raise ValueError(f"{offset!r} is not an offset such as 24h, 90m or 2d")
        return value

    @property
    def reminder_offsets(self) -> list[timedelta]:
        """The reminder offsets, longest first."""
        units = {"m": "minutes", "h": "hours", "d": "days"}
        found = {
            timedelta(**{units[m.group(2)]: int(m.group(1))}) for m in map(_OFFSET.match, self.reminders) if m
        }
        return sorted(found, reverse=True)

    @field_validator("managers", "matrix_allowed", "reminders", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

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


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable line without values of secrets."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = f"BOT_{field.upper()}" if field else "configuration"
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
