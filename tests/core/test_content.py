"""Content files: validation with file and reason, all-or-nothing sync with a report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import BUNDLED_CONTENT_DIR
from bot.db.models import Event
from bot.db.session import Database
from bot.services.content import sync_content
from content.loader import ContentError, load_content

GOOD = """---
title: "Testevent"
kind: seminar
starts_at: 2027-01-10T10:00:00+01:00
---
Beschreibung.
"""


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    for section in ("events", "faq", "impulses"):
        shutil.copytree(BUNDLED_CONTENT_DIR / section, target / section)
    return target


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    await database.upgrade()
    return database


def test_demo_content_is_the_newsletter() -> None:
    content = load_content(BUNDLED_CONTENT_DIR)
    starts = sorted((e.meta["starts_at"].isoformat(), e.meta["kind"]) for e in content.events)
    assert starts == [
        ("2020-10-02T10:00:00+02:00", "webtalk"),
        ("2020-10-06T10:00:00+02:00", "webtalk"),
        ("2020-10-06T13:00:00+02:00", "roundtable"),
        ("2020-10-06T14:30:00+02:00", "webtalk"),
        ("2020-10-14T14:00:00+02:00", "kickoff"),
    ]
    assert [i.meta["author"] for i in content.impulses] == ["Max Thinius"]
    assert len(content.faq) >= 4


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("missing-title.md", GOOD.replace('title: "Testevent"\n', ""), "title: required field is missing"),
        ("bad-date.md", GOOD.replace("2027-01-10T10:00:00+01:00", "2027-02-31T10:00:00+01:00"), "starts_at"),
        ("naive-date.md", GOOD.replace("2027-01-10T10:00:00+01:00", "2027-01-10T10:00:00"), "UTC offset"),
        ("bad-kind.md", GOOD.replace("kind: seminar", "kind: party"), "kind"),
        ("bad-yaml.md", GOOD.replace('title: "Testevent"', 'title: "Testevent'), "bad YAML"),
        ("no-front-matter.md", "Nur Text", "missing YAML front matter"),
        ("Bad Name.md", GOOD, "file name must be a slug"),
        (
            "unknown-field.md",
            GOOD.replace("kind: seminar", "kind: seminar\nprice: 10"),
            "price: unknown field",
        ),
        (
            "ends-before.md",
            GOOD.replace("kind: seminar", "kind: seminar\nends_at: 2027-01-10T09:00:00+01:00"),
            "ends_at is before starts_at",
        ),
        ("capacity.md", GOOD.replace("kind: seminar", "kind: seminar\ncapacity: -3"), "capacity"),
        ("list.md", "---\n- a\n- b\n---\n", "front matter must be a mapping"),
    ],
)
async def test_one_bad_file_changes_nothing(
    content_dir: Path, db: Database, name: str, text: str, reason: str
) -> None:
    first = await sync_content(db, content_dir)
    assert len(first["events"].added) == 5
    (content_dir / "events" / "new-good.md").write_text(GOOD, encoding="utf-8")
    (content_dir / "events" / name).write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        await sync_content(db, content_dir)
    ((path, why),) = caught.value.problems
    assert path.endswith(name)
    assert reason in why
    async with db.sessions() as session:
        slugs = set((await session.scalars(select(Event.slug))).all())
    assert "new-good" not in slugs and len(slugs) == 5


async def test_sync_reports_added_changed_removed(content_dir: Path, db: Database) -> None:
    await sync_content(db, content_dir)
    events = content_dir / "events"
    (events / "webtalk-willkommen.md").unlink()
    thinius = events / "webtalk-groesste-zukunft.md"
    thinius.write_text(
        thinius.read_text(encoding="utf-8").replace("capacity: 100", "capacity: 120"), encoding="utf-8"
    )
    (events / "seminar-neu.md").write_text(GOOD, encoding="utf-8")
    report = (await sync_content(db, content_dir))["events"]
    assert (report.added, report.changed, report.removed, report.unchanged) == (
        ["seminar-neu"],
        ["webtalk-groesste-zukunft"],
        ["webtalk-willkommen"],
        3,
    )
    again = (await sync_content(db, content_dir))["events"]
    assert not again.touched and again.unchanged == 5
    async with db.sessions() as session:
        row = await session.scalar(select(Event).where(Event.slug == "webtalk-groesste-zukunft"))
    assert row is not None and row.capacity == 120
    assert row.starts_at.isoformat() == "2020-10-06T08:00:00+00:00"
    await db.dispose()
