"""Routes an Incoming to the handler that answers it; decides what is addressed to the bot; catches errors.

Commands are declared once with German and English names; a command may also answer a reaction on a
message about its subject (`reaction="✅"` on "event:<slug>" runs `/anmelden <slug>`), and a handler may be
declared for replies to messages about a subject (`@router.reply_to("impulse")`), for edits
(`@router.edit_of`) and deletions (`@router.deletion_of`) of messages about a subject. A message in the thread
of a message about a subject counts as a reply to it where a reply handler for that subject exists. The
subject of a message is looked up in the sent-messages log (through aliases, such as Telegram's automatic
forward of a channel post), the same on every platform.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

from bot.access import MANAGER_PRIVATE, OPEN, Access, Flood, FloodGate, Verdict, decide, private_chat
from bot.chat import ChatRef, Incoming, Kind, MessageRef, Person, Reply, emoji_key, split_subject
from bot.clock import Clock
from bot.config import Settings
from bot.db.models import Role
from bot.render import Renderer
from bot.services.catalog import EventView
from bot.services.dialogues import Dialogues
from bot.services.items import ItemRef
from bot.services.languages import Languages
from bot.services.messages import SentMessages
from bot.services.questions import Intent
from bot.text import MAX_INPUT_CHARS, clean_input, fold, tokens

logger = logging.getLogger(__name__)

# "/name args", "!name args" and Telegram's "/name@botname args".
_COMMAND = re.compile(r"^[/!]([^\s@/!][^\s@]*)(?:@\S*)?(?:\s+(.*))?$", flags=re.S)


class RoleLookup(Protocol):
    async def role_of(self, key: str) -> Role: ...


class ConsentLookup(Protocol):
    async def consented(self, person: Person) -> bool: ...


class RouterContext(Protocol):
    """What the router itself needs of the application context."""

    settings: Settings
    renderer: Renderer
    messages: SentMessages
    clock: Clock
    dialogues: Dialogues
    languages: Languages | None

    @property
    def roles(self) -> RoleLookup: ...

    @property
    def registrations(self) -> ConsentLookup: ...

    def chat_link(self, platform: str, payload: str = "") -> str | None: ...


C = TypeVar("C", bound=RouterContext)


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler gets: the cleaned text, the command's arguments, the reply language, the subject."""

    incoming: Incoming
    text: str
    args: str
    lang: str
    command: str | None = None
    # What the message replies or reacts to, e.g. "impulse:<slug>" (None when not known).
    subject: str | None = None
    # The sender's role (looked up for commands only; free text is answered alike for everyone).
    role: Role = Role.MEMBER

    @property
    def sender(self) -> Person:
        return self.incoming.sender

    @property
    def chat(self) -> ChatRef:
        return self.incoming.chat


@dataclass(frozen=True, slots=True)
class Response:
    """The replies to one Incoming, with what it was understood as (and the events that answer it)."""

    replies: list[Reply]
    intent: Intent = Intent.COMMAND
    events: tuple[EventView, ...] = ()
    items: tuple[ItemRef, ...] = ()


HandlerResult = list[Reply] | Response
Handler = Callable[[Request, C], Awaitable[HandlerResult]]
# A decorated handler keeps its own signature (a command may call another one directly).
F = TypeVar("F", bound=Callable[..., Awaitable[HandlerResult]])


@dataclass(frozen=True, slots=True)
class Command(Generic[C]):
    de: tuple[str, ...]
    en: tuple[str, ...]
    func: Handler[C]
    help_de: str
    help_en: str
    # Whether the bare word starts the command in free text ("anmelden Thinius").
    as_word: bool = False
    # With as_word: at most this many words may follow, so "Meine Frage ist ..." stays a question.
    word_max_args: int = 99
    hidden: bool = False
    # A reaction with this emoji on a message about "<reaction_on>:<id>" runs the command with the id.
    reaction: str | None = None
    reaction_on: str = "event"
    # Who may run it and where; `access_for` decides per request for commands whose sub-commands differ.
    access: Access = OPEN
    access_for: Callable[[Request], Access] | None = None
    # Names in no language, for button actions ("/rsvp <slug>"): they never decide the reply's language.
    neutral: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.de[0]

    @property
    def managers_only(self) -> bool:
        return self.access.role is not Role.MEMBER

    def needs(self, request: Request) -> Access:
        return self.access_for(request) if self.access_for is not None else self.access

    def allowed(self, role: Role) -> bool:
        """Whether `role` may run the command at all (what help and menus show)."""
        return role.covers(self.access.role)


