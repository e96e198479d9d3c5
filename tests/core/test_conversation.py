"""Conversations: the issue's questions get the answers a member trusts, follow-ups refer to what was shown,
free-text registering and cancelling offer the command's buttons and change nothing until pressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import build_context
from bot.chat import ChatRef, Incoming, Kind, MessageRef, Person
from bot.config import load_settings
from bot.context import AppContext
from bot.router import Response
from tests.conftest import actions

OTHER_CONTENT = Path(__file__).parent / "other_content"

VITALE = "webtalk-vitale-standorte"
THINIUS = "webtalk-groesste-zukunft"
ROUNDTABLE = "roundtable-leerstand-bid-isg"
WILLKOMMEN = "webtalk-willkommen"
KICKOFF = "projektauftakt-innenstadt-2030"
ALL = [VITALE, THINIUS, ROUNDTABLE, WILLKOMMEN, KICKOFF]


async def turn(ctx: AppContext, text: str, *, user: str = "anna", lang: str | None = None) -> Response:
    chat = ChatRef("telegram", user, is_private=True)
    return await ctx.answer(Incoming(chat, Person("telegram", user, language=lang), text))


def plain(response: Response) -> str:
    return "\n\n".join(r.plain for r in response.replies)


# (question, intent, event slugs, words the answer must contain): each row a fresh chat.
SINGLE: list[tuple[str, str, list[str], tuple[str, ...]]] = [
    ("Worum geht es beim Roundtable?", "details", [ROUNDTABLE], ("BID",)),
    ("What is the roundtable about?", "details", [ROUNDTABLE], ("BID",)),
    ("Worum geht es beim WebTalk mit Thinius?", "details", [THINIUS], ("Thinius",)),
    ("Wie lange dauert der WebTalk mit Thinius?", "duration", [THINIUS], ("10:00", "Ende")),
    ("How long is the Thinius webtalk?", "duration", [THINIUS], ("10:00", "end")),
    ("Ich kann doch nicht am Roundtable teilnehmen", "offer_cancel", [ROUNDTABLE], ("Abmelden",)),
    ("I can't make it to the roundtable", "offer_cancel", [ROUNDTABLE], ("Cancel",)),
    ("Ich möchte mich für den Roundtable anmelden", "offer_register", [ROUNDTABLE], ("Anmelden",)),
    ("I'd like to sign up for the welcome webtalk", "offer_register", [WILLKOMMEN], ("Register",)),
    ("Wie storniere ich?", "how_to_cancel", [], ("abmelden",)),
    ("How do I cancel?", "how_to_cancel", [], ("cancel",)),
    ("Ist der Roundtable ausgebucht?", "seats", [ROUNDTABLE], ("25 von 25",)),
    ("Wie viele Plätze sind noch frei?", "seats", ALL, ("frei",)),
    ("Is the roundtable fully booked?", "seats", [ROUNDTABLE], ("25 of 25",)),
    ("Kostet das was?", "faq", [], ("Teilnahmegebühren",)),
    ("Ist die Teilnahme kostenlos?", "faq", [], ("Teilnahmegebühren",)),
    ("Is it free of charge?", "faq", [], ("fees",)),
    ("Wie kann ich mitmachen?", "faq", [], ("Mitglied",)),
    ("Wie werde ich Mitglied?", "faq", [], ("Mitglied",)),
    ("How do I become a member?", "faq", [], ("member",)),
    ("Wie erreiche ich euch?", "faq", [], ("kontakt@die-stadtretter.de",)),
    ("How can I contact you?", "faq", [], ("kontakt@die-stadtretter.de",)),
    ("Was kann ich hier machen?", "help", [], ("/termine",)),
    ("What can I do here?", "help", [], ("/events",)),
    ("Welche Themen gibt es?", "topics", [], ("Leerstand", "Digitalisierung")),
    ("Which topics are coming up?", "topics", [], ("Leerstand",)),
    ("Welche Referenten sind dabei?", "speakers", [THINIUS], ("Max Thinius",)),
    ("Who are the speakers?", "speakers", [THINIUS], ("Max Thinius",)),
    ("Kann ich eine Erinnerung bekommen?", "reminders", [], ("/erinnerungen aus",)),
    ("Can I get a reminder?", "reminders", [], ("/reminders off",)),
    ("Wann ist das Seminar mit VITAIL?", "event_time", [VITALE], ("Vitale Standorte",)),
    ("Gibt es etwas im November?", "event_list", [], ("Im November 2020",)),
    ("Termine im Oktober", "event_list", ALL, ("im Oktober 2020",)),
    ("Anything in December?", "event_list", [], ("in December 2020",)),
]


@pytest.mark.parametrize(("question", "intent", "slugs", "contains"), SINGLE)
async def test_issue_questions(
    ctx: AppContext, question: str, intent: str, slugs: list[str], contains: tuple[str, ...]
) -> None:
    response = await turn(ctx, question)
    assert (response.intent.value, [e.slug for e in response.events]) == (intent, slugs), plain(response)
    for words in contains:
        assert words in plain(response), plain(response)


async def test_unknown_words_are_quoted_as_written(ctx: AppContext) -> None:
    text = plain(await turn(ctx, "Gibt es Veranstaltungen zum Thema Hundeschule?"))
    assert "Hundeschule" in text
    assert "hundeschule" not in text


async def test_one_english_date_style(ctx: AppContext) -> None:
    text = plain(await turn(ctx, "What's on on October 6?"))
    assert "Tuesday, 6 October 2020" in text
    assert "October 6" not in text


# Conversations: (question, intent, slugs) turn by turn in one chat.
CONVERSATIONS: list[list[tuple[str, str, list[str]]]] = [
    [
        ("Worum geht es beim WebTalk mit Thinius?", "details", [THINIUS]),
        ("Und wo?", "place", [THINIUS]),
        ("Und um wie viel Uhr?", "event_list", [THINIUS]),
        ("Wo findet das statt?", "place", [THINIUS]),
    ],
    [
        ("nächster WebTalk", "next_event", [VITALE]),
        ("Und danach?", "next_event", [THINIUS]),
        ("Und danach?", "next_event", [WILLKOMMEN]),
    ],
    [
        ("When is the next webtalk?", "next_event", [VITALE]),
        ("And where?", "place", [VITALE]),
        ("How long does it take?", "duration", [VITALE]),
        ("and after that?", "next_event", [THINIUS]),
    ],
    [
        ("Was läuft nächste Woche?", "event_list", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
        ("Welcher davon ist ein Roundtable?", "event_list", [ROUNDTABLE]),
        ("dort anmelden", "offer_register", [ROUNDTABLE]),
    ],
    [
        ("Was läuft nächste Woche?", "event_list", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
        ("und die Woche danach?", "event_list", [KICKOFF]),
    ],
    [
        ("Zeig mir alle Termine", "event_list", ALL),
        ("Und der dritte davon?", "event_list", [ROUNDTABLE]),
        ("Wie lange dauert der?", "duration", [ROUNDTABLE]),
    ],
    [
        ("Zeig mir alle Termine", "event_list", ALL),
        ("Und der letzte davon?", "event_list", [KICKOFF]),
    ],
]


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c[0][0])
async def test_follow_ups(ctx: AppContext, conversation: list[tuple[str, str, list[str]]]) -> None:
    for question, intent, slugs in conversation:
        response = await turn(ctx, question)
        assert (response.intent.value, [e.slug for e in response.events]) == (intent, slugs), question


async def test_nothing_after_the_last_event_is_said_plainly(ctx: AppContext) -> None:
    await turn(ctx, "Wann ist der Projektauftakt?")
    response = await turn(ctx, "Und danach?")
    assert (response.intent.value, response.events) == ("event_list", ())
    assert "Danach sind noch keine weiteren Projektauftakte geplant" in plain(response)
    where = await turn(ctx, "Und wo?")
    assert (where.intent.value, [e.slug for e in where.events]) == ("place", [KICKOFF])


async def test_follow_ups_are_per_chat(ctx: AppContext) -> None:
    await turn(ctx, "Worum geht es beim Roundtable?", user="anna")
    response = await turn(ctx, "Und wo?", user="bert")
    assert response.intent.value != "place" or [e.slug for e in response.events] != [ROUNDTABLE]
    response = await turn(ctx, "Und wo?", user="anna")
    assert (response.intent.value, [e.slug for e in response.events]) == ("place", [ROUNDTABLE])


async def test_follow_ups_expire_after_30_minutes(ctx: AppContext) -> None:
    await turn(ctx, "Worum geht es beim Roundtable?")
    assert [e.slug for e in (await turn(ctx, "Und wo?")).events] == [ROUNDTABLE]
    assert ctx.clock.fixed is not None
    ctx.clock.fixed += timedelta(minutes=31)
    response = await turn(ctx, "Und wo?")
    assert [e.slug for e in response.events] != [ROUNDTABLE]


async def test_a_reply_to_an_event_card_is_about_that_event(ctx: AppContext) -> None:
    chat = ChatRef("telegram", "anna", is_private=True)
    anna = Person("telegram", "anna")
    await ctx.registrations.give_consent(anna)  # without consent no subject is recorded (issue 12)
    card = await ctx.answer(Incoming(chat, anna, "Wann ist der nächste Roundtable?"))
    subject = next(r.subject for r in card.replies if r.subject)
    assert subject is not None
    await ctx.messages.record_many([(chat, "m-1", subject)])
    await turn(ctx, "Wann ist der nächste WebTalk?")  # the conversation moved on
    reply = Incoming(
        chat, anna, "Wo findet das statt?", kind=Kind.REPLY, reply_to=MessageRef(chat, "m-1", from_bot=True)
    )
    response = await ctx.answer(reply)
    assert (response.intent.value, [e.slug for e in response.events]) == ("place", [ROUNDTABLE])


async def test_free_text_registration_changes_nothing_until_pressed(ctx: AppContext) -> None:
    response = await turn(ctx, "Ich möchte mich für den Roundtable anmelden")
    assert actions(response.replies) == [f"/rsvp {ROUNDTABLE}"]
    assert await ctx.registrations.counts(response.events[0].id) == (0, 0)
    response = await turn(ctx, "Ich kann nicht zum Roundtable")
    assert actions(response.replies) == [f"/unrsvp {ROUNDTABLE}"]


@pytest.fixture
async def other_ctx(tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "data", now="2027-03-08T08:00:00+01:00", content_dir=OTHER_CONTENT
    )
    context = await build_context(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}")
    yield context
    await context.close()


OTHER: list[list[tuple[str, str, list[str]]]] = [
    [
        ("Wann ist das nächste Seminar?", "next_event", ["seminar-schaufenster"]),
        ("Wo findet es statt?", "place", ["seminar-schaufenster"]),
        ("Ist es ausgebucht?", "seats", ["seminar-schaufenster"]),
        ("Wer leitet das?", "speakers", ["seminar-schaufenster"]),
    ],
    [
        ("Nächster WebTalk", "next_event", ["webtalk-foerderprogramme"]),
        ("Und danach?", "next_event", ["webtalk-popup-stores"]),
        ("Da möchte ich mich anmelden", "offer_register", ["webtalk-popup-stores"]),
    ],
    [("Muss ich für die Mitgliedschaft etwas bezahlen?", "faq", [])],
    [
        ("Wie erreiche ich euch?", "unknown", []),
        ("Wie lange dauert das Sommerfest?", "duration", ["sommerfest"]),
    ],
    [("Ich kann leider nicht zum Workshop kommen", "offer_cancel", ["workshop-citylogistik"])],
]


@pytest.mark.parametrize("conversation", OTHER, ids=lambda c: c[0][0])
async def test_other_content(other_ctx: AppContext, conversation: list[tuple[str, str, list[str]]]) -> None:
    for question, intent, slugs in conversation:
        response = await turn(other_ctx, question)
        assert (response.intent.value, [e.slug for e in response.events]) == (intent, slugs), question


async def test_a_reply_before_its_subject_is_written_still_finds_it(ctx: AppContext) -> None:
    chat = ChatRef("telegram", "anna", is_private=True)
    anna = Person("telegram", "anna")
    ctx.subjects.add(chat, "m-9", f"event:{ROUNDTABLE}")  # queued, not yet written
    reply = Incoming(chat, anna, "Und wo?", kind=Kind.REPLY, reply_to=MessageRef(chat, "m-9", from_bot=True))
    response = await ctx.answer(reply)
    assert (response.intent.value, [e.slug for e in response.events]) == ("place", [ROUNDTABLE])
