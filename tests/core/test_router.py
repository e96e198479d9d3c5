"""The core's contract: what is addressed to the bot, replies to a subject, reactions, one answering path."""

from __future__ import annotations

import io

from bot.app import run_console
from bot.chat import ChatRef, Incoming, Kind, MessageRef, Reply, about
from bot.context import AppContext
from bot.platforms.console import ConsoleAdapter
from bot.router import Request, Response
from bot.services.questions import Intent
from tests.conftest import person, say, text_of

GROUP = ChatRef("telegram", "group-1", is_private=False)


def probe_handlers(ctx: AppContext) -> list[Request]:
    """A probe command whose answer is about "probe:1", and the one decorated reply handler for it."""
    seen: list[Request] = []

    @ctx.router.command("probe", "probe", hidden=True)
    async def probe(req: Request, ctx: AppContext) -> list[Reply]:
        return [Reply("Probe gestartet", subject=about("probe", "1"))]

    @ctx.router.reply_to("probe")
    async def probe_reply(req: Request, ctx: AppContext) -> list[Reply]:
        seen.append(req)
        return [Reply(f"Antwort auf {req.subject}: {req.text}")]

    return seen


async def record_subject(ctx: AppContext, chat: ChatRef, message_id: str, subject: str) -> None:
    ctx.subjects.add(chat, message_id, subject)
    await ctx.subjects.stop()  # writes what is queued


async def test_a_reply_to_our_message_about_a_subject_reaches_its_handler(ctx: AppContext) -> None:
    seen = probe_handlers(ctx)
    await record_subject(ctx, GROUP, "41", "probe:1")
    reply = Incoming(
        GROUP,
        person("anna"),
        "Ich finde das spannend",
        kind=Kind.REPLY,
        reply_to=MessageRef(GROUP, "41"),
    )
    assert text_of(await ctx.handle(reply)) == "Antwort auf probe:1: Ich finde das spannend"
    assert [(r.subject, r.text, r.sender.id) for r in seen] == [("probe:1", "Ich finde das spannend", "anna")]


async def test_a_reply_to_a_message_without_subject_is_a_question(ctx: AppContext) -> None:
    probe_handlers(ctx)
    chat = ChatRef("telegram", "anna")
    reply = Incoming(
        chat,
        person("anna"),
        "Wann ist der nächste Roundtable?",
        kind=Kind.REPLY,
        reply_to=MessageRef(chat, "7"),
    )
    assert "Roundtable" in text_of(await ctx.handle(reply))


async def test_the_core_decides_what_is_addressed_in_a_group(ctx: AppContext) -> None:
    async def group(text: str, **facts: object) -> list[Reply]:
        return await ctx.handle(Incoming(GROUP, person("anna"), text, **facts))  # type: ignore[arg-type]

    assert await group("Wann ist der nächste WebTalk?") == []
    assert await group("/unbekannt") == []  # not one of our commands: another bot's, or a typo
    assert await group("!hilfe")
    assert await group("Wann ist der nächste WebTalk?", mentioned=True)
    ours = MessageRef(GROUP, "99", from_bot=True)
    assert await group("und wann?", kind=Kind.REPLY, reply_to=ours)
    theirs = MessageRef(GROUP, "98")
    assert await group("und wann?", kind=Kind.REPLY, reply_to=theirs) == []
    await record_subject(ctx, GROUP, "97", about("event", "webtalk-groesste-zukunft"))
    assert await group("Worum geht es?", kind=Kind.REPLY, reply_to=MessageRef(GROUP, "97"))


async def test_a_reaction_on_a_message_about_an_event_runs_the_declared_command(ctx: AppContext) -> None:
    chat = ChatRef("matrix", "!dm:example.org")
    await record_subject(ctx, chat, "$card", about("event", "webtalk-groesste-zukunft"))

    async def react(emoji: str, message: str = "$card") -> list[Reply]:
        incoming = Incoming(
            chat,
            person("@anna:example.org", platform="matrix"),
            emoji,
            kind=Kind.REACTION,
            reply_to=MessageRef(chat, message),
        )
        return await ctx.handle(incoming)

    consent = await react("✅")
    assert "Einverstanden" in [b.label.split(" ", 1)[1] for r in consent for row in r.buttons for b in row]
    assert "Die größte Zukunft aller Zeiten" in text_of(await react("ℹ\ufe0f"))
    assert (await react("📅"))[0].attachment is not None
    assert await react("👍") == []  # no command declared for it
    assert await react("✅", message="$unknown") == []  # a message we know nothing about


async def test_ask_and_chat_share_one_answering_path(ctx: AppContext) -> None:
    chat = ChatRef("console", "ask-1")
    response = await ctx.answer(
        Incoming(chat, person("ask", platform="console"), "Wann ist der nächste WebTalk?")
    )
    assert isinstance(response, Response)
    assert response.intent is Intent.NEXT_EVENT
    assert [e.slug for e in response.events] == ["webtalk-vitale-standorte"]
    assert (await ctx.answer(Incoming(chat, person("ask"), "x" * 3000))).intent is Intent.TOO_LONG
    assert (await ctx.answer(Incoming(chat, person("ask"), "hilfe"))).intent is Intent.HELP
    assert (await ctx.answer(Incoming(chat, person("ask"), "/anmelden Thinius"))).intent is Intent.COMMAND


async def test_a_handler_error_is_answered_politely_with_the_error_intent(ctx: AppContext) -> None:
    @ctx.router.command("kaputt", "broken", hidden=True)
    async def broken(req: Request, ctx: AppContext) -> list[Reply]:
        raise RuntimeError("boom")

    response = await ctx.answer(Incoming(ChatRef("console", "x"), person("x"), "/kaputt"))
    assert response.intent is Intent.ERROR
    assert "boom" not in text_of(response.replies)
    assert await say(ctx, "/kaputt")


