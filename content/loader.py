"""Reads manager-edited content files: YAML front matter plus a Markdown body, one folder per newsletter part.

Each file is read once per sync; a file whose bytes hash to what the database already holds is not parsed
again. Every bad file is reported with its path and reason, and then nothing is loaded (all or nothing).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUNDLED_DIR = Path(__file__).resolve().parent

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
EDITION_SLUG = re.compile(r"^(\d{4})-W(\d{2})$")
EVENT_KINDS = ("webtalk", "roundtable", "seminar", "workshop", "kickoff", "other")
EventKind = Literal["webtalk", "roundtable", "seminar", "workshop", "kickoff", "other"]
ORGANIZATION_KINDS = ("municipality", "company", "partner", "association", "other")
OrganizationKind = Literal["municipality", "company", "partner", "association", "other"]
URL_PATTERN = r"^https?://\S+$"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2020-10-06T10:00:00+02:00")
    return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventFile(_File):
    title: str = Field(min_length=1, max_length=300)
    kind: EventKind
    starts_at: datetime
    ends_at: datetime | None = None
    speakers: list[str] = []
    organizer: str | None = None
    tags: list[str] = []
    registration_url: str | None = Field(default=None, pattern=URL_PATTERN)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    location: str | None = None
    featured: bool = False  # the newsletter's "+++Besonderes Event+++"

    _aware_dates = field_validator("starts_at", "ends_at")(_aware)

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventFile:
        if self.ends_at is not None and self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        return self


class NewsFile(_File):
    """Aktuelle Informationen."""

    title: str = Field(min_length=1, max_length=300)
    published_at: datetime
    url: str | None = Field(default=None, pattern=URL_PATTERN)
    tags: list[str] = []

    _aware_dates = field_validator("published_at")(_aware)


class PracticeFile(_File):
    """Best Practices und Handlungsempfehlungen."""

    title: str = Field(min_length=1, max_length=300)
    published_at: datetime
    organization: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    people: list[str] = []
    url: str | None = Field(default=None, pattern=URL_PATTERN)
    tags: list[str] = []

    _aware_dates = field_validator("published_at")(_aware)


class MemberFile(_File):
    """Neue Stadtretter-Unternehmen und Partner: an organisation that joined the network."""

    name: str = Field(min_length=1, max_length=200)
    kind: OrganizationKind
    joined_at: datetime
    city: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, pattern=URL_PATTERN)
    tags: list[str] = []

    _aware_dates = field_validator("joined_at")(_aware)


class EditionFile(_File):
    """The week's subject line and editorial; the file name is the ISO week, e.g. 2020-W40."""

    title: str = Field(min_length=1, max_length=300)
    author: str | None = Field(default=None, max_length=200)


class FaqFile(_File):
    questions: list[str] = Field(min_length=1)
    language: Literal["de", "en"] = "de"


class ImpulseFile(_File):
    title: str = Field(min_length=1, max_length=300)
    author: str = Field(min_length=1)
    post_at: datetime

    _aware_dates = field_validator("post_at")(_aware)


# Folder name -> schema, in the order the newsletter shows its parts.
SCHEMAS: dict[str, type[BaseModel]] = {
    "editions": EditionFile,
    "impulses": ImpulseFile,
    "news": NewsFile,
    "events": EventFile,
    "practices": PracticeFile,
    "members": MemberFile,
    "faq": FaqFile,
}
SECTIONS = tuple(SCHEMAS)


@dataclass(frozen=True, slots=True)
class Parsed:
    slug: str
    meta: dict[str, Any]
    body: str
    content_hash: str


@dataclass
class ContentSet:
    """What a content folder holds: parsed files per section, and the files left unparsed as unchanged."""

    sections: dict[str, list[Parsed]] = field(default_factory=lambda: {name: [] for name in SECTIONS})
    unchanged: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in SECTIONS})

    @property
    def events(self) -> list[Parsed]:
        return self.sections["events"]

    @property
    def faq(self) -> list[Parsed]:
        return self.sections["faq"]

    @property
    def impulses(self) -> list[Parsed]:
        return self.sections["impulses"]

    def slugs(self, section: str) -> set[str]:
        return {item.slug for item in self.sections[section]} | self.unchanged[section]


class ContentError(Exception):
    """One or more content files are invalid; `problems` holds (file, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


def check_folder(directory: Path) -> None:
    """Refuse a folder that holds none of the content sections (a typo or one level too deep)."""
    if not directory.is_dir():
        raise ContentError([(str(directory), "is not a directory")])
    if any((directory / section).is_dir() for section in SECTIONS):
        return
    order = ("events", "news", "practices", "members", "editions", "faq", "impulses")
    names = ", ".join(f"{s}/" for s in order[:-1]) + f" or {order[-1]}/"
    hint = ""
    if directory.name in SECTIONS:
        hint = f" — did you mean {directory.parent}?"
    else:
        inner = [
            p for p in sorted(directory.iterdir()) if p.is_dir() and any((p / s).is_dir() for s in SECTIONS)
        ]
        if inner:
            hint = f" — did you mean {inner[0]}?"
    raise ContentError([(str(directory), f"no {names} in it{hint}")])


def load_content(directory: Path, *, known: Mapping[str, Mapping[str, str]] | None = None) -> ContentSet:
    """Parse every content file below `directory`; raise ContentError listing every bad file.

    `known` maps section -> slug -> content hash of what the database holds: such files are not parsed.
    """
    check_folder(directory)
    result = ContentSet()
    problems: list[tuple[str, str]] = []
    for section, schema in SCHEMAS.items():
        folder = directory / section
        if not folder.is_dir():
            continue
        hashes = (known or {}).get(section, {})
        for path in sorted(folder.glob("*.md")):
            try:
                raw = path.read_bytes()
                digest = hashlib.sha256(raw).hexdigest()
                slug = _slug(path, section)
                if hashes.get(slug) == digest:
                    result.unchanged[section].add(slug)
                    continue
                result.sections[section].append(_parse(slug, raw, digest, schema))
            except (ValueError, OSError) as exc:
                problems.append((str(path), str(exc)))
    if problems:
        raise ContentError(problems)
    return result


def _slug(path: Path, section: str) -> str:
    slug = path.stem
    if section == "editions":
        match = EDITION_SLUG.match(slug)
        if not match:
            raise ValueError("file name must be the ISO week, e.g. 2020-W40.md")
        try:
            date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            raise ValueError(f"{slug} is not a week of that year") from None
        return slug
    if not SLUG.match(slug):
        raise ValueError("file name must be a slug: lowercase letters, digits and '-', at most 48 characters")
    return slug


def _parse(slug: str, raw: bytes, digest: str, schema: type[BaseModel]) -> Parsed:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    meta, body = split_front_matter(text)
    try:
        model = schema.model_validate(meta)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None
    return Parsed(slug=slug, meta=model.model_dump(), body=body.strip(), content_hash=digest)


class _TextDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader (the pure-Python one where libyaml is missing) that leaves timestamps as text,
    so pydantic reports a bad date with its field name."""


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
