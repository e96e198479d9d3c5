"""Telegram adapter: PTB updates in, neutral Incoming to the core, replies out through one sender."""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import BotCommand, ChatMemberUpdated, Message, Update
from telegram import User as TgUser
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.chat import ChatRef, Incoming, MessageRef, Platform, Reply, Sender
from bot.config import ConfigError, Settings
from bot.platforms.base import TemporaryFailure, Unreachable
from bot.platforms.telegram_limits import SendLimits
from bot.platforms.telegram_request import AiohttpRequest
from bot.platforms.telegram_sender import TelegramSender
from bot.platforms.telegram_updates import OnePerChat
from bot.services.messages import SubjectRecorder
from bot.text import clean_input

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
PLATFORM = Platform.TELEGRAM.value


def limits_from_settings(settings: Settings) -> SendLimits:
    """Sending limits from the BOT_TELEGRAM_RATE_* settings."""
    return SendLimits(per_second=settings.telegram_rate_per_second,
                      per_chat_per_second=settings.telegram_rate_per_chat,
                      group_per_minute=settings.telegram_rate_group_per_minute,
                      scale=settings.telegram_rate_scale)


class TelegramAdapter:
    """Serves members on Telegram: long polling (or a webhook), commands, buttons, deep links."""

    platform = PLATFORM

    def __init__(self, ctx: AppContext, *, limits: SendLimits | None = None,
                 concurrent_updates: int = 64) -> None:
        settings = ctx.settings
        if settings.telegram_token is None:
            raise ValueError("BOT_TELEGRAM_TOKEN is not set")
        self.ctx = ctx
        self._requests = (AiohttpRequest(connection_pool_size=128, pool_timeout=30.0),
                          AiohttpRequest(connection_pool_size=1))
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(OnePerChat(concurrent_updates))
            .request(self._requests[0])
            .get_updates_request(self._requests[1]))
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(self.application.bot, limits or limits_from_settings(settings),
                                     on_unreachable=self._mark_unreachable)
        self.bot_id = 0
        self.username = ""
        self._running = False
        self._initialized = False
        self._webhook_runner: web.AppRunner | None = None
        self._subjects = SubjectRecorder(ctx.messages, name="telegram-subjects")

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register the commands, and start polling or the webhook; return once running."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
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
        await self._set_commands()
        self._subjects.start()
        await app.start()
        settings = self.ctx.settings
        if settings.telegram_webhook_url:
            await self._start_webhook()
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=10, bootstrap_retries=3)
            logger.info("Telegram bot @%s polls for updates", self.username)
        self._running = True

    async def stop(self) -> None:
        """Stop receiving, let in-flight updates finish, close the connection."""
        if not self._initialized:
            return
        self._initialized = self._running = False
        app = self.application
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await self._subjects.stop()

    async def _start_webhook(self) -> None:
        """Receive updates on our own aiohttp endpoint (PTB's start_webhook would need tornado)."""
        settings = self.ctx.settings
        url = settings.telegram_webhook_url
        assert url is not None and settings.telegram_webhook_secret is not None
        app = web.Application()
        app.router.add_post("/" + urlsplit(url).path.lstrip("/"), self._on_webhook)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, settings.telegram_webhook_listen, settings.telegram_webhook_port).start()
        self._webhook_runner = runner
        await self.application.bot.set_webhook(
            url, secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES)
        logger.info("Telegram bot @%s receives updates by webhook on %s:%s", self.username,
                    settings.telegram_webhook_listen, settings.telegram_webhook_port)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        secret = self.ctx.settings.telegram_webhook_secret
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
        """Register the public commands in the client's menu, German by default and English for "en"."""
        commands_de: list[BotCommand] = []
        commands_en: list[BotCommand] = []
        for command in getattr(self.ctx.router, "commands", []):
            if command.hidden or command.managers_only:
                continue
            if command.help_de:
                commands_de.append(BotCommand(command.de[0], command.help_de[:256]))
            if command.help_en:
                commands_en.append(BotCommand(command.en[0], command.help_en[:256]))
        try:
            await self.application.bot.set_my_commands(commands_de)
            await self.application.bot.set_my_commands(commands_en, language_code="en")
        except TelegramError as exc:
            logger.warning("could not register the command menu: %s", exc)

    # --- receiving -------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_button(update)
            return
        if update.my_chat_member is not None:
            await self._on_membership(update.my_chat_member)
            return
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        incoming = self.to_incoming(message)
        if incoming is None:
            return
        await self._answer(incoming, edit_message_id=None)

    async def _on_membership(self, change: ChatMemberUpdated) -> None:
        """A member blocked or unblocked the bot (or it was added to or removed from a chat)."""
        status = change.new_chat_member.status
        if change.chat.type != ChatType.PRIVATE:
            logger.info("bot is now %s in %s %s", status, change.chat.type, change.chat.id)
            return
        user_id = str(change.chat.id)
        try:
            if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
                await self.ctx.members.mark_unreachable(PLATFORM, user_id, now=self.ctx.clock.now())
            elif status == ChatMemberStatus.MEMBER:
                await self.ctx.members.mark_reachable(PLATFORM, user_id)
        except Exception:
            logger.exception("could not record that telegram:%s %s the bot", user_id, status)

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
            logger.warning("ignored a button press by %s on a message in another private chat",
                           query.from_user.id)
            return
        incoming = Incoming(chat=chat, sender=_sender(query.from_user), text=clean_input(data),
                            is_button=True, addressed=True, message=_message_ref(chat, message), raw=update)
        # In groups the pressed message is everyone's: answer with a new message instead of editing it.
        await self._answer(incoming, edit_message_id=message.message_id if chat.is_private else None)

    def to_incoming(self, message: Message) -> Incoming | None:
        """Translate a text message; in groups mark whether it was meant for the bot and strip the @name."""
        text = message.text or message.caption
        if text is None or message.from_user is None:
            return None
        chat = _chat_ref(message)
        addressed = True
        if not chat.is_private:
            text, addressed = self._addressed(message, text)
        reply_to = message.reply_to_message
        return Incoming(chat=chat, sender=_sender(message.from_user), text=clean_input(text),
                        addressed=addressed,
                        message=_message_ref(chat, message),
                        reply_to=_message_ref(chat, reply_to) if reply_to is not None else None, raw=message)

    def _addressed(self, message: Message, text: str) -> tuple[str, bool]:
        """Whether a group message is for us (command, @mention, reply to us) and its text without @name."""
        mention = f"@{self.username}".lower()
        entities = message.entities or message.caption_entities or ()
        for entity in entities:
            if entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
                command = message.parse_entity(entity) if message.text else text[:entity.length]
                name, _, target = command.partition("@")
                if target and target.lower() != self.username.lower():
                    return text, False  # a command for another bot
                return name + text[len(command):], True
        mentioned = False
        for entity in entities:
            if entity.type == MessageEntityType.MENTION:
                found = message.parse_entity(entity) if message.text else ""
                if found.lower() == mention:
                    mentioned = True
        if mentioned:
            stripped = " ".join(part for part in text.split() if part.lower() != mention)
            return stripped, True
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == self.bot_id:
            return text, True
        return text, False

    async def _answer(self, incoming: Incoming, *, edit_message_id: int | None) -> None:
        replies = await self.ctx.handle(incoming)
        edit_used = False
        for reply in replies:
            chat = reply.to or incoming.chat
            if chat.platform != PLATFORM:
                logger.warning("a reply for %s reached the Telegram adapter; left out", chat.platform)
                continue
            edit_id = edit_message_id if reply.edit and reply.to is None and not edit_used else None
            edit_used = edit_used or edit_id is not None
            try:
                await self._send(chat, reply, edit_message_id=edit_id)
            except Unreachable:
                pass
            except (TemporaryFailure, TelegramError) as exc:
                logger.warning("reply to %s not delivered: %s", chat.key, exc)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("Telegram update could not be handled", exc_info=context.error)

    # --- sending ---------------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        """Deliver one reply for the outbox (which records the subject); raises Unreachable, TemporaryFailure.

        Other Bot API errors propagate; the outbox retries them with backoff and finally gives up.
        """
        return await self.sender.deliver(chat, reply)

    async def _send(self, chat: ChatRef, reply: Reply, *, edit_message_id: int | None) -> str | None:
        """Deliver a reply to a request and remember what the sent message is about."""
        message_id = await self.sender.deliver(chat, reply, edit_message_id=edit_message_id)
        if message_id is not None and reply.subject:
            self._subjects.add(chat, message_id, reply.subject)
        return message_id

    async def _mark_unreachable(self, chat: ChatRef) -> None:
        if chat.is_private:
            await self.ctx.members.mark_unreachable(PLATFORM, chat.id, now=self.ctx.clock.now())


def _sender(user: TgUser) -> Sender:
    return Sender(platform=PLATFORM, id=str(user.id), display_name=user.full_name,
                  language=user.language_code)


def _chat_ref(message: Message) -> ChatRef:
    private = message.chat.type == ChatType.PRIVATE
    return ChatRef(platform=PLATFORM, id=str(message.chat.id), is_private=private)


def _message_ref(chat: ChatRef, message: Message) -> MessageRef:
    thread = message.message_thread_id
    return MessageRef(chat=chat, message_id=str(message.message_id),
                      thread_id=str(thread) if thread is not None else None)
