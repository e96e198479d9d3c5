"""Registration through the router on SQLite and PostgreSQL: consent, waitlist, promotion, cancel, files."""

from __future__ import annotations

import asyncio
import csv
import io

from icalendar import Calendar
from sqlalchemy import func, select, update

from bot.context import AppContext
from bot.db.models import Event, Member, OutboxMessage, Registration
from tests.conftest import actions, person, say, text_of

THINIUS = "webtalk-groesste-zukunft"
ROUNDTABLE = "roundtable-leerstand-bid-isg"


async def registered(ctx: AppContext, user: str, slug: str = THINIUS) -> None:
    await say(ctx, f"/einwilligen {slug}", user=user)


async def set_capacity(ctx: AppContext, slug: str, capacity: int) -> None:
    async with ctx.db.sessions.begin() as session:
        await session.execute(update(Event).where(Event.slug == slug).values(capacity=capacity))


async def statuses(ctx: AppContext, slug: str = THINIUS) -> dict[str, str]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Member.user_id, Registration.status)
            .join(Registration, Registration.member_id == Member.id)
            .join(Event, Event.id == Registration.event_id)
            .where(Event.slug == slug)
        )
        return dict(rows.all())


async def test_first_registration_asks_for_consent_and_stores_nothing_before(any_ctx: AppContext) -> None:
    replies = await say(any_ctx, "anmelden Thinius")
    assert "einverstanden" in text_of(replies).lower()
    assert actions(replies) == [f"/einwilligen {THINIUS}", "/einwilligen nein"]
    async with any_ctx.db.sessions() as session:
        assert await session.scalar(select(func.count(Member.id))) == 0
    replies = await say(any_ctx, actions(replies)[0], button=True)
    assert "Sie sind angemeldet" in text_of(replies)
    assert await statuses(any_ctx) == {"anna": "confirmed"}
    # The second time there is no consent question.
    replies = await say(any_ctx, f"/anmelden {ROUNDTABLE}")
    assert "Sie sind angemeldet" in text_of(replies)


async def test_register_by_slug_speaker_fuzzy_title_and_deep_link(ctx: AppContext) -> None:
    await ctx.registrations.give_consent(person("anna"))
    for user, text in [
        ("anna", f"/anmelden {THINIUS}"),
        ("bert", "anmelden Thinius"),
        ("cara", "/anmelden größte Zukunft"),
        ("dora", f"/start anmelden-{THINIUS}"),
        ("emil", "/register groesste zukunft"),
    ]:
        await ctx.registrations.give_consent(person(user))
        replies = await say(ctx, text, user=user)
        assert "angemeldet" in text_of(replies) or "registered" in text_of(replies), (text, text_of(replies))
    assert set((await statuses(ctx)).values()) == {"confirmed"}
    assert len(await statuses(ctx)) == 5


async def test_ambiguous_and_unknown_references(ctx: AppContext) -> None:
    await ctx.registrations.give_consent(person())
    replies = await say(ctx, "anmelden WebTalk")
    assert "Welche Veranstaltung meinen Sie" in text_of(replies)
    assert len(actions(replies)) >= 2
    replies = await say(ctx, "anmelden Wasserstoffgipfel")
    assert "Wasserstoffgipfel" in text_of(replies) and "keine Veranstaltung" in text_of(replies)
    assert await statuses(ctx) == {}


async def test_waitlist_promotion_and_notification(any_ctx: AppContext) -> None:
    ctx = any_ctx
    await set_capacity(ctx, THINIUS, 2)
    for user in ("anna", "bert", "cara", "dora"):
        await registered(ctx, user)
    assert await statuses(ctx) == {
        "anna": "confirmed",
        "bert": "confirmed",
        "cara": "waitlisted",
        "dora": "waitlisted",
    }
    replies = await say(ctx, f"/anmelden {THINIUS}", user="dora")
    assert "Platz 2 der Warteliste" in text_of(replies) or "Platz 2" in text_of(replies)
    replies = await say(ctx, "abmelden Thinius", user="bert")
    assert "storniert" in text_of(replies)
    assert await statuses(ctx) == {
        "anna": "confirmed",
        "bert": "cancelled",
        "cara": "confirmed",
        "dora": "waitlisted",
    }
    async with ctx.db.sessions() as session:
        queued = (await session.scalars(select(OutboxMessage))).all()
    assert [(m.platform, m.chat_id, m.status) for m in queued] == [("telegram", "cara", "pending")]
    assert "Platz ist frei geworden" in queued[0].payload["html"]
    # Cancelling again changes nothing and says so.
    replies = await say(ctx, "abmelden Thinius", user="bert")
    assert "nicht angemeldet" in text_of(replies)
    # A waitlisted member who cancels frees no seat.
    await say(ctx, "abmelden Thinius", user="dora")
    assert (await statuses(ctx))["dora"] == "cancelled"
    async with ctx.db.sessions() as session:
        assert await session.scalar(select(func.count(OutboxMessage.id))) == 1


