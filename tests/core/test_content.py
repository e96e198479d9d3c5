"""Content files: validation with file and reason, all-or-nothing sync with a report, and no content
operation ever losing a registration (withdraw, move, another folder, a wrong folder, a start on the demo)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import build_context
from bot.config import BUNDLED_CONTENT_DIR, Settings
from bot.context import AppContext
from bot.db.models import (
    CONTENT_SOURCE,
    AppState,
    Event,
    OutboxMessage,
    OutboxStatus,
    Registration,
    RegistrationStatus,
)
from bot.db.session import Database
from bot.notices import Notices
from bot.render import Renderer
from bot.services.content import ContentSourceMismatch, prepare_content, sync_content
from content.loader import SECTIONS, ContentError, load_content
from tests.conftest import say, text_of
from tests.core.test_questions import OTHER_CONTENT

NOW = datetime.fromisoformat("2020-09-28T09:00:00+02:00")
THINIUS = "webtalk-groesste-zukunft"
GOOD = """---
title: "Testevent"
kind: seminar
starts_at: 2027-01-10T10:00:00+01:00
---
Beschreibung.
"""


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A manager's copy of the demo content."""
    target = tmp_path / "content"
    for section in SECTIONS:
        if (BUNDLED_CONTENT_DIR / section).is_dir():
            shutil.copytree(BUNDLED_CONTENT_DIR / section, target / section)
    return target


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    await database.upgrade()
    yield database
    await database.dispose()


def notices() -> Notices:
    return Notices(Renderer(ZoneInfo("Europe/Berlin")))


async def sync(db: Database, directory: Path, **options: object):  # type: ignore[no-untyped-def]
    return await sync_content(db, directory, now=NOW, notices=notices(), **options)  # type: ignore[arg-type]


def test_demo_content_is_the_whole_newsletter() -> None:
    content = load_content(BUNDLED_CONTENT_DIR)
    starts = sorted((e.meta["starts_at"].isoformat(), e.meta["kind"]) for e in content.events)
    assert starts == [
        ("2020-10-02T10:00:00+02:00", "webtalk"),
        ("2020-10-06T10:00:00+02:00", "webtalk"),
        ("2020-10-06T13:00:00+02:00", "roundtable"),
        ("2020-10-06T14:30:00+02:00", "webtalk"),
        ("2020-10-14T14:00:00+02:00", "kickoff"),
    ]
    assert [e.slug for e in content.events if e.meta["featured"]] == [THINIUS]
    assert [i.meta["author"] for i in content.impulses] == ["Max Thinius"]
    assert [(e.slug, e.meta["author"]) for e in content.sections["editions"]] == [("2020-W40", "Boris Hedde")]
    assert len(content.sections["news"]) >= 1
    assert {p.meta["city"] for p in content.sections["practices"]} >= {"Einbeck", "Hattersheim am Main"}
    assert [(m.meta["name"], m.meta["kind"]) for m in content.sections["members"]] == [("Mapstar", "company")]
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
        ("featured.md", GOOD.replace("kind: seminar", "kind: seminar\nfeatured: vielleicht"), "featured"),
    ],
)
async def test_one_bad_file_changes_nothing(
    content_dir: Path, db: Database, name: str, text: str, reason: str
) -> None:
    first = await sync(db, content_dir)
    assert len(first["events"].added) == 5
    (content_dir / "events" / "new-good.md").write_text(GOOD, encoding="utf-8")
    (content_dir / "events" / name).write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        await sync(db, content_dir)
    ((path, why),) = caught.value.problems
    assert path.endswith(name)
    assert reason in why
    async with db.sessions() as session:
        slugs = set((await session.scalars(select(Event.slug))).all())
    assert "new-good" not in slugs and len(slugs) == 5


@pytest.mark.parametrize(
    ("section", "name", "text", "reason"),
    [
        ("news", "ohne-datum.md", "---\ntitle: Neu\n---\nText", "published_at: required field is missing"),
        (
            "news",
            "link.md",
            "---\ntitle: N\npublished_at: 2020-09-25T10:00:00+02:00\nurl: ftp://x\n---\n",
            "url",
        ),
        ("practices", "ohne-titel.md", "---\npublished_at: 2020-09-25T10:00:00+02:00\n---\n", "title"),
        (
            "members",
            "art.md",
            "---\nname: X\nkind: club\njoined_at: 2020-09-25T10:00:00+02:00\n---\n",
            "kind",
        ),
        (
            "members",
            "naiv.md",
            "---\nname: X\nkind: company\njoined_at: 2020-09-25T10:00:00\n---\n",
            "UTC offset",
        ),
        ("editions", "woche-40.md", "---\ntitle: T\n---\n", "ISO week"),
        ("editions", "2021-W53.md", "---\ntitle: T\n---\n", "not a week of that year"),
        ("editions", "2020-W41.md", "---\nauthor: B\n---\n", "title: required field is missing"),
    ],
)
def test_bad_newsletter_files_are_reported(
    content_dir: Path, section: str, name: str, text: str, reason: str
) -> None:
    (content_dir / section).mkdir(exist_ok=True)
    (content_dir / section / name).write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_content(content_dir)
    ((path, why),) = caught.value.problems
    assert path.endswith(name) and reason in why


