"""Reads manager-edited content files (events, FAQ, impulses): YAML front matter plus a Markdown body."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUNDLED_DIR = Path(__file__).resolve().parent

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
EVENT_KINDS = ("webtalk", "roundtable", "seminar", "workshop", "kickoff", "other")
EventKind = Literal["webtalk", "roundtable", "seminar", "workshop", "kickoff", "other"]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2020-10-06T10:00:00+02:00")
    return value


class EventFile(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    kind: EventKind
    starts_at: datetime
    ends_at: datetime | None = None
    speakers: list[str] = []
    organizer: str | None = None
    tags: list[str] = []
    registration_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    location: str | None = None

    _aware_dates = field_validator("starts_at", "ends_at")(lambda v: v if v is None else _aware(v))

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventFile:
        if self.ends_at is not None and self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        return self


class FaqFile(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    questions: list[str] = Field(min_length=1)
    language: Literal["de", "en"] = "de"


class ImpulseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    author: str = Field(min_length=1)
    post_at: datetime

    _aware_dates = field_validator("post_at")(_aware)


@dataclass(frozen=True, slots=True)
class Parsed:
    slug: str
    meta: dict[str, object]
    body: str
    content_hash: str


@dataclass
class ContentSet:
    events: list[Parsed] = field(default_factory=list)
    faq: list[Parsed] = field(default_factory=list)
    impulses: list[Parsed] = field(default_factory=list)


class ContentError(Exception):
    """One or more content files are invalid; `problems` holds (file, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


_SCHEMAS: dict[str, type[BaseModel]] = {"events": EventFile, "faq": FaqFile, "impulses": ImpulseFile}


def load_content(directory: Path) -> ContentSet:
    """Parse every content file below `directory`; raise ContentError listing every bad file."""
    if not directory.is_dir():
        raise ContentError([(str(directory), "is not a directory")])
    result = ContentSet()
    problems: list[tuple[str, str]] = []
    for section, schema in _SCHEMAS.items():
        folder = directory / section
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            try:
                getattr(result, section).append(_parse_file(path, schema))
            except ValueError as exc:
                problems.append((str(path), str(exc)))
    if problems:
        raise ContentError(problems)
    return result


def _parse_file(path: Path, schema: type[BaseModel]) -> Parsed:
    slug = path.stem
    if not SLUG.match(slug):
        raise ValueError("file name must be a slug: lowercase letters, digits and '-', at most 48 characters")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    meta, body = split_front_matter(raw)
    try:
        model = schema.model_validate(meta)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None
    content_hash = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    return Parsed(slug=slug, meta=model.model_dump(), body=body.strip(), content_hash=content_hash)


class _TextDatesLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as text, so pydantic reports a bad date with its field name."""


_TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def split_front_matter(raw: str) -> tuple[dict[str, object], str]:
    """Split '---' YAML front matter from the body; raise ValueError with a readable reason."""
    raw = raw.lstrip("\ufeff")
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)(.*)$", raw, flags=re.S)
    if not match:
        raise ValueError("missing YAML front matter between '---' lines")
    try:
        meta = yaml.load(match.group(1), Loader=_TextDatesLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise ValueError(f"bad YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(meta, dict):
        raise ValueError("front matter must be a mapping of fields")
    return meta, match.group(2)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "front matter"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