async def test_re_registration_after_cancel_goes_to_the_back(ctx: AppContext) -> None:
    await set_capacity(ctx, THINIUS, 1)
    for user in ("anna", "bert"):
        await registered(ctx, user)
    await say(ctx, "abmelden Thinius", user="anna")
    assert await statuses(ctx) == {"anna": "cancelled", "bert": "confirmed"}
    replies = await say(ctx, "anmelden Thinius", user="anna")
    assert "Warteliste" in text_of(replies)


async def test_mine_lists_confirmed_and_waitlisted(ctx: AppContext) -> None:
    await set_capacity(ctx, ROUNDTABLE, 1)
    await registered(ctx, "bert", ROUNDTABLE)
    await registered(ctx, "anna", ROUNDTABLE)
    await registered(ctx, "anna", THINIUS)
    text = text_of(await say(ctx, "meine Anmeldungen"))
    assert "Die größte Zukunft aller Zeiten" in text and "bestätigt" in text
    assert "Warteliste, Platz 1" in text
    assert "keine anstehenden" in text_of(await say(ctx, "/meine", user="zoe"))
    # A command's English name answers in English whom we know no language of; Anna writes German, so
    # her "/mine" stays German (command names never change a member's language).
    assert "keine anstehenden" in text_of(await say(ctx, "/meine", user="zoe"))
    assert "You have no upcoming" in text_of(await say(ctx, "/mine", user="eve"))
    assert "Ihre Anmeldungen" in text_of(await say(ctx, "/mine"))
    assert "You have no upcoming" in text_of(await say(ctx, "my registrations", user="fred"))
    # A sentence that merely starts with the word is a question, not the command.
    question = text_of(await say(ctx, "Meine Frage: wann ist der nächste Roundtable?"))
    assert "3. Roundtable" in question and "Ihre Anmeldungen" not in question


async def test_registration_closed_for_past_events(ctx: AppContext) -> None:
    ctx.clock.fixed = ctx.clock.now().replace(month=11)
    await ctx.registrations.give_consent(person())
    replies = await say(ctx, f"/anmelden {THINIUS}")
    assert "bereits stattgefunden" in text_of(replies)
    assert await statuses(ctx) == {}


async def test_calendar_file_is_valid_icalendar(ctx: AppContext) -> None:
    replies = await say(ctx, f"/kalender {THINIUS}")
    attachment = replies[0].attachment
    assert attachment is not None and attachment.mime_type == "text/calendar"
    assert attachment.filename == f"{THINIUS}.ics"
    cal = Calendar.from_ical(attachment.data)
    (event,) = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Die größte Zukunft aller Zeiten"
    assert event.decoded("DTSTART").isoformat() == "2020-10-06T08:00:00+00:00"
    assert event.decoded("DTEND") > event.decoded("DTSTART")
    assert str(event["UID"]) == f"{THINIUS}@stadtretter-assistent"


async def test_attendee_export_is_for_managers_only(ctx: AppContext) -> None:
    await ctx.registrations.give_consent(person("evil", name='=HYPERLINK("http://x")'))
    await say(ctx, f"/anmelden {THINIUS}", user="evil")
    replies = await say(ctx, f"/export {THINIUS}")
    assert "Community-Manager" in text_of(replies)
    assert replies[0].attachment is None
    ctx.settings.managers = ["telegram:anna"]
    replies = await say(ctx, f"/export {THINIUS}")
    attachment = replies[0].attachment
    assert attachment is not None and attachment.mime_type == "text/csv"
    rows = list(csv.reader(io.StringIO(attachment.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["status", "name", "platform", "user_id", "registered_at"]
    assert rows[1][:4] == ["confirmed", '\'=HYPERLINK("http://x")', "telegram", "evil"]


async def test_concurrent_registrations_never_overbook_sqlite(ctx: AppContext) -> None:
    await set_capacity(ctx, THINIUS, 3)
    users = [f"u{i}" for i in range(12)]
    for user in users:
        await ctx.registrations.give_consent(person(user))
    await asyncio.gather(*(say(ctx, f"/anmelden {THINIUS}", user=u) for u in users))
    values = list((await statuses(ctx)).values())
    assert values.count("confirmed") == 3
    assert values.count("waitlisted") == 9