@dataclass
class Router(Generic[C]):
    commands: list[Command[C]] = field(default_factory=list)
    _by_name: dict[str, tuple[Command[C], str]] = field(default_factory=dict)
    _by_reaction: dict[tuple[str, str], Command[C]] = field(default_factory=dict)
    _on_reply: dict[str, Handler[C]] = field(default_factory=dict)
    _on_edit: dict[str, Handler[C]] = field(default_factory=dict)
    _on_delete: dict[str, Handler[C]] = field(default_factory=dict)
    _on_dialogue: dict[str, Handler[C]] = field(default_factory=dict)
    _on_membership: Handler[C] | None = None
    _fallback: Handler[C] | None = None
    flood: FloodGate = field(default_factory=FloodGate)

    def command(
        self,
        de: str | tuple[str, ...],
        en: str | tuple[str, ...],
        *,
        help: tuple[str, str] = ("", ""),
        as_word: bool = False,
        word_max_args: int = 99,
        managers_only: bool = False,
        hidden: bool = False,
        reaction: str | None = None,
        reaction_on: str = "event",
        role: Role = Role.MEMBER,
        private: bool = False,
        access: Callable[[Request], Access] | None = None,
        neutral: str | tuple[str, ...] = (),
    ) -> Callable[[F], F]:
        """Register `func` under German and English names, e.g. ("anmelden", "register").

        `role` and `private` say who may run it and where (`managers_only` is short for a manager's
        private command); `access` decides per request instead, from the arguments.
        """
        de_names = (de,) if isinstance(de, str) else de
        en_names = (en,) if isinstance(en, str) else en
        needed = MANAGER_PRIVATE if managers_only and role is Role.MEMBER else Access(role, private=private)

        def decorate(func: F) -> F:
            self._add(
                Command(
                    de_names,
                    en_names,
                    func,
                    help[0],
                    help[1],
                    as_word,
                    word_max_args,
                    hidden,
                    reaction,
                    reaction_on,
                    needed,
                    access,
                    (neutral,) if isinstance(neutral, str) else neutral,
                )
            )
            return func

        return decorate

    def _add(self, cmd: Command[C]) -> None:
        self.commands.append(cmd)
        for name in cmd.de:
            self._by_name[name] = (cmd, "any" if name in cmd.en else "de")
        for name in cmd.en:
            self._by_name.setdefault(name, (cmd, "en"))
        for name in cmd.neutral:
            self._by_name.setdefault(name, (cmd, "any"))
        if cmd.reaction:
            self._by_reaction[(emoji_key(cmd.reaction), cmd.reaction_on)] = cmd

    def reply_to(self, subject_kind: str) -> Callable[[F], F]:
        """Register the handler for replies to our messages about "<subject_kind>:<id>"."""

        def decorate(func: F) -> F:
            self._on_reply[subject_kind] = func
            return func

        return decorate

    def edit_of(self, subject_kind: str) -> Callable[[F], F]:
        """Register the handler for a person's edit of a message about "<subject_kind>:<id>" (kind EDIT)."""

        def decorate(func: F) -> F:
            self._on_edit[subject_kind] = func
            return func

        return decorate

    def deletion_of(self, subject_kind: str) -> Callable[[F], F]:
        """Register the handler for the removal of a message about "<subject_kind>:<id>" (kind DELETE)."""

        def decorate(func: F) -> F:
            self._on_delete[subject_kind] = func
            return func

        return decorate

    def dialogue(self, name: str) -> Callable[[F], F]:
        """Register the handler for free text in a private chat while its dialogue `name` is open
        (commands still run as commands)."""

        def decorate(func: F) -> F:
            self._on_dialogue[name] = func
            return func

        return decorate

    def membership(self, func: F) -> F:
        """Register the handler for the bot being added to or removed from a chat (kinds JOINED, LEFT)."""
        self._on_membership = func
        return func

    def text(self, func: F) -> F:
        """Register the handler for free text (questions)."""
        self._fallback = func
        return func

    def include(self, other: Router[C]) -> None:
        """Take over what a handler module's router declared."""
        for cmd in other.commands:
            self._add(cmd)
        self._on_reply.update(other._on_reply)
        self._on_edit.update(other._on_edit)
        self._on_delete.update(other._on_delete)
        self._on_dialogue.update(other._on_dialogue)
        if other._on_membership is not None:
            self._on_membership = other._on_membership
        if other._fallback is not None:
            self._fallback = other._fallback

    def visible_commands(self, role: Role | None = None) -> list[Command[C]]:
        """The commands shown in help and menus (only those `role` may run, when given)."""
        return [c for c in self.commands if not c.hidden and (role is None or c.allowed(role))]

    def is_command(self, text: str) -> bool:
        """Whether `text` starts with one of our commands ("/termine", "!hilfe")."""
        match = _COMMAND.match(text)
        return match is not None and fold(match.group(1)) in self._by_name

    async def dispatch(self, incoming: Incoming, ctx: C) -> list[Reply]:
        """Answer one Incoming with replies (never raises, never sends)."""
        return (await self.answer(incoming, ctx)).replies

    async def answer(self, incoming: Incoming, ctx: C) -> Response:
        """Answer one Incoming; what is not meant for the bot gets no replies, errors a polite message."""
        if incoming.kind in (Kind.EDIT, Kind.DELETE):
            response = await self._answer_change(incoming, ctx)
        else:
            response = await self._answer(incoming, ctx)
        return await self._unrecorded(incoming, response, ctx)

    async def _unrecorded(self, incoming: Incoming, response: Response, ctx: C) -> Response:
        """Answers in the private chat of someone who has not agreed to be stored carry no subject, so
        the sent-messages log keeps no row about them (the console's person is the operator)."""
        mine = private_chat(incoming)
        ours = [
            r
            for r in response.replies
            if r.subject and (r.to == mine or (r.to is None and incoming.chat.is_private))
        ]
        if not ours or incoming.sender.platform == "console":
            return response
        try:
            if await ctx.registrations.consented(incoming.sender):
                return response
        except Exception:
            logger.exception("could not look up consent; the answer's subject is not recorded")
        stripped = [dataclasses.replace(r, subject=None) if r in ours else r for r in response.replies]
        return dataclasses.replace(response, replies=stripped)

    async def _answer(self, incoming: Incoming, ctx: C) -> Response:
        text = clean_input(incoming.text)
        subject = await self._subject_of(incoming, ctx)
        if subject is None:
            incoming, subject = await self._in_thread(incoming, ctx)
        if not self._addressed(incoming, text, subject):
            return Response([], Intent.IGNORED)
        flood = self.flood.check(incoming, ctx.settings.flood_per_minute)
        if flood is not Flood.OK:
            # Nothing is looked up or written for a flood; one notice, then silence for the minute.
            lang = detect_language(text, incoming.sender, ctx.settings.language)
            notice = [Reply(ctx.renderer.render("flood", lang))] if flood is Flood.NOTICE else []
            return Response(notice, Intent.IGNORED)
        lang, settled = await _language(incoming, text, ctx)
        if len(text) > MAX_INPUT_CHARS:
            return _reply(ctx, Intent.TOO_LONG, "too_long", lang, limit=MAX_INPUT_CHARS)
        # In an open dialogue every line that is not one of our commands is an answer to it.
        in_dialogue = None if self.is_command(text) else self._in_dialogue(incoming, ctx)
        request, handler, cmd = (
            (Request(incoming, text, text, lang, None, subject), in_dialogue, None)
            if in_dialogue is not None
            else self._resolve(incoming, text, lang, subject)
        )
        if settled and request.lang != lang:
            # A known language wins over a command's name ("/anmelden" pressed by an English speaker).
            request = replace(request, lang=lang)
        try:
            if handler is None:
                if incoming.kind in (Kind.REACTION, Kind.JOINED, Kind.LEFT):
                    return Response([], Intent.IGNORED)
                return _reply(
                    ctx,
                    Intent.UNKNOWN,
                    "unknown_command",
                    lang,
                    command=request.command,
                    commands=self.visible_commands(Role.MEMBER),
                )
            if cmd is not None:
                return await self._authorised(cmd, request, ctx)
            result = await handler(request, ctx)
        except Exception:
            logger.exception(
                "handler failed: platform=%s chat=%s command=%s",
                incoming.chat.platform,
                incoming.chat.id,
                request.command,
            )
            return _reply(ctx, Intent.ERROR, "error", request.lang)
        return result if isinstance(result, Response) else Response(result)

    async def _authorised(self, cmd: Command[C], request: Request, ctx: C) -> Response:
        """Run a command through the access filter chain: refused, moved to the private chat, or run."""
        request = dataclasses.replace(request, role=await ctx.roles.role_of(request.sender.key))
        needed = cmd.needs(request)
        verdict = decide(needed, request.role, request.incoming)
        if verdict is Verdict.REFUSE:
            template = "admins_only" if needed.role is Role.ADMIN else "managers_only"
            return _reply(ctx, Intent.COMMAND, template, request.lang)
        if verdict is Verdict.RUN:
            return _response(await cmd.func(request, ctx))
        # Asked in a group: the group sees a notice, the answer goes to the sender's private chat.
        private = private_chat(request.incoming)
        moved = dataclasses.replace(request, incoming=dataclasses.replace(request.incoming, chat=private))
        response = _response(await cmd.func(moved, ctx))
        link = ctx.chat_link(private.platform)
        notice = Reply(ctx.renderer.render("private_only", request.lang, link=link))
        answers = [dataclasses.replace(r, to=r.to or private, edit=False) for r in response.replies]
        return dataclasses.replace(response, replies=[notice, *answers])

    def _in_dialogue(self, incoming: Incoming, ctx: C) -> Handler[C] | None:
        """The handler of the dialogue open in this private chat, if any."""
        if not incoming.chat.is_private or incoming.kind not in (Kind.MESSAGE, Kind.REPLY):
            return None
        dialogue = ctx.dialogues.get(incoming.chat.key, now=ctx.clock.now())
        return self._on_dialogue.get(dialogue.name) if dialogue is not None else None

    async def _answer_change(self, incoming: Incoming, ctx: C) -> Response:
        """An edit or deletion reaches only the handler for its message's subject; nothing else answers."""
        handlers = self._on_edit if incoming.kind is Kind.EDIT else self._on_delete
        subject = await _lookup(ctx, incoming.message)
        kind, _ = split_subject(subject)
        handler = handlers.get(kind or "")
        if handler is None:
            return Response([], Intent.IGNORED)
        text = clean_input(incoming.text)
        lang = detect_language(text, incoming.sender, ctx.settings.language)
        try:
            result = await handler(Request(incoming, text, text, lang, None, subject), ctx)
        except Exception:
            logger.exception(
                "%s handler failed: platform=%s chat=%s",
                incoming.kind,
                incoming.chat.platform,
                incoming.chat.id,
            )
            return Response([], Intent.ERROR)
        return result if isinstance(result, Response) else Response(result)

    async def _subject_of(self, incoming: Incoming, ctx: C) -> str | None:
        if incoming.kind not in (Kind.REPLY, Kind.REACTION):
            return None
        return await _lookup(ctx, incoming.reply_to)

    async def _in_thread(self, incoming: Incoming, ctx: C) -> tuple[Incoming, str | None]:
        """A message in the thread of a message about a subject with a reply handler is a reply to it."""
        ref = incoming.message
        if ref is None or ref.thread_id is None or incoming.kind not in (Kind.MESSAGE, Kind.REPLY):
            return incoming, None
        root = MessageRef(incoming.chat, ref.thread_id)
        subject = await _lookup(ctx, root)
        kind, _ = split_subject(subject)
        if kind not in self._on_reply:
            return incoming, None
        return replace(incoming, kind=Kind.REPLY, reply_to=root), subject

    def _addressed(self, incoming: Incoming, text: str, subject: str | None) -> bool:
        """Private chats: always. Groups: buttons, mentions, replies to us, and our own commands."""
        if incoming.chat.is_private or incoming.mentioned or incoming.kind in _ALWAYS_ADDRESSED:
            return True
        replied = incoming.reply_to
        if replied is not None and (replied.from_bot or subject is not None):
            return True
        return self.is_command(text)

    def _resolve(
        self, incoming: Incoming, text: str, lang: str, subject: str | None
    ) -> tuple[Request, Handler[C] | None, Command[C] | None]:
        if incoming.kind is Kind.REACTION:
            return self._resolve_reaction(incoming, text, lang, subject)
        if incoming.kind in (Kind.JOINED, Kind.LEFT):
            return Request(incoming, text, text, lang), self._on_membership, None
        match = _COMMAND.match(text)
        if match:
            name, args = fold(match.group(1)), (match.group(2) or "").strip()
            found = self._by_name.get(name)
            if found is None:
                return Request(incoming, text, args, lang, match.group(1)[:40], subject), None, None
            cmd, name_lang = found
            return Request(incoming, text, args, _pick(name_lang, lang), name, subject), cmd.func, cmd
        kind, _ = split_subject(subject)
        if incoming.kind is Kind.REPLY and kind in self._on_reply:
            return Request(incoming, text, text, lang, None, subject), self._on_reply[kind], None
        words = text.split(maxsplit=1)
        if words:
            name = fold(words[0]).strip(".,:!?")
            found = self._by_name.get(name)
            args = words[1].strip() if len(words) > 1 else ""
            if found is not None and found[0].as_word and len(args.split()) <= found[0].word_max_args:
                cmd, name_lang = found
                return Request(incoming, text, args, _pick(name_lang, lang), name, subject), cmd.func, cmd
        return Request(incoming, text, text, lang, None, subject), self._fallback, None

    def _resolve_reaction(
        self, incoming: Incoming, emoji: str, lang: str, subject: str | None
    ) -> tuple[Request, Handler[C] | None, Command[C] | None]:
        kind, subject_id = split_subject(subject)
        cmd = self._by_reaction.get((emoji_key(emoji), kind or ""))
        if cmd is None or not subject_id:
            return Request(incoming, emoji, "", lang, None, subject), None, None
        return (
            Request(incoming, f"/{cmd.name} {subject_id}", subject_id, lang, cmd.name, subject),
            cmd.func,
            cmd,
        )


