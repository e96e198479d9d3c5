"""Who may run which command, and where: every command × role × platform × private/group against a table."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from bot.chat import ChatRef, Incoming, Person, Reply
from bot.context import AppContext
from bot.db.models import Base, Role
from tests.conftest import text_of

M, MANAGER, ADMIN = Role.MEMBER, Role.MANAGER, Role.ADMIN
PRIVATE, ANYWHERE = True, False

# Written by hand, on purpose: a command whose access changes must change this table too.
# command line -> (the role it needs, whether it answers in the private chat only)
TABLE: dict[str, tuple[Role, bool]] = {
    "/start": (M, ANYWHERE),
    "/hilfe": (M, ANYWHERE),
    "/termine": (M, ANYWHERE),
    "/details": (M, ANYWHERE),
    "/kalender": (M, ANYWHERE),
    "/impuls": (M, ANYWHERE),
    "/impuls neu": (MANAGER, PRIVATE),
    "/diskussion": (M, ANYWHERE),
    "/verbergen": (MANAGER, ANYWHERE),
    "/spiegeln": (MANAGER, ANYWHERE),
    "/anmelden": (M, ANYWHERE),
    "/warteliste": (M, ANYWHERE),
    "/einwilligen": (M, ANYWHERE),
    "/abmelden webtalk-willkommen": (M, ANYWHERE),
    "/abmelden": (M, PRIVATE),  # without an event it lists the sender's registrations
    "/meine": (M, PRIVATE),
    "/wochenuebersicht": (M, ANYWHERE),
    "/wochenuebersicht senden": (MANAGER, PRIVATE),
    "/vorschau": (MANAGER, PRIVATE),
    "/kanaele": (MANAGER, PRIVATE),
    "/abo": (M, ANYWHERE),
    "/abbestellen": (M, ANYWHERE),
    "/erinnerungen": (M, ANYWHERE),
    "/sprache": (M, ANYWHERE),
    "/export": (MANAGER, PRIVATE),
    "/export alle": (MANAGER, PRIVATE),
    "/ich": (M, ANYWHERE),
    "/datenschutz": (M, ANYWHERE),
    "/einwilligung": (M, PRIVATE),
    "/meinedaten": (M, PRIVATE),
    "/loeschen": (M, PRIVATE),
    "/ja": (M, ANYWHERE),
    "/nein": (M, ANYWHERE),
    "/einladen manager": (ADMIN, PRIVATE),
    "/rolle abc": (M, PRIVATE),
    "/rollen": (ADMIN, PRIVATE),
    "/entziehen telegram:1": (ADMIN, PRIVATE),
    "/protokoll": (ADMIN, PRIVATE),
}
# In a group or room, switching the overview is a manager's matter (in a private chat it subscribes).
GROUP_ONLY: dict[str, tuple[Role, bool]] = {"/wochenuebersicht an": (MANAGER, ANYWHERE)}

PEOPLE = {"console": "anna", "telegram": "1001", "matrix": "@anna:example.org"}
ROLES = (M, MANAGER, ADMIN)
REFUSAL = ("nur Community-Manager", "nur Administratoren")


def test_the_table_names_every_command(ctx: AppContext) -> None:
    named = {line.split()[0].removeprefix("/") for line in [*TABLE, *GROUP_ONLY]}
    assert named == {c.name for c in ctx.router.commands}


async def row_counts(ctx: AppContext) -> dict[str, int]:
    async with ctx.db.sessions() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def give(ctx: AppContext, key: str, role: Role) -> None:
    ctx.settings.managers = [key] if role is MANAGER else []
    ctx.settings.admins = [key] if role is ADMIN else []


def check(
    replies: list[Reply], *, needed: Role, private: bool, role: Role, chat: ChatRef, mine: ChatRef
) -> None:
    text = text_of(replies)
    if not role.covers(needed):
        assert len(replies) == 1 and any(r in text for r in REFUSAL), text
        assert replies[0].to is None and replies[0].attachment is None
        return
    assert not any(r in text for r in REFUSAL), text
    if private and not chat.is_private:
        notice, *answers = replies
        assert "im privaten Chat" in notice.plain and notice.to is None and notice.attachment is None
        assert answers and all(r.to == mine for r in answers), [r.to for r in answers]
        return
    assert replies and all(r.to is None for r in replies)  # answered where it was asked


@pytest.mark.parametrize("platform", list(PEOPLE))
async def test_every_command_with_every_role_in_private_and_in_groups(ctx: AppContext, platform: str) -> None:
    ctx.settings.flood_per_minute = 0  # one person sends a few hundred commands here
    user = PEOPLE[platform]
    sender = Person(platform, user, display_name="Anna")
    mine = ChatRef(platform, user, is_private=True)
    group = ChatRef(platform, "group-1" if platform != "matrix" else "!group:example.org", is_private=False)
    for role in ROLES:
        give(ctx, sender.key, role)
        for chat in (mine, group):
            lines = {**TABLE, **(GROUP_ONLY if not chat.is_private else {})}
            for line, (needed, private) in lines.items():
                ctx.pending.forget(sender.key)  # a bare "/ja" here answers nothing asked before
                before = await row_counts(ctx)
                replies = await ctx.handle(Incoming(chat, sender, line))
                where = f"{line} by {role} in {'private' if chat.is_private else 'group'}"
                try:
                    check(replies, needed=needed, private=private, role=role, chat=chat, mine=mine)
                except AssertionError as exc:
                    raise AssertionError(f"{where}: {exc}") from None
                if not role.covers(needed):
                    assert await row_counts(ctx) == before, f"{where}: a refusal wrote something"


async def test_help_shows_each_person_the_commands_of_their_role(ctx: AppContext) -> None:
    anna = Person("telegram", "1001", "Anna")
    chat = ChatRef("telegram", "1001")
    member_help = text_of(await ctx.handle(Incoming(chat, anna, "/hilfe")))
    assert "/anmelden" in member_help and "/export" not in member_help and "/kanaele" not in member_help
    give(ctx, anna.key, MANAGER)
    manager_help = text_of(await ctx.handle(Incoming(chat, anna, "/hilfe")))
    assert "/export" in manager_help and "/kanaele" in manager_help and "/vorschau" in manager_help


async def test_whoami_tells_the_platform_id_and_role(ctx: AppContext) -> None:
    anna = Person("telegram", "1001", "Anna")
    chat = ChatRef("telegram", "1001")
    assert (
        text_of(await ctx.handle(Incoming(chat, anna, "/ich")))
        == "Ihre Kennung: telegram:1001\nIhre Rolle: Mitglied"
    )
    give(ctx, anna.key, ADMIN)
    english = text_of(await ctx.handle(Incoming(chat, anna, "/whoami")))
    assert english == "Your id: telegram:1001\nYour role: administrator"


async def test_a_group_gets_a_link_to_the_private_chat_on_telegram(ctx: AppContext) -> None:
    ctx.announce("telegram", "stadtretter_bot")
    anna = Person("telegram", "1001", "Anna")
    notice, answer = await ctx.handle(Incoming(ChatRef("telegram", "-100", is_private=False), anna, "/meine"))
    assert 'href="https://t.me/stadtretter_bot"' in notice.html
    assert answer.to == ChatRef("telegram", "1001") and "Anmeldungen" in answer.plain


async def test_stored_roles_count_and_settings_roles_are_applied_again_at_start(ctx: AppContext) -> None:
    ctx.settings.managers = ["telegram:7", "matrix:@m:example.org"]
    ctx.settings.admins = ["telegram:1"]
    await ctx.roles.apply_settings(now=ctx.clock.now())
    assert {(h.key, h.role) for h in await ctx.roles.holders()} == {
        ("telegram:7", MANAGER),
        ("matrix:@m:example.org", MANAGER),
        ("telegram:1", ADMIN),
    }
    ctx.settings.managers, ctx.settings.admins = [], []  # a restart with other settings
    assert await ctx.roles.role_of("telegram:7") is MANAGER  # stored: no settings needed to know it
    await ctx.roles.apply_settings(now=ctx.clock.now())
    assert await ctx.roles.holders() == []
    assert await ctx.roles.role_of("telegram:7") is M


async def test_export_all_is_one_csv_with_an_event_column_and_never_a_fuzzy_pick(ctx: AppContext) -> None:
    for user, slug in (("1", "webtalk-groesste-zukunft"), ("2", "webtalk-vitale-standorte")):
        await ctx.registrations.give_consent(Person("telegram", user, "P" + user))
        await ctx.handle(
            Incoming(ChatRef("telegram", user), Person("telegram", user, "P" + user), f"/anmelden {slug}")
        )
    give(ctx, "console:local", MANAGER)
    (reply,) = await ctx.handle(
        Incoming(ChatRef("console", "local"), Person("console", "local"), "/export alle")
    )
    assert reply.attachment is not None and reply.attachment.filename == "teilnehmer-alle.csv"
    rows = list(csv.reader(io.StringIO(reply.attachment.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["event", "status", "name", "platform", "user_id", "registered_at"]
    assert sorted(r[0] for r in rows[1:]) == ["webtalk-groesste-zukunft", "webtalk-vitale-standorte"]
    assert "2 Anmeldung(en)" in reply.plain
    # A name several events share asks which one.
    (ask,) = await ctx.handle(
        Incoming(ChatRef("console", "local"), Person("console", "local"), "/export webtalk")
    )
    assert ask.attachment is None and "Welche Veranstaltung" in ask.plain and len(ask.buttons) > 1
