"""The application context handlers and jobs get, and the small ports platform adapters are built with."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

from bot.chat import ChatRef, Incoming, MessageRef, Reply
from bot.clock import Clock
from bot.config import Settings
from bot.db.models import Role
from bot.db.session import Database
from bot.delivery import Transport
from bot.metrics import ANSWER_SECONDS, UPDATES
from bot.render import Renderer
from bot.router import Response, Router
from bot.services.audit import AuditLog
from bot.services.calendar import CalendarFeeds
from bot.services.conversations import Conversations
from bot.services.dialogues import Dialogues
from bot.services.discussion import DiscussionService
from bot.services.events import EventService
from bot.services.languages import Languages
from bot.services.members import MemberService
from bot.services.messages import SentMessages, SubjectRecorder
from bot.services.outbox import Outbox
from bot.services.overview import OverviewService
from bot.services.pending import PendingQuestions
from bot.services.privacy import PrivacyService
from bot.services.registration import RegistrationService
from bot.services.roles import RoleService

logger = logging.getLogger(__name__)


# --- ports: what an adapter may use of the core -------------------------------------------------------

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


class SubjectLog(Protocol):
    """Records what a sent platform message is about (batched; never blocks the answer)."""

    def add(self, chat: ChatRef, message_id: str, subject: str) -> None: ...

    def alias(self, original: MessageRef, copy: MessageRef) -> None:
        """The platform copied one of our messages by itself (Telegram's automatic forward of a channel
        post into its discussion group); replies to the copy are about what the original is about."""


class Reachability(Protocol):
    """Whether pushes can reach a member: a blocked bot or a left chat stops them, until they return."""

    async def mark_unreachable(self, platform: str, user_id: str) -> None: ...

    async def mark_reachable(self, platform: str, user_id: str) -> None: ...


class Deferral(Protocol):
    """Hands an answer the platform refused for now to the durable outbox, to be delivered once, later."""

    async def defer(self, chat: ChatRef, reply: Reply, *, key: str, retry_after: float | None = None) -> None:
        """`retry_after`: seconds the platform asked to wait (a 429); the outbox tries no earlier."""


class Identity(Protocol):
    """Where adapters say who the bot is on their platform (Telegram's @username, Matrix's user id)."""

    def announce(self, platform: str, handle: str) -> None: ...


class Menus(Protocol):
    """Command menus per person: who has a role above member on a platform, and their role's commands."""

    async def role_menus(self, platform: str) -> dict[str, tuple[MenuEntry, ...]]:
        """User id -> that person's menu, for everyone on `platform` with a role above member."""

    def on_change(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call `callback` after roles changed (an invitation accepted, a role taken back)."""


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """One command for a client's command menu, in German and English."""

    de: str
    en: str
    help_de: str
    help_en: str


@dataclass(frozen=True)
class Ports:
    """Everything an adapter gets from the core: no services, no scheduler, no application object."""

    handle: Handle
    subjects: SubjectLog
    reachability: Reachability
    deferral: Deferral
    identity: Identity
    menus: Menus | None = None
    menu: tuple[MenuEntry, ...] = ()
    # Every command name (also hidden ones), e.g. to write "/hilfe" as "!hilfe" where "/" means the client.
    command_names: frozenset[str] = frozenset()


# --- the context ---------------------------------------------------------------------------------------


@dataclass
class AppContext:
    """Everything handlers and jobs need, passed explicitly."""

    settings: Settings
    clock: Clock
    db: Database
    renderer: Renderer
    router: Router[AppContext]
    events: EventService
    members: MemberService
    registrations: RegistrationService
    outbox: Outbox
    messages: SentMessages
    subjects: SubjectRecorder
    overview: OverviewService
    discussion: DiscussionService
    roles: RoleService
    privacy: PrivacyService
    audit: AuditLog
    demo_clock: bool = False
    transports: dict[str, Transport] = field(default_factory=dict)
    conversations: Conversations = field(default_factory=Conversations)
    dialogues: Dialogues = field(default_factory=Dialogues)
    # The yes/no question each person was asked last (a typed "ja" answers it).
    pending: PendingQuestions = field(default_factory=PendingQuestions)
    languages: Languages | None = None  # set by build_context; None: every message detects afresh
    # The bot's own name per platform, as its adapter announced it ("telegram" -> "stadtretter_bot").
    handles: dict[str, str] = field(default_factory=dict)

    @property
    def calendars(self) -> CalendarFeeds:
        """Members' private calendar feeds (stateless: made on use)."""
        return CalendarFeeds(self.db)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one message, press, reaction or reply (never raises, never sends)."""
        started = time.perf_counter()
        try:
            return await self.router.dispatch(incoming, self)
        finally:
            UPDATES.labels(incoming.chat.platform).inc()
            ANSWER_SECONDS.labels(incoming.chat.platform).observe(time.perf_counter() - started)

    async def answer(self, incoming: Incoming) -> Response:
        """Like `handle`, with the intent and the events the answer is about (for `stadtretter ask`)."""
        return await self.router.answer(incoming, self)

    def render(self, name: str, lang: str, **context: object) -> str:
        return self.renderer.render(name, lang, **context)

    async def mark_unreachable(self, platform: str, user_id: str) -> None:
        """A member blocked the bot: no more pushes, and no more weekly overview."""
        await self.members.mark_unreachable(platform, user_id, now=self.clock.now())
        await self.overview.remove(ChatRef(platform, user_id), now=self.clock.now())

    async def unreachable(self, chat: ChatRef) -> None:
        """A push could not be delivered for good: the member or chat stops receiving pushes."""
        if chat.is_private:
            await self.mark_unreachable(chat.platform, chat.id)
        else:
            await self.overview.remove(chat, now=self.clock.now())

    async def mark_reachable(self, platform: str, user_id: str) -> None:
        await self.members.mark_reachable(platform, user_id)

    def announce(self, platform: str, handle: str) -> None:
        self.handles[platform] = handle

    def telegram_link(self, payload: str) -> str | None:
        """A t.me link opening the bot's private chat with /start <payload> (None without Telegram)."""
        username = self.handles.get("telegram")
        return f"https://t.me/{username}?start={payload}" if username else None

    def chat_link(self, platform: str, payload: str = "") -> str | None:
        """A link that opens a private chat with the bot on `platform` (Telegram: with /start payload)."""
        handle = self.handles.get(platform)
        if handle is None:
            return None
        if platform == "telegram":
            return self.telegram_link(payload) if payload else f"https://t.me/{handle}"
        if platform == "matrix" and not payload:
            return f"https://matrix.to/#/{handle}"
        return None

    async def defer(self, chat: ChatRef, reply: Reply, *, key: str, retry_after: float | None = None) -> None:
        # The outbox carries text and buttons; a file is offered again by the command that made it.
        now = self.clock.now()
        await self.outbox.enqueue(
            key,
            chat,
            replace(reply, attachment=None, to=None, edit=False),
            now=now,
            not_before=now + timedelta(seconds=retry_after) if retry_after else None,
        )
        logger.info("answer to %s deferred to the outbox (%s)", chat.key, key)

    def menu_for(self, role: Role) -> tuple[MenuEntry, ...]:
        """The commands `role` may run, for a client's command menu."""
        return tuple(
            MenuEntry(c.de[0], c.en[0], c.help_de, c.help_en) for c in self.router.visible_commands(role)
        )

    async def role_menus(self, platform: str) -> dict[str, tuple[MenuEntry, ...]]:
        menus = {}
        for holder in await self.roles.holders():
            holder_platform, _, user = holder.key.partition(":")
            if holder_platform == platform:
                menus[user] = self.menu_for(holder.role)
        return menus

    def on_change(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.roles.listeners.append(callback)

    def ports(self) -> Ports:
        """The ports adapters are built with."""
        menu = self.menu_for(Role.MEMBER)
        names = frozenset(name for c in self.router.commands for name in (*c.de, *c.en))
        return Ports(
            handle=self.handle,
            subjects=self.subjects,
            reachability=self,
            deferral=self,
            identity=self,
            menus=self,
            menu=menu,
            command_names=names,
        )

    async def close(self) -> None:
        await self.subjects.stop()
        await self.db.dispose()