def test_a_folder_without_content_sections_is_refused_with_a_hint(content_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        load_content(content_dir / "events")
    ((_, why),) = caught.value.problems
    assert "no events/, " in why and f"did you mean {content_dir}?" in why
    with pytest.raises(ContentError) as caught:
        load_content(tmp_path)
    assert f"did you mean {content_dir}?" in caught.value.problems[0][1]


async def test_sync_reports_added_changed_withdrawn_and_restored(content_dir: Path, db: Database) -> None:
    await sync(db, content_dir)
    events = content_dir / "events"
    kept = (events / "webtalk-willkommen.md").read_text(encoding="utf-8")
    (events / "webtalk-willkommen.md").unlink()
    thinius = events / f"{THINIUS}.md"
    thinius.write_text(
        thinius.read_text(encoding="utf-8").replace("capacity: 100", "capacity: 120"), encoding="utf-8"
    )
    (events / "seminar-neu.md").write_text(GOOD, encoding="utf-8")
    report = (await sync(db, content_dir))["events"]
    assert (report.added, report.changed, report.removed, report.unchanged) == (
        ["seminar-neu"],
        [THINIUS],
        ["webtalk-willkommen"],
        3,
    )
    again = (await sync(db, content_dir))["events"]
    assert not again.touched and again.unchanged == 5
    async with db.sessions() as session:
        row = await session.scalar(select(Event).where(Event.slug == THINIUS))
        gone = await session.scalar(select(Event).where(Event.slug == "webtalk-willkommen"))
    assert row is not None and row.capacity == 120
    assert row.starts_at.isoformat() == "2020-10-06T08:00:00+00:00"
    assert gone is not None and gone.withdrawn_at is not None  # withdrawn, not deleted
    (events / "webtalk-willkommen.md").write_text(kept, encoding="utf-8")
    back = (await sync(db, content_dir))["events"]
    assert back.restored == ["webtalk-willkommen"] and back.removed == []


async def test_unchanged_files_are_not_parsed_again(content_dir: Path, db: Database) -> None:
    await sync(db, content_dir)
    content = await prepare_content(db, content_dir)
    assert content.events == [] and len(content.unchanged["events"]) == 5
    assert "2020-W40" in content.unchanged["editions"]


async def test_a_dry_run_changes_nothing(content_dir: Path, db: Database) -> None:
    await sync(db, content_dir)
    (content_dir / "events" / f"{THINIUS}.md").unlink()
    plan = await sync(db, content_dir, apply=False)
    assert plan["events"].removed == [THINIUS] and not plan.applied
    async with db.sessions() as session:
        row = await session.scalar(select(Event).where(Event.slug == THINIUS))
    assert row is not None and row.withdrawn_at is None


# --- member data survives every content path, on SQLite and PostgreSQL ---------------------------------


@pytest.fixture
async def live(settings: Settings, db_url: str, content_dir: Path) -> AsyncIterator[AppContext]:
    """The assistant on a manager's content folder, with three members registered for the Thinius talk."""
    ctx = await build_context(settings.model_copy(update={"content_dir": content_dir}), database_url=db_url)
    for user in ("anna", "bert", "cem"):
        await say(ctx, f"/einwilligen {THINIUS}", user=user)
    yield ctx
    await ctx.close()


async def registrations(ctx: AppContext) -> list[tuple[str, str]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Event.slug, Registration.status).join(Event, Event.id == Registration.event_id)
        )
        return sorted((slug, str(status)) for slug, status in rows)


async def outbox_keys(ctx: AppContext, prefix: str) -> list[str]:
    async with ctx.db.sessions() as session:
        keys = await session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.startswith(prefix)))
        return sorted(keys)