async def _lookup(ctx: RouterContext, ref: MessageRef | None) -> str | None:
    """What the message is about (None when unknown or the log cannot be read)."""
    if ref is None:
        return None
    try:
        return await ctx.messages.subject_of(ref.chat, ref.message_id)
    except Exception:
        logger.exception("could not look up what message %s in %s is about", ref.message_id, ref.chat.key)
        return None


# Presses and reactions act on the bot's own messages; membership changes concern the bot itself.
_ALWAYS_ADDRESSED = frozenset({Kind.BUTTON, Kind.REACTION, Kind.JOINED, Kind.LEFT})


def _response(result: HandlerResult) -> Response:
    return result if isinstance(result, Response) else Response(result)


def _reply(ctx: RouterContext, intent: Intent, template: str, lang: str, **values: object) -> Response:
    return Response([Reply(ctx.renderer.render(template, lang, **values))], intent)


_ENGLISH = frozenset(
    "the what when is are there any anything next events event register how does do speak "
    "about on which who where can i my me please show list cancel today tomorrow week month "
    "time start starts upcoming of for in this".split()
)
_GERMAN = frozenset(
    "der die das ist gibt es wann was naechste naechsten uebernaechste heute morgen ich wie am "
    "mich meine termine anmelden abmelden zum zur zu etwas welche veranstaltung veranstaltungen "
    "woche monat uhr bitte und mit spricht laeuft kann im ein eine einen".split()
)


async def _language(incoming: Incoming, text: str, ctx: RouterContext) -> tuple[str, bool]:
    """The reply language, and whether it is settled (known for the person, or the press of a button)."""
    if ctx.languages is None or len(text) > MAX_INPUT_CHARS:
        # A command's name says nothing about the language of the words after it.
        return detect_language(re.sub(r"^[/!]\S+", "", text), incoming.sender, ctx.settings.language), False
    lang = await ctx.languages.settle(incoming, text)
    neutral = incoming.kind in (Kind.BUTTON, Kind.REACTION)
    return lang, neutral or ctx.languages.knows(incoming.sender)


def _pick(name_language: str, detected: str) -> str:
    """The language a command name implies; names shared by both languages follow the text."""
    return detected if name_language == "any" else name_language


def detect_language(text: str, sender: Person, default: str) -> str:
    """German or English, from the words used; the platform's hint and the default break ties."""
    words = tokens(text)
    english = sum(1 for w in words if w in _ENGLISH)
    german = sum(1 for w in words if w in _GERMAN)
    if english > german:
        return "en"
    if german > english:
        return "de"
    hint = (sender.language or "").lower()
    if hint.startswith("en"):
        return "en"
    if hint.startswith("de"):
        return "de"
    return default
