"""Routes an Incoming to the command or free-text handler that answers it; catches every handler error."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.chat import ChatRef, Incoming, Reply, Sender
from bot.services.textnorm import fold, tokens
from bot.text import MAX_INPUT_CHARS, clean_input

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

# "/name args", "!name args" and Telegram's "/name@botname args".
_COMMAND = re.compile(r"^[/!]([^\s@/!][^\s@]*)(?:@\S*)?(?:\s+(.*))?$", flags=re.S)


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler gets: the cleaned text, the command's arguments and the reply language."""

    incoming: Incoming
    text: str
    args: str
    lang: str
    command: str | None = None

    @property
    def sender(self) -> Sender:
        return self.incoming.sender

    @property
    def chat(self) -> ChatRef:
        return self.incoming.chat


Handler = Callable[[Request, "AppContext"], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Command:
    de: tuple[str, ...]
    en: tuple[str, ...]
    func: Handler
    help_de: str
    help_en: str
    # Whether the bare word starts the command in free text ("anmelden Thinius").
    as_word: bool = False
    # With as_word: at most this many words may follow, so "Meine Frage ist ..." stays a question.
    word_max_args: int = 99
    managers_only: bool = False
    hidden: bool = False

    @property
    def name(self) -> str:
        return self.de[0]


@dataclass
class Router:
    commands: list[Command] = field(default_factory=list)
    _by_name: dict[str, tuple[Command, str]] = field(default_factory=dict)
    _fallback: Handler | None = None

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
    ) -> Callable[[Handler], Handler]:
        """Register `func` under German and English names, e.g. ("anmelden", "register")."""
        de_names = (de,) if isinstance(de, str) else de
        en_names = (en,) if isinstance(en, str) else en

        def decorate(func: Handler) -> Handler:
            cmd = Command(
                de_names, en_names, func, help[0], help[1], as_word, word_max_args, managers_only, hidden
            )
            self.commands.append(cmd)
            for name in de_names:
                self._by_name[name] = (cmd, "any" if name in en_names else "de")
            for name in en_names:
                self._by_name.setdefault(name, (cmd, "en"))
            return func

        return decorate

    def include(self, other: Router) -> None:
        """Take over the commands (and free-text handler) declared in a handler module's router."""
        for cmd in other.commands:
            self.command(
                cmd.de,
                cmd.en,
                help=(cmd.help_de, cmd.help_en),
                as_word=cmd.as_word,
                word_max_args=cmd.word_max_args,
                managers_only=cmd.managers_only,
                hidden=cmd.hidden,
            )(cmd.func)
        if other._fallback is not None:
            self._fallback = other._fallback

    def text(self, func: Handler) -> Handler:
        """Register the handler for free text (questions)."""
        self._fallback = func
        return func

    def find(self, name: str) -> tuple[Command, str] | None:
        return self._by_name.get(fold(name))

    async def dispatch(self, incoming: Incoming, ctx: AppContext) -> list[Reply]:
        """Answer one Incoming; unaddressed group messages get nothing, errors a polite message."""
        if not incoming.chat.is_private and not incoming.addressed:
            return []
        text = clean_input(incoming.text)
        # A command's name says nothing about the language of the words after it.
        default_lang = detect_language(re.sub(r"^[/!]\S+", "", text), incoming.sender, ctx.settings.language)
        if len(text) > MAX_INPUT_CHARS:
            return [Reply(ctx.renderer.render("too_long", default_lang, limit=MAX_INPUT_CHARS))]
        request, handler = self._resolve(incoming, text, default_lang)
        try:
            if handler is None:
                return [
                    Reply(
                        ctx.renderer.render(
                            "unknown_command",
                            request.lang,
                            command=request.command,
                            commands=self.visible_commands(),
                        )
                    )
                ]
            if (
                request.command
                and self._by_name[request.command][0].managers_only
                and incoming.sender.key not in ctx.settings.managers
            ):
                return [Reply(ctx.renderer.render("managers_only", request.lang))]
            return await handler(request, ctx)
        except Exception:
            logger.exception(
                "handler failed: platform=%s chat=%s command=%s",
                incoming.chat.platform,
                incoming.chat.id,
                request.command,
            )
            return [Reply(ctx.renderer.render("error", request.lang))]

    def _resolve(self, incoming: Incoming, text: str, default_lang: str) -> tuple[Request, Handler | None]:
        match = _COMMAND.match(text)
        if match:
            name, args = fold(match.group(1)), (match.group(2) or "").strip()
            found = self._by_name.get(name)
            if found is None:
                return Request(incoming, text, args, default_lang, match.group(1)[:40]), None
            cmd, lang = found
            return Request(incoming, text, args, _pick(lang, default_lang), name), cmd.func
        words = text.split(maxsplit=1)
        if words:
            name = fold(words[0]).strip(".,:!?")
            found = self._by_name.get(name)
            args = words[1].strip() if len(words) > 1 else ""
            if found is not None and found[0].as_word and len(args.split()) <= found[0].word_max_args:
                cmd, lang = found
                return Request(incoming, text, args, _pick(lang, default_lang), name), cmd.func
        return Request(incoming, text, text, default_lang), self._fallback

    def visible_commands(self) -> list[Command]:
        return [c for c in self.commands if not c.hidden]


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


def _pick(name_language: str, detected: str) -> str:
    """The language a command name implies; names shared by both languages follow the text."""
    return detected if name_language == "any" else name_language


def detect_language(text: str, sender: Sender, default: str) -> str:
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
