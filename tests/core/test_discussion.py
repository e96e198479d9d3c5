"""The impulse of the week as one conversation: posted once everywhere, contributions copied into every other
chat's thread, edits and removals following, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.chat import ChatRef, Incoming, Kind, MessageRef, Person, Reply
from bot.context import AppContext
from bot.db.models import TargetKind, TargetStatus
from scheduler.jobs import post_due_impulses
from scheduler.outbox import OutboxWorker
from tests.conftest import text_of

SLUG = "2020-09-28-thinius"
CHANNEL = ChatRef("telegram", "-100chan", is_private=False, channel=True)
DISCUSSION = ChatRef("telegram", "-100talk", is_private=False)
GROUP = ChatRef("telegram", "-200grp", is_private=False)
ROOM = ChatRef("matrix", "!room:example.org", is_private=False)
ANNA = Person("telegram", "anna", display_name="Anna Schmidt")
BEN = Person("matrix", "@ben:example.org", display_name="Ben Weber")
CARLA = Person("telegram", "carla", display_name="Carla Roth")
MOD = Person("telegram", "mod", display_name="Moderatorin")


@dataclass
class Recorder:
    """A transport that records what it sends and numbers the messages."""

    platform: str
    sent: list[tuple[str, Reply, str]] = field(default_factory=list)

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        message_id = f"{self.platform[0]}{len(self.sent) + 1}"
        self.sent.append((chat.id, reply, message_id))
        return message_id

    def to(self, chat: ChatRef) -> list[tuple[Reply, str]]:
        return [(r, m) for c, r, m in self.sent if c == chat.id]


async def setup(ctx: AppContext) -> tuple[Recorder, Recorder, OutboxWorker]:
    now = ctx.clock.now()
    for chat, kind, language in [
        (CHANNEL, TargetKind.CHANNEL, "de"),
        (GROUP, TargetKind.GROUP, "de"),
        (ROOM, TargetKind.ROOM, "en"),
    ]:
        await ctx.overview.set_chat(chat, kind=kind, status=TargetStatus.ACTIVE, now=now, language=language)
    await ctx.overview.subscribe(Person("telegram", "member"), language="de", now=now)  # a member's own chat
    telegram, matrix = Recorder("telegram"), Recorder("matrix")
    ctx.transports.update(telegram=telegram, matrix=matrix)
    return telegram, matrix, OutboxWorker(ctx)


async def post(ctx: AppContext) -> tuple[Recorder, Recorder, OutboxWorker, dict[str, str]]:
    """Post the demo impulse; Telegram forwards the channel post into its discussion group."""
    telegram, matrix, worker = await setup(ctx)
    assert await post_due_impulses(ctx) == [(SLUG, 3)]
    assert await post_due_impulses(ctx) == []  # claimed once
    await worker.drain_once()
    posts = {c: m for c, r, m in telegram.sent + matrix.sent}
    ctx.subjects.alias(MessageRef(CHANNEL, posts[CHANNEL.id]), MessageRef(DISCUSSION, "fwd"))
    await ctx.subjects.stop()
    return telegram, matrix, worker, {**posts, DISCUSSION.id: "fwd"}


async def say(
    ctx: AppContext, chat: ChatRef, who: Person, text: str, message_id: str, **facts: object
) -> list[Reply]:
    ref = MessageRef(chat, message_id, thread_id=facts.pop("thread", None))  # type: ignore[arg-type]
    return await ctx.handle(Incoming(chat, who, text, message=ref, **facts))  # type: ignore[arg-type]


def reply_to(chat: ChatRef, message_id: str) -> dict[str, object]:
    return {"kind": Kind.REPLY, "reply_to": MessageRef(chat, message_id)}


async def test_the_impulse_is_posted_once_to_every_channel_group_and_room_with_a_privacy_note(
    any_ctx: AppContext,
) -> None:
    telegram, matrix, _worker, _posts = await post(any_ctx)
    assert sorted(c for c, _, _ in telegram.sent + matrix.sent) == sorted([CHANNEL.id, GROUP.id, ROOM.id])
    german = telegram.to(GROUP)[0][0]
    assert german.subject == f"impulse:{SLUG}"
    assert "Muss die Stadt gerettet werden?" in german.plain
    assert "Diskutieren Sie mit" in german.plain and "Wochenübersicht zitiert" in german.plain
    assert "quoted in the weekly overview" in matrix.to(ROOM)[0][0].plain
    # A manager's "post now" afterwards adds nobody twice.
    from bot.notices.impulses import DiscussionRenderer

    assert (
        await any_ctx.discussion.post(SLUG, DiscussionRenderer(any_ctx.renderer), now=any_ctx.clock.now())
        == 0
    )


async def test_an_impulse_older_than_a_week_is_not_posted_late(any_ctx: AppContext) -> None:
    await setup(any_ctx)
    any_ctx.clock.fixed = any_ctx.clock.now() + timedelta(days=8)
    assert await post_due_impulses(any_ctx) == []


async def test_contributions_appear_once_in_every_other_chat_in_the_posts_thread(any_ctx: AppContext) -> None:
    telegram, matrix, worker, posts = await post(any_ctx)
    before = len(telegram.sent), len(matrix.sent)
    # A comment on the channel post (a reply to its forward in the discussion group) ...
    assert (
        await say(
            any_ctx, DISCUSSION, ANNA, "Die Stadt rettet sich selbst!", "c1", **reply_to(DISCUSSION, "fwd")
        )
        == []
    )
    # ... is stored once, even if Telegram delivers it twice.
    await say(any_ctx, DISCUSSION, ANNA, "Die Stadt rettet sich selbst!", "c1", **reply_to(DISCUSSION, "fwd"))
    await worker.drain_once()
    new = telegram.sent[before[0] :] + matrix.sent[before[1] :]
    assert sorted((c, r.in_reply_to, r.thread) for c, r, _ in new) == sorted(
        [(GROUP.id, posts[GROUP.id], posts[GROUP.id]), (ROOM.id, posts[ROOM.id], posts[ROOM.id])]
    )
    assert {r.plain for _, r, _ in new} == {"💬 Anna Schmidt (Telegram): Die Stadt rettet sich selbst!"}
    group_copy = telegram.to(GROUP)[-1][1]
    room_copy = matrix.to(ROOM)[-1][1]

    # A Matrix reply in the post's thread goes to the group and under the channel post's forward.
    await say(any_ctx, ROOM, BEN, "Bei uns auch.", "$b1", thread=posts[ROOM.id])
    await worker.drain_once()
    assert [(r.in_reply_to, r.plain) for r, _ in telegram.to(DISCUSSION)] == [
        ("fwd", "💬 Ben Weber (Matrix): Bei uns auch.")
    ]
    assert telegram.to(GROUP)[-1][0].plain == "💬 Ben Weber (Matrix): Bei uns auch."
    assert len(matrix.to(ROOM)) == 2  # the post and Anna's copy: never back into the source

    # A reply to Anna's copy in the group answers Anna's message in each chat.
    await say(any_ctx, GROUP, CARLA, "Zustimmung", "g1", **reply_to(GROUP, group_copy))
    await worker.drain_once()
    assert telegram.to(DISCUSSION)[-1][0].in_reply_to == "c1"
    assert matrix.to(ROOM)[-1][0].in_reply_to == room_copy
    assert matrix.to(ROOM)[-1][0].thread == posts[ROOM.id]

    listed = await any_ctx.discussion.discussion(SLUG)
    assert [(c["author"], c["platform"], sorted(c["mirrored"])) for c in listed or []] == [
        ("Anna Schmidt", "telegram", sorted([f"telegram:{GROUP.id}", f"matrix:{ROOM.id}"])),
        ("Ben Weber", "matrix", sorted([f"telegram:{GROUP.id}", f"telegram:{DISCUSSION.id}"])),
        ("Carla Roth", "telegram", sorted([f"telegram:{DISCUSSION.id}", f"matrix:{ROOM.id}"])),
    ]
    shown = text_of(await any_ctx.handle(Incoming(ChatRef("telegram", "anna"), ANNA, "/impuls")))
    assert "Bisher 3 Beitrag/Beiträge" in shown and "Carla" in shown


async def test_edits_and_removals_follow_into_the_copies(any_ctx: AppContext) -> None:
    telegram, _matrix, worker, posts = await post(any_ctx)
    await say(any_ctx, ROOM, BEN, "Erster Gedanke", "$b1", **reply_to(ROOM, posts[ROOM.id]))
    # Edited before its copies went out: the queued copies are rewritten, nothing extra is sent.
    await any_ctx.handle(
        Incoming(ROOM, BEN, "Erster Gedanke, korrigiert", kind=Kind.EDIT, message=MessageRef(ROOM, "$b1"))
    )
    await worker.drain_once()
    copies = {c: (r, m) for c, r, m in telegram.sent if r.subject == "contribution:1"}
    assert {r.plain for r, _ in copies.values()} == {
        "💬 Ben Weber (Matrix) (bearbeitet): Erster Gedanke, korrigiert"
    }
    assert set(copies) == {GROUP.id, DISCUSSION.id}
    # Edited after: each copy is edited in place.
    await any_ctx.handle(
        Incoming(ROOM, BEN, "Dritte Fassung", kind=Kind.EDIT, message=MessageRef(ROOM, "$b1"))
    )
    await worker.drain_once()
    edits = [(c, r.replaces) for c, r, _ in telegram.sent if r.replaces]
    assert sorted(edits) == sorted((c, m) for c, (_, m) in copies.items())
    # A redaction on Matrix takes the copies back.
    await any_ctx.handle(Incoming(ROOM, BEN, "", kind=Kind.DELETE, message=MessageRef(ROOM, "$b1")))
    await worker.drain_once()
    deletes = [(c, r.deletes) for c, r, _ in telegram.sent if r.deletes]
    assert sorted(deletes) == sorted((c, m) for c, (_, m) in copies.items())
    assert (await any_ctx.discussion.summary(SLUG, latest=3))[0] == 0


async def test_a_manager_hides_a_contribution_in_every_copy_but_not_in_the_authors_chat(
    any_ctx: AppContext,
) -> None:
    any_ctx.settings.managers.append(MOD.key)
    telegram, matrix, worker, posts = await post(any_ctx)
    await say(any_ctx, GROUP, ANNA, "Werbung!", "g1", **reply_to(GROUP, posts[GROUP.id]))
    await worker.drain_once()
    copy_in_discussion = telegram.to(DISCUSSION)[-1][1]
    # Someone else may not hide it.
    refused = await say(
        any_ctx, DISCUSSION, CARLA, "/verbergen", "c9", **reply_to(DISCUSSION, copy_in_discussion)
    )
    assert "Community" in text_of(refused)
    answer = await say(
        any_ctx, DISCUSSION, MOD, "/verbergen", "c10", **reply_to(DISCUSSION, copy_in_discussion)
    )
    assert "verborgen" in text_of(answer)
    await worker.drain_once()
    assert sorted(c for c, r, _ in telegram.sent + matrix.sent if r.deletes) == sorted(
        [DISCUSSION.id, ROOM.id]
    )
    assert await any_ctx.discussion.discussion(SLUG) == []


async def test_sharing_off_per_chat_and_globally(any_ctx: AppContext) -> None:
    any_ctx.settings.managers.append(MOD.key)
    telegram, _matrix, worker, posts = await post(any_ctx)
    assert "nicht mehr" in text_of(await say(any_ctx, GROUP, MOD, "/spiegeln aus", "g0"))
    await say(any_ctx, ROOM, BEN, "Hallo zusammen", "$b1", **reply_to(ROOM, posts[ROOM.id]))
    await worker.drain_once()
    assert [c for c, r, _ in telegram.sent if r.subject == "contribution:1"] == [DISCUSSION.id]
    any_ctx.discussion.mirror = False
    await say(any_ctx, ROOM, BEN, "Noch etwas", "$b2", **reply_to(ROOM, posts[ROOM.id]))
    await worker.drain_once()
    assert [c for c, r, _ in telegram.sent if r.subject == "contribution:2"] == []
    assert (await any_ctx.discussion.summary(SLUG, latest=3))[0] == 2  # stored and counted all the same


async def test_a_reply_to_the_impulse_in_a_private_chat_is_a_question_not_a_contribution(
    any_ctx: AppContext,
) -> None:
    _telegram, _matrix, _worker, _posts = await post(any_ctx)
    private = ChatRef("telegram", "anna")
    shown = await any_ctx.handle(Incoming(private, ANNA, "/impuls", message=MessageRef(private, "1")))
    any_ctx.subjects.add(private, "2", shown[0].subject or "")
    await any_ctx.subjects.stop()
    answer = await say(any_ctx, private, ANNA, "Wann ist der nächste WebTalk?", "3", **reply_to(private, "2"))
    assert "WebTalk" in text_of(answer)
    assert (await any_ctx.discussion.summary(SLUG, latest=3))[0] == 0


async def test_export_forget_and_retention(any_ctx: AppContext) -> None:
    telegram, matrix, worker, posts = await post(any_ctx)
    await say(any_ctx, GROUP, ANNA, "Mein Beitrag", "g1", **reply_to(GROUP, posts[GROUP.id]))
    await say(any_ctx, ROOM, BEN, "Seiner", "$b1", **reply_to(ROOM, posts[ROOM.id]))
    await worker.drain_once()
    exported = await any_ctx.discussion.export_author("telegram", "anna")
    assert [(e["text"], e["author"], e["chat"]) for e in exported] == [
        ("Mein Beitrag", "Anna Schmidt", f"telegram:{GROUP.id}")
    ]
    from bot.notices.impulses import DiscussionRenderer

    rendering = DiscussionRenderer(any_ctx.renderer)
    assert (
        await any_ctx.discussion.forget_author(
            "telegram", "anna", now=any_ctx.clock.now(), rendering=rendering
        )
        == 1
    )
    await worker.drain_once()
    assert sorted(c for c, r, _ in telegram.sent + matrix.sent if r.deletes) == sorted(
        [DISCUSSION.id, ROOM.id]
    )
    assert await any_ctx.discussion.export_author("telegram", "anna") == []
    later = any_ctx.clock.now() + timedelta(days=366)
    assert await any_ctx.discussion.purge(now=later, older_than=timedelta(days=365)) == 1
    assert await any_ctx.discussion.discussion(SLUG) == []


async def test_the_daily_keeping_job_deletes_contributions_older_than_bot_keep_contributions_days(
    any_ctx: AppContext,
) -> None:
    from scheduler.jobs import enforce_keeping

    _, _, _, posts = await post(any_ctx)
    await say(any_ctx, GROUP, ANNA, "Mein Beitrag", "g1", **reply_to(GROUP, posts[GROUP.id]))
    assert any_ctx.settings.keep_contributions_days == 365
    any_ctx.settings.keep_contributions_days = 60
    assert any_ctx.clock.fixed is not None
    start = any_ctx.clock.fixed
    any_ctx.clock.fixed = start + timedelta(days=59)
    assert "contributions" not in await enforce_keeping(any_ctx)
    any_ctx.clock.fixed = start + timedelta(days=61)
    assert (await enforce_keeping(any_ctx))["contributions"] == 1
    assert await any_ctx.discussion.discussion(SLUG) == []
    notice = text_of(await any_ctx.handle(Incoming(ChatRef("telegram", "x"), CARLA, "/datenschutz")))
    assert "Beiträge zur Impuls-Diskussion 60 Tage" in notice


async def test_erasing_a_person_takes_their_contributions_down_everywhere(any_ctx: AppContext) -> None:
    telegram, matrix, worker, posts = await post(any_ctx)
    await say(any_ctx, GROUP, ANNA, "Mein Beitrag", "g1", **reply_to(GROUP, posts[GROUP.id]))
    await say(any_ctx, ROOM, BEN, "Seiner", "$b1", **reply_to(ROOM, posts[ROOM.id]))
    await worker.drain_once()
    await any_ctx.privacy.erase(ANNA, {}, actor="cli", now=any_ctx.clock.now())
    await worker.drain_once()
    # Anna's copies (in the channel's discussion group and the room) are deleted; Ben's stays everywhere.
    assert sorted(c for c, r, _ in telegram.sent + matrix.sent if r.deletes) == sorted(
        [DISCUSSION.id, ROOM.id]
    )
    assert await any_ctx.discussion.export_author("telegram", "anna") == []
    assert (await any_ctx.privacy.export(ANNA)).empty
    assert [c["text"] for c in await any_ctx.discussion.discussion(SLUG)] == ["Seiner"]


async def test_the_weekly_overview_carries_last_weeks_discussion_with_first_names(
    any_ctx: AppContext,
) -> None:
    any_ctx.settings.managers.append(MOD.key)
    telegram, _matrix, worker, posts = await post(any_ctx)
    await say(
        any_ctx,
        GROUP,
        ANNA,
        "Die Innenstadt braucht Orte ohne Konsumzwang.",
        "g1",
        **reply_to(GROUP, posts[GROUP.id]),
    )
    await say(
        any_ctx, ROOM, BEN, "Bei uns hilft ein Quartiersmanagement.", "$b1", **reply_to(ROOM, posts[ROOM.id])
    )
    await say(any_ctx, GROUP, CARLA, "Spam!", "g2", **reply_to(GROUP, posts[GROUP.id]))
    await worker.drain_once()
    spam = next(m for c, r, m in telegram.sent if c == DISCUSSION.id and "Spam" in r.plain)
    await say(any_ctx, DISCUSSION, MOD, "/verbergen", "c9", **reply_to(DISCUSSION, spam))
    text = text_of(await any_ctx.handle(Incoming(ChatRef("telegram", "anna"), ANNA, "/wochenuebersicht")))
    assert "Die Diskussion der letzten Woche: 2 Beitrag/Beiträge, zum Beispiel:" in text
    assert "„Die Innenstadt braucht Orte ohne Konsumzwang.“ – Anna" in text
    assert "„Bei uns hilft ein Quartiersmanagement.“ – Ben" in text
    assert "Spam" not in text and "Schmidt" not in text


async def test_a_manager_writes_previews_and_schedules_an_impulse_in_a_chat(any_ctx: AppContext) -> None:
    from tests.conftest import say as chat

    telegram, _matrix, worker = await setup(any_ctx)
    assert await post_due_impulses(any_ctx) == [(SLUG, 3)]  # this week's impulse from its file

    async def manager(text: str, *, button: bool = False) -> list[Reply]:
        return await chat(any_ctx, text, user="local", platform="console", button=button)

    assert "nur Community-Manager" in text_of(await chat(any_ctx, "/impuls neu", user="bert"))
    assert "erste Zeile ist der Titel" in text_of(await manager("/impuls neu"))
    assert "Titel" in text_of(await manager("Nur ein Titel"))  # no text below it: asked again
    assert "„ok“ für Anna Beispiel" in text_of(
        await manager("Wem gehört die <b>Innenstadt</b>?\nEine Frage an alle. 🏙")
    )
    assert "Wann soll er erscheinen?" in text_of(await manager("ok"))
    assert "verstehe ich nicht" in text_of(await manager("1.1.2019 09:00"))  # past
    preview = await manager("5.10.2020 09:00")
    assert "Vorschau" in preview[0].plain and "5. Oktober 2020" in preview[0].plain
    assert "Wem gehört die <b>Innenstadt</b>?" in preview[1].plain and "Anna Beispiel" in preview[1].plain
    assert [b.action for row in preview[1].buttons for b in row] == [
        "/impuls neu veroeffentlichen",
        "/impuls neu planen",
        "/impuls neu verwerfen",
    ]
    assert "Geplant für" in text_of(await manager("/impuls neu planen", button=True))
    assert "kein Impuls" in text_of(await manager("/impuls neu planen", button=True))  # pressed twice
    assert await post_due_impulses(any_ctx) == []  # not yet
    any_ctx.clock.fixed = datetime.fromisoformat("2020-10-05T09:00:30+02:00")
    [(slug, count)] = await post_due_impulses(any_ctx)
    assert (slug, count) == ("2020-10-05-wem-gehort-die-b-innenstadt-b", 3)
    await worker.drain_once()
    assert "Wem gehört die <b>Innenstadt</b>?" in telegram.to(GROUP)[-1][0].plain

    # Cancelled on the way: nothing is kept; published at once: posted at once.
    await manager("/impuls neu")
    assert "Verworfen" in text_of(await manager("abbrechen"))
    assert "Bisher" not in text_of(await manager("Termine sind wichtig"))  # a question again, not an answer
    await manager("/impuls neu")
    await manager("Zweiter Impuls\nText.")
    await manager("Eva Expertin")
    await manager("jetzt")
    assert "an 3 Chat(s) unterwegs" in text_of(await manager("/impuls neu veroeffentlichen", button=True))


async def test_html_and_emoji_in_a_contribution_are_shown_as_written_and_huge_ones_are_refused(
    any_ctx: AppContext,
) -> None:
    telegram, _matrix, worker, posts = await post(any_ctx)
    await say(
        any_ctx, GROUP, ANNA, '<a href="x">Klick</a> & <script>🎉', "g1", **reply_to(GROUP, posts[GROUP.id])
    )
    await worker.drain_once()
    copy = telegram.to(DISCUSSION)[-1][0]
    assert "&lt;script&gt;" in copy.html and "<a" not in copy.html
    assert copy.plain == '💬 Anna Schmidt (Telegram): <a href="x">Klick</a> & <script>🎉'
    answer = await say(any_ctx, GROUP, ANNA, "x" * 2001, "g2", **reply_to(GROUP, posts[GROUP.id]))
    assert "2.000" in text_of(answer) or "2000" in text_of(answer)
    assert await say(any_ctx, GROUP, ANNA, "   ", "g3", **reply_to(GROUP, posts[GROUP.id])) == []
    assert (await any_ctx.discussion.summary(SLUG, latest=3))[0] == 1
