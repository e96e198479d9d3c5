"""Telegram adapter: PTB updates in, neutral Incoming to the core, replies out through one sender.

The adapter reports facts (a mention, the message replied to and whether it is ours, a button press); the
core decides whether a group message is meant for the bot. It uses the core only through its `Ports`.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    MessageOriginChannel,
    Update,
)
from telegram import User as TgUser
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.chat import ChatRef, Incoming, Kind, MessageRef, Person, Platform, Reply
from bot.config import ConfigError, Settings
from bot.context import Ports
from bot.delivery import PlatformUnavailable, Rejected, TemporaryFailure, Unreachable
from bot.platforms.telegram.limits import SendLimits
from bot.platforms.telegram.request import AiohttpRequest
from bot.platforms.telegram.sender import TelegramSender
from bot.platforms.telegram.updates import OnePerChat
from bot.text import clean_input

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
PLATFORM = Platform.TELEGRAM.value
# Idempotency key of an answer handed to the outbox: chat, incoming message (or press), index of the reply.
ANSWER_KEY = "telegram-answer:{chat}:{request}:{index}"


def limits_from_settings(settings: Settings) -> SendLimits:
    """Sending limits from the BOT_TELEGRAM_RATE_* settings."""
    return SendLimits(
        per_second=settings.telegram_rate_per_second,
        per_chat_per_second=settings.telegram_rate_per_chat,
        group_per_minute=settings.telegram_rate_group_per_minute,
        scale=settings.telegram_rate_scale,
    )


class TelegramAdapter:
    """Serves members on Telegram: long polling (or a webhook), commands, buttons, deep links."""

    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        ports: Ports,
        *,
        limits: SendLimits | None = None,
        concurrent_updates: int = 64,
    ) -> None:
        if settings.telegram_token is None:
            raise ValueError("BOT_TELEGRAM_TOKEN is not set")
        self.settings = settings
        self.ports = ports
        self._requests = (
            AiohttpRequest(connection_pool_size=128, pool_timeout=30.0),
            AiohttpRequest(connection_pool_size=1),
        )
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(OnePerChat(concurrent_updates))
            .request(self._requests[0])
            .get_updates_request(self._requests[1])
        )
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(
            self.application.bot,
            limits or limits_from_settings(settings),
            on_unreachable=self._mark_unreachable,
        )
        self.bot_id = 0
        self.username = ""
        self._initialized = False
        # Private chats that got a role's command menu (taken back when the role ends).
        self._menu_chats: set[str] = set()
        self._webhook_runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register the commands, and start polling or the webhook; return once running."""
        try:
            await self._start()
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, NetworkError):  # also TimedOut: the Bot API is not reachable for now
                raise PlatformUnavailable(f"Telegram Bot API not reachable: {type(exc).__name__}") from None
            raise

    async def _start(self) -> None:
        app = self.application
        self._initialized = True
        try:
            await app.initialize()
        except BaseException as exc:
            # PTB shuts down only what it finished initialising; close our connections ourselves.
            for request in self._requests:
                await request.shutdown()
            if isinstance(exc, InvalidToken):
                # PTB's message would repeat the token; ours must not.
                raise ConfigError("BOT_TELEGRAM_TOKEN: Telegram rejected the token") from None
            raise
        me = app.bot.bot
        self.bot_id, self.username = me.id, me.username or ""
        self.ports.identity.announce(PLATFORM, self.username)
        await self._set_commands()
        if self.ports.menus is not None:
            await self.update_role_menus()
            self.ports.menus.on_change(self.update_role_menus)
        await app.start()
        if self.settings.telegram_webhook_url:
            await self._start_webhook()
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=10, bootstrap_retries=3)
            logger.info("Telegram bot @%s polls for updates", self.username)

    async def stop(self) -> None:
        """Stop receiving, let in-flight updates finish, close the connection."""
        if not self._initialized:
            return
        self._initialized = False
        app = self.application
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def _start_webhook(self) -> None:
        """Receive updates on our own aiohttp endpoint (PTB's start_webhook would need tornado)."""
        settings = self.settings
        url = settings.telegram_webhook_url
        assert url is not None and settings.telegram_webhook_secret is not None
        app = web.Application()
        app.router.add_post("/" + urlsplit(url).path.lstrip("/"), self._on_webhook)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, settings.telegram_webhook_listen, settings.telegram_webhook_port).start()
        self._webhook_runner = runner
        await self.application.bot.set_webhook(
            url,
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
        logger.info(
            "Telegram bot @%s receives updates by webhook on %s:%s",
            self.username,
            settings.telegram_webhook_listen,
            settings.telegram_webhook_port,
        )

    async def _on_webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.telegram_webhook_secret
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if secret is None or not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            logger.warning("webhook request without the right secret token from %s", request.remote)
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        if update is not None:
            await self.application.update_queue.put(update)
        return web.Response()

    async def _set_commands(self) -> None:
        """Register the core's command menu in the client, German by default and English for "en"."""
        menu = self.ports.menu
        commands_de = [BotCommand(entry.de, entry.help_de[:256]) for entry in menu if entry.help_de]
        commands_en = [BotCommand(entry.en, entry.help_en[:256]) for entry in menu if entry.help_en]
        try:
            await self.application.bot.set_my_commands(commands_de)
            await self.application.bot.set_my_commands(commands_en, language_code="en")
        except TelegramError as exc:
            logger.warning("could not register the command menu: %s", exc)

    async def update_role_menus(self) -> None:
        """Give managers and admins their role's menu in their private chat (a chat scope); an ended role
        gets the default menu back."""
        if self.ports.menus is None:
            return
        menus = await self.ports.menus.role_menus(PLATFORM)
        bot = self.application.bot
        for user_id, menu in menus.items():
            if not user_id.lstrip("-").isdigit():
                continue
            scope = BotCommandScopeChat(int(user_id))
            german = [BotCommand(e.de, e.help_de[:256]) for e in menu if e.help_de]
            english = [BotCommand(e.en, e.help_en[:256]) for e in menu if e.help_en]
            try:
                await bot.set_my_commands(german, scope=scope)
                await bot.set_my_commands(english, scope=scope, language_code="en")
                self._menu_chats.add(user_id)
            except TelegramError as exc:
                logger.warning("could not set the command menu of a role holder: %s", exc)
        for user_id in self._menu_chats - set(menus):
            scope = BotCommandScopeChat(int(user_id))
            try:
                await bot.delete_my_commands(scope=scope)
                await bot.delete_my_commands(scope=scope, language_code="en")
                self._menu_chats.discard(user_id)
            except TelegramError as exc:
                logger.warning("could not reset the command menu of a former role holder: %s", exc)

    # --- receiving -------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_button(update)
            return
        if update.my_chat_member is not None:
            await self._on_membership(update.my_chat_member, update.update_id)
            return
        if update.edited_message is not None:
            await self._on_edit(update.edited_message)
            return
        message = update.message
        if message is not None and message.is_automatic_forward:
            self._on_automatic_forward(message)
            return
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        incoming = self.to_incoming(message)
        if incoming is None:
            return
        await self._answer(incoming, str(message.message_id), edit_message_id=None)

    def _on_automatic_forward(self, message: Message) -> None:
        """Telegram copied a channel post into the channel's discussion group: comments reply to the copy."""
        origin = message.forward_origin
        if not isinstance(origin, MessageOriginChannel):
            return
        channel = ChatRef(PLATFORM, str(origin.chat.id), is_private=False, channel=True)
        self.ports.subjects.alias(
            MessageRef(channel, str(origin.message_id)),
            MessageRef(_chat_ref(message), str(message.message_id)),
        )

    async def _on_edit(self, message: Message) -> None:
        """A person changed a message: the core hands it to the handler for that message's subject, if any."""
        if message.from_user is None or message.from_user.is_bot:
            return
        incoming = self.to_incoming(message)
        if incoming is None:
            return
        edited = Incoming(
            incoming.chat,
            incoming.sender,
            incoming.text,
            kind=Kind.EDIT,
            message=incoming.message,
            raw=message,
        )
        stamp = int(message.edit_date.timestamp()) if message.edit_date else 0
        await self._answer(edited, f"edit-{message.message_id}-{stamp}", edit_message_id=None)

    async def _on_membership(self, change: ChatMemberUpdated, update_id: int) -> None:
        """A member blocked or unblocked the bot, or it was added to or removed from a group or channel."""
        status = change.new_chat_member.status
        if change.chat.type != ChatType.PRIVATE:
            await self._on_chat_membership(change, update_id)
            return
        user_id = str(change.chat.id)
        reachability = self.ports.reachability
        try:
            if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
                await reachability.mark_unreachable(PLATFORM, user_id)
            elif status == ChatMemberStatus.MEMBER:
                await reachability.mark_reachable(PLATFORM, user_id)
        except Exception:
            logger.exception("could not record that telegram:%s %s the bot", user_id, status)

    async def _on_chat_membership(self, change: ChatMemberUpdated, update_id: int) -> None:
        """The bot was added to or removed from a group or channel: the core decides what follows."""
        status = change.new_chat_member.status
        if status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER, ChatMemberStatus.OWNER):
            kind = Kind.JOINED
        elif status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            kind = Kind.LEFT
        else:
            return  # restricted: still in the chat, nothing changes for the core
        chat = ChatRef(
            PLATFORM, str(change.chat.id), is_private=False, channel=change.chat.type == ChatType.CHANNEL
        )
        logger.info("bot is now %s in %s %s", status, change.chat.type, change.chat.id)
        incoming = Incoming(chat, _person(change.from_user), change.chat.title or "", kind=kind, raw=change)
        await self._answer(incoming, f"member-{update_id}", edit_message_id=None)

    async def _on_button(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        try:
            await query.answer()
        except TelegramError as exc:
            logger.info("callback query could not be answered: %s", exc)
        message = query.message
        data = query.data or ""
        if not isinstance(message, Message) or not data.startswith(("/", "!")):
            return
        chat = _chat_ref(message)
        if chat.is_private and chat.id != str(query.from_user.id):
            # Telegram only lets the owner of a private chat press its buttons: this press is forged.
            logger.warning(
                "ignored a button press by %s on a message in another private chat", query.from_user.id
            )
            return
        incoming = Incoming(
            chat=chat,
            sender=_person(query.from_user),
            text=clean_input(data),
            kind=Kind.BUTTON,
            message=_message_ref(chat, message, from_bot=True),
            raw=update,
        )
        # In groups the pressed message is everyone's: answer with a new message instead of editing it.
        edit_id = message.message_id if chat.is_private else None
        # A press has no message of its own: the callback query's id names the request.
        await self._answer(incoming, f"press-{query.id}", edit_message_id=edit_id)

    def to_incoming(self, message: Message) -> Incoming | None:
        """Translate a text message into the facts the core decides on; None if it is not for us at all.

        `/cmd@ourbot` loses its `@ourbot`, an @mention of the bot is removed and reported as `mentioned`,
        a reply names the message replied to and whether the bot wrote it. A command for another bot
        (`/cmd@otherbot`) is not handed to the core.
        """
        text = message.text or message.caption
        if text is None or message.from_user is None:
            return None
        text = self._without_own_name(message, text)
        if text is None:
            return None
        text, mentioned = self._without_mention(message, text)
        chat = _chat_ref(message)
        replied = self._replied_to(chat, message)
        return Incoming(
            chat=chat,
            sender=_person(message.from_user),
            text=clean_input(text),
            kind=Kind.MESSAGE if replied is None else Kind.REPLY,
            mentioned=mentioned,
            message=_message_ref(chat, message),
            reply_to=replied,
            raw=message,
        )

    def _without_own_name(self, message: Message, text: str) -> str | None:
        """ "/cmd@ourbot args" -> "/cmd args"; None for a command addressed to another bot."""
        if not text.startswith("/") or "@" not in text.split(maxsplit=1)[0]:
            return text  # the common case, without parsing entities
        for entity in _entities(message):
            if entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
                command = _entity_text(message, entity)
                name, _, target = command.partition("@")
                if not target:
                    return text
                if target.lower() != self.username.lower():
                    return None
                return name + text[len(command) :]
        return text

    def _without_mention(self, message: Message, text: str) -> tuple[str, bool]:
        """The text without "@ourbot", and whether the bot was mentioned."""
        mention = f"@{self.username}".lower()
        if mention not in text.lower():
            return text, False
        mentioned = any(
            entity.type == MessageEntityType.MENTION and _entity_text(message, entity).lower() == mention
            for entity in _entities(message)
        )
        if not mentioned:
            return text, False
        return " ".join(part for part in text.split() if part.lower() != mention), True

    def _replied_to(self, chat: ChatRef, message: Message) -> MessageRef | None:
        """The message this one replies to, and whether the bot wrote it."""
        replied = message.reply_to_message
        if replied is None or replied.forum_topic_created is not None:
            # In a forum topic Telegram names the topic's first message as the replied-to one: no reply.
            return None
        author = replied.from_user
        return _message_ref(chat, replied, from_bot=author is not None and author.id == self.bot_id)

    async def _answer(self, incoming: Incoming, request: str, *, edit_message_id: int | None) -> None:
        """Send the core's replies to `request` (the incoming message's id, or a press); one Telegram
        refuses for now goes to the outbox, keyed so that it is delivered once."""
        replies = await self.ports.handle(incoming)
        edit_used = False
        for index, reply in enumerate(replies):
            chat = reply.to or incoming.chat
            if chat.platform != PLATFORM:
                logger.warning("a reply for %s reached the Telegram adapter; left out", chat.platform)
                continue
            edit_id = edit_message_id if reply.edit and reply.to is None and not edit_used else None
            edit_used = edit_used or edit_id is not None
            try:
                await self._send(chat, reply, edit_message_id=edit_id)
            except Unreachable:
                pass  # the sender marked the member; nothing to retry
            except TemporaryFailure as exc:
                key = ANSWER_KEY.format(chat=incoming.chat.id, request=request, index=index)
                await self._defer(chat, exc.unsent or reply, key, exc)
            except (Rejected, TelegramError) as exc:
                logger.warning("reply to %s not delivered: %s", chat.key, exc)

    async def _defer(self, chat: ChatRef, reply: Reply, key: str, exc: TemporaryFailure) -> None:
        """The sender gave up for now (a long 429, the network): the outbox delivers it once, later.

        `reply` is what is left to send: after a long answer's first parts went out, only the rest.
        """
        if not reply.html.strip():
            # Only a file was left: the outbox carries no files; the member asks again and gets it.
            logger.warning(
                "a file for %s was not delivered (%s); it is offered again on request", chat.key, exc
            )
            return
        logger.info("reply to %s not delivered now (%s); handing it to the outbox", chat.key, exc)
        try:
            await self.ports.deferral.defer(chat, reply, key=key, retry_after=exc.retry_after)
        except Exception:
            logger.exception("could not hand the reply to %s to the outbox; it is lost", chat.key)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("Telegram update could not be handled", exc_info=context.error)

    # --- sending ---------------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        """Deliver one reply for the outbox (which records the subject).

        Raises Unreachable (the member blocked the bot, the chat is gone), Rejected (Telegram refuses this
        message for good) or TemporaryFailure (a long 429, the network; with the unsent rest of a long
        text when its first parts went out).
        """
        return await self.sender.deliver(chat, reply)

    async def _send(self, chat: ChatRef, reply: Reply, *, edit_message_id: int | None) -> str | None:
        """Deliver a reply to a request and record what the sent message is about."""
        message_id = await self.sender.deliver(chat, reply, edit_message_id=edit_message_id)
        if message_id is not None and reply.subject:
            self.ports.subjects.add(chat, message_id, reply.subject)
        return message_id

    async def _mark_unreachable(self, chat: ChatRef) -> None:
        if chat.is_private:
            await self.ports.reachability.mark_unreachable(PLATFORM, chat.id)


def _person(user: TgUser) -> Person:
    return Person(
        platform=PLATFORM, id=str(user.id), display_name=user.full_name, language=user.language_code
    )


def _chat_ref(message: Message) -> ChatRef:
    private = message.chat.type == ChatType.PRIVATE
    return ChatRef(platform=PLATFORM, id=str(message.chat.id), is_private=private)


def _message_ref(chat: ChatRef, message: Message, *, from_bot: bool = False) -> MessageRef:
    thread = message.message_thread_id
    return MessageRef(
        chat=chat,
        message_id=str(message.message_id),
        thread_id=str(thread) if thread is not None else None,
        from_bot=from_bot,
    )


def _entities(message: Message) -> tuple[MessageEntity, ...]:
    return tuple(message.entities if message.text is not None else message.caption_entities)


def _entity_text(message: Message, entity: MessageEntity) -> str:
    """An entity's text (offsets count UTF-16 units; PTB's parse methods know that)."""
    if message.text is not None:
        return message.parse_entity(entity)
    return message.parse_caption_entity(entity)
