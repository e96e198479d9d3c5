"""Data protection: consent with yes and no, one's data as a file, erasure everywhere, found by the schema."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from bot.chat import ChatRef, Incoming, Kind, Person, Reply
from bot.context import AppContext
from bot.db.models import NAMES_PERSON, Base, OutboxMessage, Registration, Role
from tests.conftest import actions, text_of
from tests.core.test_access import row_counts
from tests.core.test_registration import THINIUS, set_capacity, statuses

# Column names that name a person wherever they appear; a table with one must mark it (names_person).
PERSON_LIKE = re.compile(r"^(user_id|member_id|chat_id|display_name|.*_by|actor|person|recipient|author_.*)$")
ZORA = Person("telegram", "4242424242", "Zora Unverwechselbar")
BERT = Person("telegram", "5151", "Bert")


def test_every_column_that_can_name_a_person_is_marked() -> None:
    unmarked = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if PERSON_LIKE.match(column.name) and NAMES_PERSON not in column.info
    ]
    assert unmarked == []
    marked = {t.name for t in Base.metadata.sorted_tables for c in t.columns if NAMES_PERSON in c.info}
    assert {
        "members",
        "registrations",
        "outbox",
        "sent_messages",
        "overview_targets",
        "roles",
        "contributions",
        "calendar_tokens",
    } <= marked


async def say_as(ctx: AppContext, who: Person, text: str, *, button: bool = False) -> list[Reply]:
    chat = ChatRef(who.platform, who.id)
    return await ctx.handle(Incoming(chat, who, text, kind=Kind.BUTTON if button else Kind.MESSAGE))


async def test_no_thanks_stores_nothing_and_says_what_works_without(ctx: AppContext) -> None:
    asked = await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    assert actions(asked) == [f"/einwilligen {THINIUS}", "/einwilligen nein"]
    assert "Nein, danke" in asked[0].buttons[0][1].label
    before = await row_counts(ctx)
    refused = text_of(await say_as(ctx, ZORA, "/einwilligen nein", button=True))
    assert "speichere nichts" in refused and "/kalender" in refused
    assert await row_counts(ctx) == before
    # Typed: "nein" answers the question asked last, "ja" agrees.
    await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    assert "speichere nichts" in text_of(await say_as(ctx, ZORA, "Nein, danke"))
    assert await row_counts(ctx) == before
    await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    assert "angemeldet" in text_of(await say_as(ctx, ZORA, "ja"))
    assert (await statuses(ctx))[ZORA.id] == "confirmed"
    # Nothing asked: said so (not searched for as a topic).
    assert "keine Frage gestellt" in text_of(await say_as(ctx, BERT, "nein"))


async def test_my_data_is_a_json_file_with_a_summary_and_consent_shows_when(ctx: AppContext) -> None:
    assert "nichts gespeichert" in text_of(await say_as(ctx, ZORA, "/meinedaten"))
    await ctx.registrations.give_consent(ZORA)
    await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    (reply,) = await say_as(ctx, ZORA, "/mydata")
    assert reply.attachment is not None and reply.attachment.mime_type == "application/json"
    data = json.loads(reply.attachment.data)
    assert data["person"] == "telegram:4242424242"
    assert data["tables"]["members"][0]["display_name"] == "Zora Unverwechselbar"
    assert [r["status"] for r in data["tables"]["registrations"]] == ["confirmed"]
    assert "• registrations: 1\n• your member entry: 1" in reply.plain
    consent = await say_as(ctx, ZORA, "/einwilligung")
    assert "28. September 2020 um 09:00 Uhr" in text_of(consent) and actions(consent) == [
        "/meinedaten",
        "/loeschen",
    ]


async def test_consent_records_the_version_of_the_privacy_notice_agreed_to(ctx: AppContext) -> None:
    from bot.db.models import Member

    assert "<b>Datenschutz</b> (Fassung 2026-12)" in (await say_as(ctx, ZORA, "/datenschutz"))[0].html
    await say_as(ctx, ZORA, f"/einwilligen {THINIUS}", button=True)
    data = await ctx.privacy.export(ZORA)
    assert data.tables["members"][0]["consent_version"] == "2026-12"
    shown = text_of(await say_as(ctx, ZORA, "/einwilligung"))
    agreed = "Sie haben am Montag, 28. September 2020 um 09:00 Uhr der Datenschutzerklärung (Fassung 2026-12)"
    assert f"{agreed} zugestimmt und eingewilligt" in shown
    english = Person("telegram", "77", "Eve", language="en")
    ctx.registrations.privacy_version = "2027-03"  # a new notice: who agrees now agrees to that one
    await ctx.registrations.give_consent(english)
    await ctx.registrations.give_consent(ZORA)  # agreeing again keeps what she agreed to, and when
    assert "to the privacy notice (version 2027-03)" in text_of(await say_as(ctx, english, "/myconsent"))
    assert "(Fassung 2026-12)" in text_of(await say_as(ctx, ZORA, "/einwilligung"))
    # Consent given before versions were recorded says when, and names no version.
    async with ctx.db.sessions.begin() as session:
        await session.execute(Member.__table__.update().values(consent_version=None))
    older = text_of(await say_as(ctx, ZORA, "/einwilligung"))
    assert "um 09:00 Uhr eingewilligt" in older and "Fassung" not in older
    await say_as(ctx, ZORA, "/loeschen ja")
    assert "nichts eingewilligt" in text_of(await say_as(ctx, ZORA, "/einwilligung"))


async def every_value(ctx: AppContext) -> list[str]:
    async with ctx.db.sessions() as session:
        found = []
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                found.extend(json.dumps(v, default=str, ensure_ascii=False) for v in row)
        return found


async def test_erasure_cancels_through_the_service_and_leaves_nothing_naming_the_person(
    any_ctx: AppContext,
) -> None:
    ctx = any_ctx
    await set_capacity(ctx, THINIUS, 1)
    for who in (ZORA, BERT):
        await ctx.registrations.give_consent(who)
        await say_as(ctx, who, f"/anmelden {THINIUS}")
    await say_as(ctx, ZORA, "/abo ja")
    await say_as(ctx, ZORA, "/anmelden webtalk-vitale-standorte")
    ctx.subjects.add(ChatRef("telegram", ZORA.id), "77", f"event:{THINIUS}")
    await ctx.subjects.stop()
    ctx.settings.admins.append(f"telegram:{ZORA.id}")
    await ctx.roles.apply_settings(now=ctx.clock.now())
    ctx.settings.admins.remove(f"telegram:{ZORA.id}")
    assert await statuses(ctx) == {ZORA.id: "confirmed", BERT.id: "waitlisted"}
    assert any(ZORA.id in v for v in await every_value(ctx))

    # In words, then the confirmation as a typed "ja".
    confirm = await say_as(ctx, ZORA, "Ich möchte meine Daten löschen")
    assert actions(confirm) == ["/loeschen ja", "/loeschen abbrechen"]
    assert "Erledigt" in text_of(await say_as(ctx, ZORA, "ja"))

    assert await statuses(ctx) == {BERT.id: "confirmed"}  # the waitlist moved up
    async with ctx.db.sessions() as session:
        told = await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.key.like("promotion:%"))
        )
        assert list(told) == [BERT.id]
        anonymous = await session.scalar(
            select(func.count()).select_from(Registration).where(Registration.member_id.is_(None))
        )
        assert anonymous == 2  # only anonymous counts stay
    values = await every_value(ctx)
    assert not [v for v in values if ZORA.id in v or "Zora" in v]
    assert "nichts gespeichert" in text_of(await say_as(ctx, ZORA, "/meinedaten"))


async def test_erasure_asks_first_and_cancelling_keeps_everything(ctx: AppContext) -> None:
    await ctx.registrations.give_consent(ZORA)
    await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    before = await row_counts(ctx)
    await say_as(ctx, ZORA, "/loeschen")
    assert "nichts gelöscht" in text_of(await say_as(ctx, ZORA, "/loeschen abbrechen", button=True))
    assert await row_counts(ctx) == before


async def test_the_keeping_job_deletes_old_records_and_anonymises_old_registrations(ctx: AppContext) -> None:
    from datetime import timedelta

    from scheduler.jobs import enforce_keeping

    await ctx.registrations.give_consent(ZORA)
    await say_as(ctx, ZORA, f"/anmelden {THINIUS}")
    start = ctx.clock.now()
    done = ChatRef("telegram", ZORA.id)
    await ctx.outbox.enqueue("old-sent", done, Reply("alt"), now=start)
    await ctx.outbox.enqueue("old-pending", done, Reply("wartet"), now=start)
    async with ctx.db.sessions.begin() as session:
        await session.execute(
            OutboxMessage.__table__.update().where(OutboxMessage.key == "old-sent").values(status="sent")
        )
    ctx.subjects.add(done, "5", f"event:{THINIUS}")
    await ctx.subjects.stop()
    assert ctx.clock.fixed is not None
    ctx.clock.fixed = start + timedelta(days=31)
    assert await enforce_keeping(ctx) == {"pushes": 1}
    ctx.clock.fixed = start + timedelta(days=91)
    assert await enforce_keeping(ctx) == {"sent_messages": 1}
    assert await statuses(ctx) == {ZORA.id: "confirmed"}  # the event ended less than a year ago
    ctx.clock.fixed = start + timedelta(days=400)
    assert await enforce_keeping(ctx) == {"registrations": 1}
    assert await statuses(ctx) == {}
    async with ctx.db.sessions() as session:
        keys = list(await session.scalars(select(OutboxMessage.key)))
        assert keys == ["old-pending"]  # what is not delivered yet is never removed here


async def test_a_flood_gets_one_notice_then_silence_without_writes(ctx: AppContext) -> None:
    answers = [await say_as(ctx, ZORA, "/termine") for _ in range(20)]
    assert all(answers)
    (notice,) = await say_as(ctx, ZORA, "/termine")
    assert "eine Minute Pause" in notice.plain
    before = await row_counts(ctx)
    assert await say_as(ctx, ZORA, "/einwilligen") == []
    assert await say_as(ctx, ZORA, "/abo ja") == []
    assert await row_counts(ctx) == before
    assert await say_as(ctx, BERT, "/termine")  # others are answered
    console = Person("console", "local")
    assert all([await say_as(ctx, console, "/termine") for _ in range(30)])  # the operator is never limited


async def test_no_subject_is_recorded_for_the_private_chat_of_someone_who_did_not_agree(
    ctx: AppContext,
) -> None:
    (card,) = await say_as(ctx, ZORA, f"/details {THINIUS}")
    assert card.subject is None
    group = ChatRef("telegram", "-100", is_private=False)
    (in_group,) = await ctx.handle(Incoming(group, ZORA, f"/details {THINIUS}"))
    assert in_group.subject == f"event:{THINIUS}"
    await ctx.registrations.give_consent(ZORA)
    (card,) = await say_as(ctx, ZORA, f"/details {THINIUS}")
    assert card.subject == f"event:{THINIUS}"


ANNA = Person("matrix", "@anna:example.org", "Anna Matrix")
ANNA_ROOM = "!direkt:example.org"


async def test_a_matrix_members_direct_room_is_exported_and_erased_with_everything_keyed_by_it(
    any_ctx: AppContext,
) -> None:
    from bot.platforms.matrix.session import DirectRooms, session_path

    ctx = any_ctx
    path = session_path(ctx.settings.data_dir)
    DirectRooms(path).remember(ANNA.id, ANNA_ROOM)
    DirectRooms(path).remember("@bert:example.org", "!bert:example.org")
    await ctx.registrations.give_consent(ANNA)
    dm = ChatRef("matrix", ANNA_ROOM)
    # What the Matrix adapter records in her direct chat is keyed by the room, her pushes by her user id.
    await ctx.handle(Incoming(dm, ANNA, f"/anmelden {THINIUS}"))
    await ctx.handle(Incoming(dm, ANNA, "/abo ja"))
    ctx.subjects.add(dm, "$karte", f"event:{THINIUS}")
    await ctx.subjects.stop()
    await ctx.defer(dm, Reply("später"), key="matrix-answer:$frage:0")
    assert any(ANNA_ROOM in v for v in await every_value(ctx))

    data = await ctx.privacy.export(ANNA)
    assert data.tables["private_chats"] == [{"platform": "matrix", "chat_id": ANNA_ROOM}]
    assert [r["chat_id"] for r in data.tables["sent_messages"]] == [ANNA_ROOM]
    assert ANNA_ROOM in [r["chat_id"] for r in data.tables["outbox"]]
    assert [r["status"] for r in data.tables["registrations"]] == ["confirmed"]

    confirm = await ctx.handle(Incoming(dm, ANNA, "/loeschen"))
    assert "direkter Chat mit mir (Matrix-Raum): 1" in text_of(confirm)
    assert "Erledigt" in text_of(await ctx.handle(Incoming(dm, ANNA, "/loeschen ja", kind=Kind.BUTTON)))

    values = await every_value(ctx)
    assert not [v for v in values if ANNA.id in v or ANNA_ROOM in v or "Anna Matrix" in v]
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["direct_rooms"] == {"@bert:example.org": "!bert:example.org"}  # only hers is gone
    assert (await ctx.privacy.export(ANNA)).empty


async def test_the_keeping_job_forgets_the_direct_chats_of_people_who_never_agreed(ctx: AppContext) -> None:
    """The Matrix adapter notes a direct chat when someone invites the bot, before anyone knows whether
    they will agree: the daily job keeps only those of people who agreed or hold a role."""
    from bot.platforms.matrix.session import DirectRooms, session_path
    from scheduler.jobs import enforce_keeping

    rooms = DirectRooms(session_path(ctx.settings.data_dir))
    manager = Person("matrix", "@maria:example.org")
    stranger = Person("matrix", "@fremd:example.org")
    for person in (ANNA, manager, stranger):
        rooms.remember(person.id, f"!{person.id[1:]}")
    await ctx.registrations.give_consent(ANNA)
    await ctx.roles.redeem(
        await ctx.roles.invite(Role.MANAGER, by="console:local", now=ctx.clock.now()),
        key=manager.key,
        now=ctx.clock.now(),
    )

    assert await enforce_keeping(ctx) == {"private_chats": 1}
    assert set(rooms.mapping()) == {ANNA.id, manager.id}
    assert await enforce_keeping(ctx) == {}
    assert await ctx.privacy.chats_of(stranger) == []