async def test_a_removed_event_is_withdrawn_and_its_registrants_told_once(
    live: AppContext, content_dir: Path
) -> None:
    before = await registrations(live)
    assert before == [(THINIUS, "confirmed")] * 3
    file = content_dir / "events" / f"{THINIUS}.md"
    text = file.read_text(encoding="utf-8")
    file.unlink()
    result = await sync_content(live.db, content_dir, now=NOW, notices=notices())
    assert [(e.slug, e.registrations) for e in result.withdrawn] == [(THINIUS, 3)]
    assert result.risky()
    await live.events.refresh(force=True)
    assert await registrations(live) == before  # nothing lost
    assert THINIUS not in live.events.catalog.by_slug and THINIUS in live.events.withdrawn
    assert "Die größte Zukunft" not in text_of(await say(live, "Was läuft am 6.10.?"))
    told = await outbox_keys(live, "withdrawn:")
    assert len(told) == 3
    await sync_content(live.db, content_dir, now=NOW, notices=notices())
    assert await outbox_keys(live, "withdrawn:") == told  # told once
    async with live.db.sessions() as session:
        payload = (await session.scalars(select(OutboxMessage.payload).limit(1))).one()
    assert "findet nicht wie geplant statt" in payload["html"]
    # The file comes back: live again, registrations as they were.
    file.write_text(text, encoding="utf-8")
    await sync_content(live.db, content_dir, now=NOW, notices=notices())
    await live.events.refresh(force=True)
    assert THINIUS in live.events.catalog.by_slug
    assert await registrations(live) == before
    assert "bestätigt" in text_of(await say(live, "meine", user="anna"))


async def test_a_moved_date_tells_the_registrants_once_per_change(
    live: AppContext, content_dir: Path
) -> None:
    live.clock.fixed = datetime.fromisoformat("2020-10-05T12:00:00+02:00")
    from scheduler.jobs import enqueue_reminders

    assert await enqueue_reminders(live) == 3
    file = content_dir / "events" / f"{THINIUS}.md"
    original = file.read_text(encoding="utf-8")
    file.write_text(original.replace("2020-10-06T10:00", "2020-10-08T10:00"), encoding="utf-8")
    result = await sync_content(live.db, content_dir, now=NOW, notices=notices())
    assert [(e.slug, e.registrations) for e in result.moved] == [(THINIUS, 3)]
    assert len(await outbox_keys(live, "moved:")) == 3
    await sync_content(live.db, content_dir, now=NOW, notices=notices())
    assert len(await outbox_keys(live, "moved:")) == 3
    file.write_text(original.replace("2020-10-06T10:00", "2020-10-09T10:00"), encoding="utf-8")
    await sync_content(live.db, content_dir, now=NOW, notices=notices())
    assert len(await outbox_keys(live, "moved:")) == 6
    async with live.db.sessions() as session:
        statuses = await session.scalars(
            select(OutboxMessage.status).where(OutboxMessage.key.startswith("reminder:"))
        )
        assert set(statuses) == {OutboxStatus.EXPIRED}  # the old date's reminders are not sent
    assert await registrations(live) == [(THINIUS, "confirmed")] * 3


async def test_another_folder_is_refused_and_a_switch_keeps_the_registrations(
    live: AppContext, tmp_path: Path
) -> None:
    before = await registrations(live)
    other = tmp_path / "other"
    shutil.copytree(OTHER_CONTENT, other)
    with pytest.raises(ContentSourceMismatch) as caught:
        await sync_content(live.db, other, now=NOW, notices=notices())
    assert "--switch" in str(caught.value) and str(other) in str(caught.value)
    assert await registrations(live) == before
    result = await sync_content(live.db, other, now=NOW, notices=notices(), switch=True)
    assert result.switching and THINIUS in [e.slug for e in result.withdrawn]
    assert await registrations(live) == before
    async with live.db.sessions() as session:
        source = await session.scalar(select(AppState.value).where(AppState.key == CONTENT_SOURCE))
    assert source == str(other.resolve())


async def test_a_wrong_folder_changes_nothing(live: AppContext, content_dir: Path) -> None:
    before = await registrations(live)
    with pytest.raises(ContentError):
        await sync_content(live.db, content_dir / "events", now=NOW, notices=notices())
    assert await registrations(live) == before
    await live.events.refresh(force=True)
    assert len(live.events.catalog.events) == 5


