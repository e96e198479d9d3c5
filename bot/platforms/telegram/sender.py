"""The one way out to Telegram: paced, split into valid chunks, retried, and honest about blocked users."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.chat import Attachment, Button, ChatRef, Reply
from bot.delivery import Rejected, TemporaryFailure, Unreachable
from bot.metrics import FLOOD_WAIT_SECONDS, FLOOD_WAITS
from bot.platforms.telegram.html import MAX_CAPTION, sanitize, split_html, visible_length
from bot.platforms.telegram.limits import ChatState, Pacer, SendLimits
from bot.text import html_to_plain

logger = logging.getLogger(__name__)

MAX_CALLBACK_DATA = 64
SEND_MESSAGE = "sendmessage"  # the Bot API's sendMessage (method names are case-insensitive)
GONE = (
    "chat not found",
    "user is deactivated",
    "bot was kicked",
    "have no rights to send",
    "not enough rights",
    "peer_id_invalid",
    "chat_write_forbidden",
)


def _is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest | RetryAfter)


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta; we accept both
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _message_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any] | None:
    """Inline keyboard (Bot API JSON) for Reply.buttons: actions become callback data, addresses links."""
    built: list[list[dict[str, str]]] = []
    for row in rows:
        buttons: list[dict[str, str]] = []
        for button in row:
            if button.action.startswith(("https://", "http://", "tg://")):
                buttons.append({"text": button.label, "url": button.action})
            elif 1 <= len(button.action.encode("utf-8")) <= MAX_CALLBACK_DATA:
                buttons.append({"text": button.label, "callback_data": button.action})
            else:
                logger.warning("button %r left out: its action exceeds Telegram's 64 bytes", button.label)
        if buttons:
            built.append(buttons)
    return {"inline_keyboard": built} if built else None


class TelegramSender:
    """Sends replies within Telegram's limits; 429 pauses only the chat it concerns."""

    def __init__(
        self,
        bot: Bot,
        limits: SendLimits,
        *,
        on_unreachable: Callable[[ChatRef], Awaitable[None]],
        network_attempts: int = 5,
        max_flood_waits: int = 5,
        max_flood_wait: float = 120.0,
    ) -> None:
        self.bot = bot
        self.pacer = Pacer(limits)
        self.on_unreachable = on_unreachable
        self.network_attempts = network_attempts
        self.max_flood_waits = max_flood_waits
        self.max_flood_wait = max_flood_wait
        self.flood_waits = 0  # 429s seen, for logs and benchmarks
        self.migrated: dict[int | str, int] = {}  # group id -> supergroup id, as Telegram told us

    async def deliver(self, chat: ChatRef, reply: Reply, *, edit_message_id: int | None = None) -> str | None:
        """Send (or edit into place) one reply; return the id of the message that carries its buttons."""
        chat_id: int | str = int(chat.id) if chat.id.lstrip("-").isdigit() else chat.id
        chat_id = self.migrated.get(chat_id, chat_id)
        try:
            try:
                return await self._deliver(chat, chat_id, reply, edit_message_id)
            except ChatMigrated as exc:
                # A group became a supergroup: Telegram names its new id; the old one no longer works.
                logger.warning(
                    "%s moved to telegram:%s (a group upgraded to a supergroup)", chat.key, exc.new_chat_id
                )
                self.migrated[chat_id] = exc.new_chat_id
                return await self._deliver(chat, exc.new_chat_id, reply, None)
        except BadRequest as exc:
            # Telegram will refuse this message however often it is sent; the recipient is fine.
            raise Rejected(f"Telegram refused the message: {exc}") from None

    async def _deliver(
        self, chat: ChatRef, chat_id: int | str, reply: Reply, edit_message_id: int | None
    ) -> str | None:
        state = self.pacer.chat(str(chat_id), is_private=chat.is_private)
        if reply.deletes is not None or reply.replaces is not None:
            return await self._change(state, chat, chat_id, reply)
        markup = keyboard(reply.buttons)
        attachment = reply.attachment
        caption: str | None = None
        if attachment is not None and visible_length(reply.html) <= MAX_CAPTION:
            caption, chunks = sanitize(reply.html), []
        else:
            chunks = split_html(reply.html)
        last: int | None = None
        async with state.lock:
            if edit_message_id is not None and len(chunks) == 1 and attachment is None:
                edited = await self._edit(state, chat, chat_id, edit_message_id, chunks[0], markup)
                if edited is not None:
                    return edited
            for index, chunk in enumerate(chunks):
                is_last = index == len(chunks) - 1 and attachment is None
                # An answer in a thread replies to its message (a comment thread: to the post's forward).
                answers = _message_id(reply.in_reply_to) if index == 0 else None
                try:
                    last = await self._send_text(
                        state, chat, chat_id, chunk, markup if is_last else None, reply_to=answers
                    )
                except TemporaryFailure as exc:
                    # The parts already sent stay sent: only the rest is handed back for later.
                    rest = replace(reply, html="\n\n".join(chunks[index:])) if index else None
                    raise TemporaryFailure(str(exc), retry_after=exc.retry_after, unsent=rest) from None
            if attachment is not None:
                try:
                    last = await self._send_document(state, chat, chat_id, caption, markup, attachment)
                except TemporaryFailure as exc:
                    rest = replace(reply, html="") if chunks else None
                    raise TemporaryFailure(str(exc), retry_after=exc.retry_after, unsent=rest) from None
        if last is None:
            logger.warning("nothing to send to %s: the reply was empty", chat.key)
            return None
        return str(last)

    async def _send_document(
        self,
        state: ChatState,
        chat: ChatRef,
        chat_id: int | str,
        caption: str | None,
        markup: dict[str, Any] | None,
        attachment: Attachment,
    ) -> int:
        document: Message = await self._call(
            state,
            chat,
            lambda: self.bot.send_document(
                chat_id,
                document=attachment.data,
                filename=attachment.filename,
                caption=caption or None,
                parse_mode=ParseMode.HTML if caption else None,
                reply_markup=self._markup(markup),
            ),
        )
        return document.message_id

    def _markup(self, markup: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
        return InlineKeyboardMarkup.de_json(markup, self.bot) if markup else None

    async def _send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        markup: dict[str, Any] | None,
        html: bool = True,
        reply_to: int | None = None,
    ) -> int:
        """sendMessage without turning Telegram's answer into a Message we would not read.

        `Bot.send_message` would build a `Message` (about 80 µs of CPU each, a fifth of a broadcast
        message's cost) only for us to read its id. `do_api_request` is PTB's public way to call a Bot API
        method by name; Bot API method names are case-insensitive, and the lowercase spelling keeps PTB
        from advising `Bot.sendMessage` on every call (see docs/telegram.md).
        """
        data: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if html:
            data["parse_mode"] = ParseMode.HTML.value
        if markup:
            data["reply_markup"] = markup
        if reply_to is not None:
            # The answered message may be gone meanwhile: the answer still goes out.
            data["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        result = await self.bot.do_api_request(SEND_MESSAGE, data)
        return int(result["message_id"])

    async def _send_text(
        self,
        state: ChatState,
        chat: ChatRef,
        chat_id: int | str,
        chunk: str,
        markup: dict[str, Any] | None,
        *,
        reply_to: int | None = None,
    ) -> int:
        try:
            message_id: int = await self._call(
                state, chat, lambda: self._send_message(chat_id, chunk, markup=markup, reply_to=reply_to)
            )
        except BadRequest as exc:
            if "parse entities" not in str(exc).lower():
                raise
            logger.error("Telegram rejected our HTML (%s); sending it as plain text", exc)
            message_id = await self._call(
                state,
                chat,
                lambda: self._send_message(
                    chat_id, html_to_plain(chunk), markup=markup, html=False, reply_to=reply_to
                ),
            )
        return message_id

    async def _change(self, state: ChatState, chat: ChatRef, chat_id: int | str, reply: Reply) -> str | None:
        """Edit or delete one of our messages (`Reply.replaces`, `Reply.deletes`).

        Telegram lets a bot delete its group messages only for 48 hours: after that the text is replaced
        by `reply.html` (e.g. "(Beitrag entfernt)"). A message that is gone already needs nothing more.
        """
        target = _message_id(reply.deletes or reply.replaces)
        if target is None:
            raise Rejected("not a Telegram message id")
        async with state.lock:
            if reply.deletes is not None:
                try:
                    await self._call(
                        state, chat, lambda: self.bot.delete_message(chat_id=chat_id, message_id=target)
                    )
                    return str(target)
                except BadRequest as exc:
                    if "to delete not found" in str(exc).lower():
                        return str(target)
                    if "can't be deleted" not in str(exc).lower() or not reply.html.strip():
                        raise
            chunk = split_html(reply.html)[0]
            edited = await self._edit(state, chat, chat_id, target, chunk, keyboard(reply.buttons))
            return edited or str(target)

    async def _edit(
        self,
        state: ChatState,
        chat: ChatRef,
        chat_id: int | str,
        message_id: int,
        chunk: str,
        markup: dict[str, Any] | None,
    ) -> str | None:
        """Edit the pressed message in place; None if it cannot be edited (then we send a new one)."""
        try:
            await self._call(
                state,
                chat,
                lambda: self.bot.edit_message_text(
                    chunk,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=self._markup(markup),
                ),
            )
        except BadRequest as exc:
            text = str(exc).lower()
            if "not modified" in text:
                return str(message_id)
            if "to edit not found" in text or "can't be edited" in text or "no text in the message" in text:
                return None
            raise
        return str(message_id)

    async def _call(self, state: ChatState, chat: ChatRef, request: Callable[[], Awaitable[Any]]) -> Any:
        """One Bot API request: paced, 429 honoured for this chat, network errors retried with backoff."""
        try:
            try:
                return await self._call_once(state, chat, request)
            except NetworkError as exc:
                if not _is_network_error(exc):
                    raise
                logger.info("network error talking to Telegram (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.1)
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_network_error),
                reraise=True,
                stop=stop_after_attempt(self.network_attempts - 1),
                wait=wait_exponential(multiplier=0.2, max=5.0),
            ):
                with attempt:
                    return await self._call_once(state, chat, request)
        except Forbidden as exc:
            await self._unreachable(chat, str(exc))
        except BadRequest as exc:
            if any(reason in str(exc).lower() for reason in GONE):
                await self._unreachable(chat, str(exc))
            raise
        except NetworkError as exc:
            raise TemporaryFailure(f"network error talking to Telegram: {type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_once(self, state: ChatState, chat: ChatRef, request: Callable[[], Awaitable[Any]]) -> Any:
        waits = 0
        while True:
            paused = self.pacer.paused_for(state)
            if paused > self.max_flood_wait:
                # Waiting here would hold the chat (and an outbox drain) for longer than we ever wait.
                raise TemporaryFailure("Telegram flood control", retry_after=paused)
            await self.pacer.slot(state)
            try:
                return await request()
            except RetryAfter as exc:
                seconds = _seconds(exc)
                self.flood_waits += 1
                FLOOD_WAITS.labels("telegram").inc()
                FLOOD_WAIT_SECONDS.labels("telegram").inc(seconds)
                waits += 1
                logger.info("Telegram asks to wait %.0f s before sending to %s again", seconds, chat.key)
                if waits > self.max_flood_waits or seconds > self.max_flood_wait:
                    self.pacer.pause(state, seconds)
                    raise TemporaryFailure("Telegram flood control", retry_after=seconds) from None
                self.pacer.pause(state, seconds)
                await asyncio.sleep(0)

    async def _unreachable(self, chat: ChatRef, reason: str) -> None:
        logger.info("%s cannot be reached on Telegram: %s", chat.key, reason)
        try:
            await self.on_unreachable(chat)
        except Exception:
            logger.exception("could not mark %s as unreachable", chat.key)
        raise Unreachable(reason)
