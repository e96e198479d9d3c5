"""Free-text questions in German and English: which events answer them, on the demo and on other content."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build_context
from bot.config import load_settings
from bot.context import AppContext
from handlers.events import answer_replies, ask

OTHER_CONTENT = Path(__file__).parent / "other_content"

VITALE = "webtalk-vitale-standorte"
THINIUS = "webtalk-groesste-zukunft"
ROUNDTABLE = "roundtable-leerstand-bid-isg"
WILLKOMMEN = "webtalk-willkommen"
KICKOFF = "projektauftakt-innenstadt-2030"

# Demo content, clock at Monday 2020-09-28 09:00 Europe/Berlin.
DEMO_CASES: list[tuple[str, list[str]]] = [
    ("Wann ist der nächste WebTalk?", [VITALE]),
    ("Was läuft am 6.10.?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("Gibt es was zu Leerstand?", [ROUNDTABLE]),
    ("When does Max Thinius speak?", [THINIUS]),
    ("Gibt es heute etwas?", []),
    ("wann ist der naechste webtalk", [VITALE]),
    ("WANN IST DER NÄCHSTE WEBTALK???", [VITALE]),
    ("Wann ist der nächste Web-Talk?", [VITALE]),
    ("Wann ist der nächste Webtlak?", [VITALE]),
    ("Und der übernächste WebTalk?", [THINIUS]),
    ("Wann ist der übernächste Termin?", [THINIUS]),
    ("Was ist die nächste Veranstaltung?", [VITALE]),
    ("Wann ist der nächste Roundtable?", [ROUNDTABLE]),
    ("Wann ist der nächste Runde Tisch?", [ROUNDTABLE]),
    ("Gibt es einen runden Tisch?", [ROUNDTABLE]),
    ("Wann ist der Projektauftakt?", [KICKOFF]),
    ("Wann beginnt der Roundtable?", [ROUNDTABLE]),
    ("Um wie viel Uhr ist der Projektauftakt?", [KICKOFF]),
    ("Gibt es ein Seminar?", []),
    ("Gibt es Workshops?", []),
    ("Was läuft am 06.10.2020?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("Was läuft am 6. Oktober?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("What's on on October 6?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("What is on 2020-10-14?", [KICKOFF]),
    ("Was ist am Freitag?", [VITALE]),
    ("Gibt es am Dienstag was?", []),
    ("Was ist morgen?", []),
    ("Gibt es diese Woche etwas?", [VITALE]),
    ("Was gibt es nächste Woche?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("What's on next week?", [THINIUS, ROUNDTABLE, WILLKOMMEN]),
    ("Welche Veranstaltungen gibt es im Oktober?", [VITALE, THINIUS, ROUNDTABLE, WILLKOMMEN, KICKOFF]),
    ("Welche WebTalks gibt es im Oktober?", [VITALE, THINIUS, WILLKOMMEN]),
    ("Gibt es etwas im November?", []),
    ("Gibt es etwas zu Leerstandsmanagement?", [ROUNDTABLE]),
    ("Gibt es was zum Thema Nachvermietung?", [ROUNDTABLE]),
    ("Gibt es was zu BID und ISG?", [ROUNDTABLE]),
    ("Gibt es etwas zu Digitalisierung?", [VITALE, THINIUS]),
    ("Gibt es etwas zur Digitalisirung?", [VITALE, THINIUS]),
    ("Welche WebTalks zur Digitalisierung gibt es?", [VITALE, THINIUS]),
    ("Wann spricht Thinius?", [THINIUS]),
    ("Wann spricht Thinus?", [THINIUS]),
    ("Wann ist der WebTalk mit Max Thinius?", [THINIUS]),
    ("Wann beginnt der Vortrag von Max Thinius?", [THINIUS]),
    ("Projektauftakt Fraunhofer?", [KICKOFF]),
    ("Was macht Fraunhofer?", [KICKOFF]),
    ("Gibt es einen WebTalk zu Wasserstoff?", []),
    ("Gibt es einen Roundtable zum Thema Digitalisierung?", []),
    ("Gibt es was zu Wasserstoff?", []),
    ("Was läuft am 31.02.?", []),
    ("next roundtable", [ROUNDTABLE]),
    ("When is the next WebTalk?", [VITALE]),
    ("What is happening tomorrow?", []),
    ("Wann ist der WebTalk Willkommen bei den Stadtrettern?", [WILLKOMMEN]),
    ("Is there anything about vacancies?", [ROUNDTABLE]),
    ("Anything on digitalisation?", [VITALE, THINIUS]),
    ("Is there a talk about the future?", [VITALE, THINIUS]),
    ("Anything for newcomers?", [WILLKOMMEN]),
    ("Gibt es Veranstaltungen zu Leerständen?", [ROUNDTABLE]),
    ("Wann ist Willkommen bei den Stadtrettern?", [WILLKOMMEN]),
    ("Zeig mir alle WebTalks", [VITALE, THINIUS, WILLKOMMEN]),
    ("Was steht an?", [VITALE, THINIUS, ROUNDTABLE, WILLKOMMEN, KICKOFF]),
    ("What's on?", [VITALE, THINIUS, ROUNDTABLE, WILLKOMMEN, KICKOFF]),
    ("Zeig mir alle Termine", [VITALE, THINIUS, ROUNDTABLE, WILLKOMMEN, KICKOFF]),
    ("gibt es einen webtalk zu wasserstoff", []),
    ("Is there a webtalk about hydrogen?", []),
    ("Wer spricht beim WebTalk am 6.10.?", [THINIUS, WILLKOMMEN]),
    ("Wo findet der Roundtable statt?", [ROUNDTABLE]),
]


@pytest.fixture
async def other_ctx(tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "data", now="2027-03-08T08:00:00+01:00", content_dir=OTHER_CONTENT
    )
    context = await build_context(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}")
    yield context
    await context.close()


@pytest.mark.parametrize(("question", "expected"), DEMO_CASES)
async def test_demo_questions(ctx: AppContext, question: str, expected: list[str]) -> None:
    answer = ask(ctx, question)
    assert [e.slug for e in answer.events] == expected, answer
    text = "\n".join(r.plain for r in answer_replies(ctx, answer, "de"))
    assert text.strip()
    for event in answer.events:
        assert event.title in text


OTHER_CASES: list[tuple[str, list[str]]] = [
    ("Wann ist der nächste WebTalk?", ["webtalk-foerderprogramme"]),
    ("Und der übernächste WebTalk?", ["webtalk-popup-stores"]),
    ("nächstes Seminar", ["seminar-schaufenster"]),
    ("Wann ist das nächste Seminr?", ["seminar-schaufenster"]),
    ("Gibt es einen Workshop?", ["workshop-citylogistik"]),
    ("Wann ist der nächste Runde Tisch?", ["roundtable-stadtmarketing-nord"]),
    ("Was ist diese Woche?", ["seminar-schaufenster", "workshop-citylogistik"]),
    ("Was läuft nächste Woche?", ["webtalk-foerderprogramme"]),
    ("Was gibt es am Mittwoch?", ["seminar-schaufenster"]),
    ("Was ist am 12. März?", ["workshop-citylogistik"]),
    ("Was war am 1.2.?", ["webtalk-rueckblick"]),
    ("Events in April", ["roundtable-stadtmarketing-nord", "auftakt-hattersheim"]),
    ("Gibt es im April einen Roundtable?", ["roundtable-stadtmarketing-nord"]),
    ("Is there a roundtable in April?", ["roundtable-stadtmarketing-nord"]),
    ("Wann spricht Jürgen Müller?", ["seminar-schaufenster"]),
    ("Wann spricht Juergen Mueller-Luedenscheidt?", ["seminar-schaufenster"]),
    ("Wann spricht Herr Hedde?", ["webtalk-foerderprogramme"]),
    ("Was macht Ole Hansen?", ["workshop-citylogistik"]),
    ("Gibt es etwas zu Leerstand?", ["webtalk-popup-stores"]),
    ("Gibt es etwas zur Logistik?", ["workshop-citylogistik"]),
    ("Gibt es etwas zu Mobilität?", ["workshop-citylogistik"]),
    ("Gibt es was zur Förderung?", ["webtalk-foerderprogramme"]),
    ("Wann ist das Sommerfest?", ["sommerfest"]),
    ("Gibt es heute etwas?", []),
    ("Was ist morgen?", []),
    ("Gibt es einen Workshop zu Wasserstoff?", []),
    ("Wann beginnt der Auftakt in Hattersheim?", ["auftakt-hattersheim"]),
    ("When is the next seminar?", ["seminar-schaufenster"]),
    ("What's on next week?", ["webtalk-foerderprogramme"]),
    ("Gibt es was zu Digitalisierung?", []),
    (
        "Was läuft in den nächsten 2 Wochen?",
        ["seminar-schaufenster", "workshop-citylogistik", "webtalk-foerderprogramme"],
    ),
    (
        "Was läuft in einem Monat?",
        [
            "seminar-schaufenster",
            "workshop-citylogistik",
            "webtalk-foerderprogramme",
            "webtalk-popup-stores",
            "roundtable-stadtmarketing-nord",
        ],
    ),
]


@pytest.mark.parametrize(("question", "expected"), OTHER_CASES)
async def test_other_content_questions(other_ctx: AppContext, question: str, expected: list[str]) -> None:
    answer = ask(other_ctx, question)
    assert [e.slug for e in answer.events] == expected, answer


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Wann ist der nächste WebTalk?", "next_event"),
        ("Was läuft am 6.10.?", "event_list"),
        ("When does Max Thinius speak?", "event_time"),
        ("Wie kann ich mich anmelden?", "how_to_register"),
        ("How do I register?", "how_to_register"),
        ("Was sind die Stadtretter?", "faq"),
        ("What is Die Stadtretter?", "faq"),
        ("Kontakt", "faq"),
        ("Was läuft am 31.02.?", "invalid_date"),
        ("Was läuft am 32.10.?", "invalid_date"),
        ("Hallo", "greeting"),
        ("Ich brauche Hilfe", "help"),
        ("help", "help"),
        ("Was kannst du?", "help"),
        ("What can you do?", "help"),
        ("Danke!", "thanks"),
        ("Vielen Dank", "thanks"),
        ("", "empty"),
        ("   ", "empty"),
        ("asdfgh qwertz", "unknown"),
        ("Wie wird das Wetter?", "unknown"),
        ("🎉🎉🎉", "unknown"),
    ],
)
async def test_intents(ctx: AppContext, question: str, intent: str) -> None:
    answer = ask(ctx, question)
    assert answer.intent == intent
    for lang in ("de", "en"):
        assert answer_replies(ctx, answer, lang)[0].plain.strip()


async def test_faq_answers_with_the_entry(ctx: AppContext) -> None:
    answer = ask(ctx, "Wie erreiche ich die Stadtretter?")
    text = "\n".join(r.plain for r in answer_replies(ctx, answer, "de"))
    assert "kontakt@die-stadtretter.de" in text


async def test_registration_howto_names_the_event(ctx: AppContext) -> None:
    answer = ask(ctx, "Wie melde ich mich zum Roundtable an?")
    assert answer.intent == "how_to_register"
    assert [e.slug for e in answer.events] == [ROUNDTABLE]
    replies = answer_replies(ctx, answer, "de")
    assert f"/rsvp {ROUNDTABLE}" in [b.action for r in replies for row in r.buttons for b in row]


async def test_answer_gives_weekday_date_time_and_speakers(ctx: AppContext) -> None:
    replies = answer_replies(ctx, ask(ctx, "When does Max Thinius speak?"), "en")
    text = replies[0].plain
    assert "Tuesday, 6 October 2020" in text
    assert "10:00" in text
    assert "Max Thinius" in text
    german = answer_replies(ctx, ask(ctx, "Wann spricht Max Thinius?"), "de")[0].plain
    assert "Dienstag, 6. Oktober 2020, 10:00 Uhr" in german
    assert [b.action for row in replies[0].buttons for b in row][:2] == [
        f"/rsvp {THINIUS}",
        f"/ics {THINIUS}",
    ]


async def test_nothing_found_is_honest_and_offers_the_next_event(ctx: AppContext) -> None:
    answer = ask(ctx, "Gibt es heute etwas?")
    text = answer_replies(ctx, answer, "de")[0].plain
    assert "Heute findet keine Veranstaltung statt" in text
    assert answer.events == []
    assert answer.next_event is not None and answer.next_event.slug == VITALE


async def test_follow_up_keeps_the_kind_of_the_last_question(ctx: AppContext) -> None:
    from tests.conftest import say, text_of

    assert "Vitale Standorte" in text_of(await say(ctx, "Wann ist der nächste WebTalk?"))
    assert "Die größte Zukunft aller Zeiten" in text_of(await say(ctx, "Und der übernächste?"))
    # There is only one roundtable, so the one after it does not exist; without the memory the answer
    # would be the second event of any kind (Max Thinius' WebTalk), as it is in another chat.
    assert "3. Roundtable" in text_of(await say(ctx, "Wann ist der nächste Roundtable?"))
    follow_up = text_of(await say(ctx, "Und der übernächste?"))
    assert "Roundtables" in follow_up and "Die größte Zukunft" not in follow_up
    other_chat = text_of(await say(ctx, "Und der übernächste?", user="bert"))
    assert "Die größte Zukunft aller Zeiten" in other_chat


# --- the newsletter's other parts: news, best practices, new members, the impulse ---------------------

DEMO_ITEM_CASES: list[tuple[str, str, list[str]]] = [
    ("Was gibt es Neues?", "news", ["massnahmen-innenstaedte"]),
    ("Gibt es Neuigkeiten zu Förderprogrammen?", "news", ["massnahmen-innenstaedte"]),
    ("What's new?", "news", ["massnahmen-innenstaedte"]),
    ("Any news on funding?", "news", ["massnahmen-innenstaedte"]),
    ("Gibt es Neuigkeiten zu Wasserstoff?", "news", []),
    ("Gibt es ein Best Practice zu Leerstand?", "practice", []),
    ("Gibt es Best Practices?", "practice", ["taunus-innovation-campus", "einbecker-modell"]),
    ("Was macht Einbeck im Stadtmarketing?", "practice", ["einbecker-modell"]),
    ("Gibt es ein Beispiel zur Wirtschaftsförderung?", "practice", ["taunus-innovation-campus"]),
    ("Was erzählt Alexander Schwarz?", "practice", ["taunus-innovation-campus"]),
    ("Wer ist neu im Netzwerk?", "new_members", ["mapstar"]),
    ("Welche Kommunen sind neu dabei?", "new_members", []),
    ("Welche Unternehmen sind neu dabei?", "new_members", ["mapstar"]),
    ("Wer ist Mapstar?", "new_members", ["mapstar"]),
    ("Who is new in the network?", "new_members", ["mapstar"]),
    ("Was ist der Impuls der Woche?", "impulse", ["2020-09-28-thinius"]),
    ("What is the impulse of the week?", "impulse", ["2020-09-28-thinius"]),
]

OTHER_ITEM_CASES: list[tuple[str, str, list[str]]] = [
    ("Was gibt es Neues?", "news", ["innenstadtfonds-verlaengert", "netzwerk-300"]),
    ("Gibt es Neuigkeiten zum Innenstadtfonds?", "news", ["innenstadtfonds-verlaengert"]),
    ("Any news about funding?", "news", ["innenstadtfonds-verlaengert"]),
    ("Gibt es ein Best Practice zur Logistik?", "practice", ["lieferboxen-goerlitz"]),
    ("Any best practice on logistics?", "practice", ["lieferboxen-goerlitz"]),
    ("Was macht Lübeck?", "practice", ["luebeck-gruene-hoefe"]),
    ("Gibt es Beispiele für Stadtgrün?", "practice", ["luebeck-gruene-hoefe"]),
    ("Wer ist neu im Netzwerk?", "new_members", ["stadt-bad-kreuznach", "freiraum-kollektiv"]),
    ("Welche Kommunen sind neu dabei?", "new_members", ["stadt-bad-kreuznach"]),
    ("Welche Vereine sind neu?", "new_members", ["freiraum-kollektiv"]),
    ("Gibt es neue Unternehmen?", "new_members", []),  # Lumen joins tomorrow: not shown yet
    ("Was ist der Impuls der Woche?", "impulse", ["2027-03-08-janssen"]),
    ("Impulse of the week?", "impulse", ["2027-03-08-janssen"]),
]


def item_slugs(ctx: AppContext, question: str) -> tuple[str, list[str]]:
    answer = ask(ctx, question)
    return answer.intent.value, [i.slug for i in answer.items]


@pytest.mark.parametrize(("question", "intent", "expected"), DEMO_ITEM_CASES)
async def test_demo_newsletter_questions(
    ctx: AppContext, question: str, intent: str, expected: list[str]
) -> None:
    assert item_slugs(ctx, question) == (intent, expected)
    answer = ask(ctx, question)
    text = "\n".join(r.plain for r in answer_replies(ctx, answer, "de"))
    for item in answer.items:
        assert item.title in text
    assert "foerder" not in text  # never an internal word form


@pytest.mark.parametrize(("question", "intent", "expected"), OTHER_ITEM_CASES)
async def test_other_newsletter_questions(
    other_ctx: AppContext, question: str, intent: str, expected: list[str]
) -> None:
    assert item_slugs(other_ctx, question) == (intent, expected)


async def test_event_questions_stay_event_answers_with_items_around(other_ctx: AppContext) -> None:
    for question, slugs in OTHER_CASES:
        answer = ask(other_ctx, question)
        assert answer.items == [], question
        assert [e.slug for e in answer.events] == slugs, question


async def test_nothing_fitting_offers_the_latest_items(ctx: AppContext) -> None:
    answer = ask(ctx, "Welche Kommunen sind neu dabei?")
    assert [i.slug for i in answer.other_items] == ["mapstar"]
    text = "\n".join(r.plain for r in answer_replies(ctx, answer, "de"))
    assert "keine Kommunen neu dabei" in text and "Mapstar" in text


async def test_future_items_appear_on_their_date(other_ctx: AppContext) -> None:
    from datetime import timedelta

    assert "lumen-analytics" not in item_slugs(other_ctx, "Wer ist neu im Netzwerk?")[1]
    other_ctx.clock.fixed = other_ctx.clock.now() + timedelta(days=2)
    assert item_slugs(other_ctx, "Wer ist neu im Netzwerk?")[1][0] == "lumen-analytics"