async def test_starting_on_the_demo_content_leaves_a_managers_content_alone(
    live: AppContext, settings: Settings, db_url: str
) -> None:
    before = await registrations(live)
    with pytest.raises(ContentSourceMismatch) as caught:
        await build_context(settings, database_url=db_url)  # BOT_CONTENT_DIR unset: the bundled demo
    assert str(BUNDLED_CONTENT_DIR) in str(caught.value)
    assert await registrations(live) == before
    async with live.db.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Event).where(Event.withdrawn_at.isnot(None))
            )
            == 0
        )


async def test_a_start_does_not_apply_what_needs_a_confirmation(
    live: AppContext, settings: Settings, db_url: str, content_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (content_dir / "events" / f"{THINIUS}.md").unlink()
    caplog.set_level(logging.ERROR)
    again = await build_context(settings.model_copy(update={"content_dir": content_dir}), database_url=db_url)
    try:
        assert THINIUS in again.events.catalog.by_slug
        assert "content not synced" in caplog.text and "content sync" in caplog.text
    finally:
        await again.close()
    assert await outbox_keys(live, "withdrawn:") == []


async def test_a_database_from_before_the_source_was_recorded(
    settings: Settings, db_url: str, content_dir: Path, tmp_path: Path
) -> None:
    ctx = await build_context(settings.model_copy(update={"content_dir": content_dir}), database_url=db_url)
    try:
        async with ctx.db.sessions.begin() as session:
            await session.delete(await session.get(AppState, CONTENT_SOURCE))
        other = tmp_path / "other"
        shutil.copytree(OTHER_CONTENT, other)
        with pytest.raises(ContentSourceMismatch):  # it would take the demo's events away
            await sync_content(ctx.db, other, now=NOW, notices=notices())
        # The same folder takes nothing away: accepted, and recorded from now on.
        await sync_content(ctx.db, content_dir, now=NOW, notices=notices())
        async with ctx.db.sessions() as session:
            assert await session.get(AppState, CONTENT_SOURCE) is not None
    finally:
        await ctx.close()


async def test_cancelling_after_a_withdrawal_still_works_and_nothing_is_lost(
    live: AppContext, content_dir: Path
) -> None:
    (content_dir / "events" / f"{THINIUS}.md").unlink()
    await sync_content(live.db, content_dir, now=NOW, notices=notices())
    await live.events.refresh(force=True)
    # A member cannot pick a withdrawn event any more; the rows are untouched.
    assert "nicht" in text_of(await say(live, f"/abmelden {THINIUS}", user="anna")).lower()
    async with live.db.sessions() as session:
        statuses = set((await session.scalars(select(Registration.status))).all())
    assert statuses == {RegistrationStatus.CONFIRMED}


async def test_starting_on_another_folder_is_refused_before_anything_is_read(
    live: AppContext, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(OTHER_CONTENT, other)
    (other / "events" / "kaputt.md").write_text("kein Front Matter", encoding="utf-8")
    with pytest.raises(ContentSourceMismatch):
        await build_context(settings.model_copy(update={"content_dir": other}), database_url=db_url)
    assert await registrations(live) == [(THINIUS, "confirmed")] * 3


async def test_a_sync_never_touches_an_impulse_made_in_a_chat(content_dir: Path, db: Database) -> None:
    from bot.db.models import Impulse
    from bot.services.discussion import DiscussionService
    from bot.services.outbox import Outbox

    await sync(db, content_dir)
    made = await DiscussionService(db, Outbox(db)).create_impulse(
        title="Wem gehört die Innenstadt?",
        author="Anna Schmidt",
        body="Wem gehört die Innenstadt?\n\nEine Frage an alle.",
        post_at=NOW,
        created_by="telegram:anna",
        now=NOW,
    )
    assert made.slug == f"{NOW.date().isoformat()}-wem-gehort-die-innenstadt" and made.origin == "chat"
    report = (await sync(db, content_dir))["impulses"]
    assert (report.removed, report.refused) == ([], [])
    # A file that takes the chat's name is left out; the chat's impulse stays as it is.
    (content_dir / "impulses" / f"{made.slug}.md").write_text(
        '---\ntitle: "Datei"\nauthor: "X"\npost_at: 2020-09-28T08:00:00+02:00\n---\nAus einer Datei.\n',
        encoding="utf-8",
    )
    report = (await sync(db, content_dir))["impulses"]
    assert (report.added, report.refused) == ([], [made.slug])
    async with db.sessions() as session:
        row = await session.scalar(select(Impulse).where(Impulse.slug == made.slug))
    assert row is not None and (row.title, row.withdrawn_at, row.origin) == (
        "Wem gehört die Innenstadt?",
        None,
        "chat",
    )