async def test_a_reply_on_the_console_reaches_the_reply_handler(ctx: AppContext) -> None:
    seen = probe_handlers(ctx)
    out = io.StringIO()
    stdin = io.StringIO("/probe\n^ Ein Gedanke dazu\nUnd noch eine Frage\n")
    assert await run_console(ctx, stdin=stdin, out=out) == 0
    printed = out.getvalue()
    assert "Antwort auf probe:1: Ein Gedanke dazu" in printed
    assert [r.text for r in seen] == ["Ein Gedanke dazu"]  # the plain line after it is a question again


async def test_console_input_that_only_looks_like_a_number_is_text(ctx: AppContext) -> None:
    adapter = ConsoleAdapter(ctx.ports(), downloads=ctx.settings.data_dir, out=io.StringIO())
    for line in ("²", "①", "9" * 5000, "٣"):
        incoming = adapter.to_incoming(line)
        assert incoming.kind is Kind.MESSAGE and incoming.text == line


async def test_adapters_announce_who_the_bot_is(ctx: AppContext) -> None:
    assert ctx.telegram_link("anmelden-x") is None
    ctx.ports().identity.announce("telegram", "stadtretter_bot")
    assert ctx.telegram_link("anmelden-x") == "https://t.me/stadtretter_bot?start=anmelden-x"


# --- edits, deletions, threads and platform copies ------------------------------------------------------


def change_handlers(ctx: AppContext) -> list[tuple[str, str | None, str]]:
    """Edit and deletion handlers for messages about "probe:<id>"; what they saw."""
    seen: list[tuple[str, str | None, str]] = []

    @ctx.router.edit_of("probe")
    async def probe_edited(req: Request, ctx: AppContext) -> list[Reply]:
        seen.append(("edit", req.subject, req.text))
        return []

    @ctx.router.deletion_of("probe")
    async def probe_deleted(req: Request, ctx: AppContext) -> list[Reply]:
        seen.append(("delete", req.subject, req.text))
        return []

    return seen


async def test_edits_and_deletions_reach_only_the_handler_for_their_subject(ctx: AppContext) -> None:
    seen = change_handlers(ctx)
    await record_subject(ctx, GROUP, "50", "probe:1")
    await record_subject(ctx, GROUP, "51", about("event", "webtalk-groesste-zukunft"))
    private = ChatRef("telegram", "anna")

    async def change(kind: Kind, chat: ChatRef, message_id: str, text: str = "") -> Response:
        return await ctx.answer(
            Incoming(chat, person("anna"), text, kind=kind, message=MessageRef(chat, message_id))
        )

    assert (await change(Kind.EDIT, GROUP, "50", "Neuer Text")).replies == []
    assert (await change(Kind.DELETE, GROUP, "50")).replies == []
    assert seen == [("edit", "probe:1", "Neuer Text"), ("delete", "probe:1", "")]
    # Edits of anything else are never answered: not as a question, not as a command, not in private.
    for chat, message_id, text in [
        (GROUP, "51", "Wann ist der nächste WebTalk?"),
        (private, "52", "/hilfe"),
        (private, "53", "Wann ist der nächste WebTalk?"),
    ]:
        for kind in (Kind.EDIT, Kind.DELETE):
            response = await change(kind, chat, message_id, text)
            assert (response.replies, response.intent) == ([], Intent.IGNORED)
    assert len(seen) == 2


async def test_a_message_in_a_thread_counts_as_a_reply_only_where_a_reply_handler_exists(
    ctx: AppContext,
) -> None:
    seen = probe_handlers(ctx)
    room = ChatRef("matrix", "!room:example.org", is_private=False)
    await record_subject(ctx, room, "$post", "probe:1")
    await record_subject(ctx, room, "$card", about("event", "webtalk-groesste-zukunft"))
    in_thread = Incoming(
        room, person("anna"), "Im Thread", message=MessageRef(room, "$m1", thread_id="$post")
    )
    assert text_of(await ctx.handle(in_thread)) == "Antwort auf probe:1: Im Thread"
    assert seen[0].incoming.reply_to == MessageRef(room, "$post")
    # A thread under an event card has no reply handler: the group message is not for the bot.
    other = Incoming(room, person("anna"), "Im Thread", message=MessageRef(room, "$m2", thread_id="$card"))
    assert await ctx.handle(other) == []
    assert len(seen) == 1


async def test_a_reply_to_a_platform_copy_is_about_the_original_even_if_the_copy_came_first(
    ctx: AppContext,
) -> None:
    seen = probe_handlers(ctx)
    channel = ChatRef("telegram", "-100channel", is_private=False, channel=True)
    discussion = ChatRef("telegram", "-100discussion", is_private=False)
    # Telegram forwards the channel post into the discussion group before the outbox records its subject.
    ctx.subjects.alias(MessageRef(channel, "7"), MessageRef(discussion, "70"))
    await ctx.subjects.stop()
    comment = Incoming(
        discussion, person("anna"), "Ein Kommentar", kind=Kind.REPLY, reply_to=MessageRef(discussion, "70")
    )
    assert await ctx.handle(comment) == []  # nothing known about the original yet
    await record_subject(ctx, channel, "7", "probe:1")
    assert text_of(await ctx.handle(comment)) == "Antwort auf probe:1: Ein Kommentar"
    assert await ctx.messages.copies_of(channel, "7") == [MessageRef(discussion, "70")]
    assert [r.subject for r in seen] == ["probe:1"]
