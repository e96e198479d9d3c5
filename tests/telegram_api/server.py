"""A Bot API test server: real Bot API JSON over HTTP on 127.0.0.1, scripted users, Telegram's limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.telegram_api.entities import EntityParseError, parse_html, utf16_len
from tests.telegram_api.limits import Bucket, Limits
from tests.telegram_api.model import CallbackQueryRecord, Chat, SentDocument, SentMessage, User

logger = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
    "chat_member",
    "message_reaction",
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
DELETE_WINDOW = 48 * 3600  # seconds a bot may delete its own message in a group or channel
RATE_LIMITED_METHODS = {"sendmessage", "senddocument", "editmessagetext", "editmessagereplymarkup"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class InjectedFailure:
    kind: str  # "429" | "disconnect" | "500"
    chat_id: int | None
    retry_after: int = 1
    method: str | None = None
    after: int = 0  # matching requests that still succeed before this failure strikes


@dataclass
class Stats:
    requests: int = 0
    sent: int = 0
    rate_limited: int = 0
    first_send: float | None = None
    last_send: float | None = None
    by_method: dict[str, int] = field(default_factory=dict)
    per_second: dict[int, int] = field(default_factory=dict)  # sends per whole second of time.monotonic()


class BotApiServer:
    """One bot's view of Telegram. Start it, point PTB's base_url at `base_url`, script users."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",
        bot_username: str = "stadtretter_test_bot",
        bot_name: str = "Stadtretter",
        limits: Limits | None = None,
        privacy_mode: bool = False,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.limits = limits or Limits()
        self.privacy_mode = privacy_mode
        self.webhook_retry_delay = webhook_retry_delay
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.stats = Stats()
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, params) in order, for assertions
        self.record_calls = True
        self.failures: list[InjectedFailure] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_000
        self._allowed_updates: list[str] | None = None
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()
        self._poller: asyncio.Future[None] | None = None
        self._user_ids = itertools.count(10_000_001)
        self._group_ids = itertools.count(1_000_000_001)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._global_bucket: Bucket | None = None
        self._chat_buckets: dict[int, Bucket] = {}
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0
        self._reset_buckets()

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/_control/stats", self._control_stats)
        app.router.add_route("POST", "/_control/{action}", self._control)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr,attr-defined]

    async def stop(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._poller and not self._poller.done():
            self._poller.cancel()
        if self._http:
            await self._http.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def set_limits(self, limits: Limits) -> None:
        self.limits = limits
        self._reset_buckets()

    def _reset_buckets(self) -> None:
        scale = self.limits.scale
        rate = self.limits.global_per_second * scale
        self._global_bucket = Bucket(rate=rate, capacity=rate)
        self._chat_buckets = {}

    # --- scripting API ---------------------------------------------------------------------------------

    def create_user(
        self,
        first_name: str = "Anna",
        *,
        username: str | None = None,
        language_code: str | None = "de",
        blocked: bool = False,
    ) -> User:
        user = User(self, next(self._user_ids), first_name, username, language_code, blocked)
        self.users[user.id] = user
        return user

    def private_chat(self, user: User) -> Chat:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = Chat(user.id, "private", title=user.first_name, username=user.username)
            self.chats[user.id] = chat
        return chat

    def create_group(
        self,
        title: str = "Stadtretter Runde",
        *,
        bot_is_admin: bool = False,
        bot_is_member: bool = True,
        basic: bool = False,
    ) -> Chat:
        """A supergroup (ids -100…), or with `basic` an old-style group (short negative id)."""
        number = next(self._group_ids)
        chat_id = -(number - 10**9 + 4_000_000) if basic else -(10**12 + number)
        chat = Chat(
            chat_id,
            "group" if basic else "supergroup",
            title=title,
            bot_is_admin=bot_is_admin,
            bot_is_member=bot_is_member,
        )
        self.chats[chat_id] = chat
        return chat

    def create_channel(
        self, title: str = "Stadtretter Kanal", *, username: str | None = None, bot_is_admin: bool = True
    ) -> Chat:
        chat_id = -(10**12 + next(self._group_ids))
        chat = Chat(
            chat_id,
            "channel",
            title=title,
            username=username,
            bot_is_admin=bot_is_admin,
            bot_is_member=bot_is_admin,
        )
        self.chats[chat_id] = chat
        return chat

    def upgrade_to_supergroup(self, group: Chat) -> Chat:
        """Turn a basic group into a supergroup with a new id, as Telegram does; the old id stops working."""
        new = self.create_group(
            group.title, bot_is_admin=group.bot_is_admin, bot_is_member=group.bot_is_member
        )
        group.migrated_to = new.id
        return new

    def inject_429(
        self,
        *,
        chat: Chat | int | None = None,
        count: int = 1,
        retry_after: int = 1,
        method: str | None = None,
    ) -> None:
        """Make the next `count` sends (to `chat`, or any) fail with 429 and this retry_after."""
        chat_id = chat.id if isinstance(chat, Chat) else chat
        self.failures.extend(InjectedFailure("429", chat_id, retry_after, method) for _ in range(count))

    def inject_disconnect(self, *, chat: Chat | int | None = None, count: int = 1, after: int = 0) -> None:
        """Drop the connection of the next `count` sends before they are processed (a network error);
        `after` sends still succeed first (e.g. the first part of a long answer)."""
        chat_id = chat.id if isinstance(chat, Chat) else chat
        self.failures.extend(InjectedFailure("disconnect", chat_id, after=after) for _ in range(count))

    def link_discussion(self, channel: Chat, group: Chat) -> None:
        """Make `group` the channel's discussion group: every channel post is forwarded into it."""
        channel.linked_chat_id, group.linked_chat_id = group.id, channel.id

    def comment(
        self,
        user: User,
        post: SentMessage,
        text: str,
        *,
        reply_to: SentMessage | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A comment on a channel post: a reply in the discussion group to the post's automatic forward
        (or to another comment), in the thread the forward starts (`message_thread_id`)."""
        channel = self.chats[post.chat_id]
        if channel.linked_chat_id is None:
            raise LookupError("the channel has no discussion group")
        group = self.chats[channel.linked_chat_id]
        forward = group.forwards[post.message_id]
        target = reply_to if reply_to is not None else group.messages[forward]
        return self.user_message(user, group, text, reply_to=target, thread=forward)

    def edit_user_message(self, user: User, message: dict[str, Any], text: str) -> dict[str, Any]:
        chat = self.chats[message["chat"]["id"]]
        edited = {**message, "text": text, "edit_date": int(time.time())}
        entities = _auto_entities(text)
        edited.pop("entities", None)
        if entities:
            edited["entities"] = entities
        chat.messages[message["message_id"]] = edited
        if self._delivers(chat, edited):
            self.add_update("edited_message", edited)
        return edited

    def _automatic_forward(self, channel: Chat, sent: SentMessage) -> None:
        """Telegram forwards a new channel post into the linked discussion group by itself (from the
        service account 777000, `is_automatic_forward`); comments are replies to that forward."""
        if channel.linked_chat_id is None:
            return
        group = self.chats[channel.linked_chat_id]
        message: dict[str, Any] = {
            "message_id": group.new_message_id(),
            "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"},
            "sender_chat": channel.to_json(),
            "chat": group.to_json(),
            "date": sent.date,
            "text": sent.text,
            "is_automatic_forward": True,
            "forward_origin": {
                "type": "channel",
                "chat": channel.to_json(),
                "message_id": sent.message_id,
                "date": sent.date,
            },
        }
        if sent.entities:
            message["entities"] = sent.entities
        group.messages[message["message_id"]] = message
        group.forwards[sent.message_id] = message["message_id"]
        if self._delivers(group, message):
            self.add_update("message", message)

    def user_message(
        self,
        user: User,
        chat: Chat,
        text: str,
        *,
        reply_to: SentMessage | dict[str, Any] | None = None,
        thread: int | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.new_message_id(),
            "from": user.to_json(),
            "chat": chat.to_json(),
            "date": int(time.time()),
            "text": text,
        }
        entities = _auto_entities(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            reply_id = reply_to.message_id if isinstance(reply_to, SentMessage) else reply_to["message_id"]
            message["reply_to_message"] = chat.messages[reply_id]
        if thread is not None:
            message["message_thread_id"] = thread
        chat.messages[message["message_id"]] = message
        if self._delivers(chat, message):
            self.add_update("message", message)
        return message

    def press(
        self, user: User, message: SentMessage, button: str | int = 0, *, data: str | None = None
    ) -> CallbackQueryRecord:
        flat = [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]
        if data is not None:
            chosen = {"text": "", "callback_data": data}
        elif isinstance(button, int):
            chosen = flat[button]
        else:
            matches = [b for b in flat if b["text"] == button]
            if not matches:
                raise LookupError(f"no button {button!r} on message, have {[b['text'] for b in flat]}")
            chosen = matches[0]
        chat = self.chats[message.chat_id]
        query = CallbackQueryRecord(
            str(next(self._query_ids) * 7919), user.id, chat.id, message.message_id, chosen["callback_data"]
        )
        self.callback_queries[query.id] = query
        self.add_update(
            "callback_query",
            {
                "id": query.id,
                "from": user.to_json(),
                "message": chat.messages[message.message_id],
                "chat_instance": str(abs(chat.id) * 31),
                "data": query.data,
            },
        )
        return query

    def membership_changed(self, user: User, old: str, new: str) -> None:
        """The bot's status in a user's private chat changed (blocked / unblocked)."""
        chat = self.private_chat(user)

        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"user": self._bot_user(), "status": status}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self.add_update(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": user.to_json(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def bot_added(self, chat: Chat, by: User, *, admin: bool = True) -> None:
        """`by` added the bot to a group or channel (channels only take bots as administrators)."""
        old = "left"
        chat.bot_is_member, chat.bot_is_admin = True, admin
        self._bot_status_changed(chat, by, old, "administrator" if admin else "member")

    def bot_removed(self, chat: Chat, by: User) -> None:
        """`by` removed the bot from a group or channel."""
        old = "administrator" if chat.bot_is_admin else "member"
        chat.bot_is_member = chat.bot_is_admin = False
        self._bot_status_changed(chat, by, old, "kicked")

    def _bot_status_changed(self, chat: Chat, by: User, old: str, new: str) -> None:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"user": self._bot_user(), "status": status}
            if status == "kicked":
                data["until_date"] = 0
            if status == "administrator":
                rights = (
                    "can_be_edited is_anonymous can_manage_chat can_delete_messages can_manage_video_chats "
                    "can_restrict_members can_promote_members can_change_info can_invite_users "
                    "can_post_stories can_edit_stories can_delete_stories"
                ).split()
                data.update(dict.fromkeys(rights, False))
                data.update(can_manage_chat=True, can_post_messages=True, can_edit_messages=True)
            return data

        self.add_update(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": by.to_json(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def add_update(self, kind: str, payload: dict[str, Any]) -> None:
        if self._allowed_updates and kind not in self._allowed_updates:
            return
        self._updates.append({"update_id": self._next_update_id, kind: payload})
        self._next_update_id += 1
        self._new_update.set()

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds (at most `within` seconds); re-checked after every Bot API call."""
        deadline = time.monotonic() + within
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not reached in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    async def wait_inbox(self, chat: Chat, count: int, within: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent at least `count` messages to `chat`; return the inbox."""
        await self.wait_until(lambda: len(chat.inbox) >= count, within)
        return chat.inbox

    def _delivers(self, chat: Chat, message: dict[str, Any]) -> bool:
        """Privacy mode: in groups a non-admin bot only sees commands, mentions and replies to it."""
        if chat.type == "private" or not self.privacy_mode or chat.bot_is_admin:
            return True
        text = message.get("text", "")
        reply = message.get("reply_to_message") or {}
        return (
            text.startswith("/")
            or f"@{self.bot_username}" in text
            or reply.get("from", {}).get("id") == self.bot_id
        )

    # --- HTTP ------------------------------------------------------------------------------------------

    async def _control_stats(self, request: web.Request) -> web.Response:
        """Counters; `?brief=1` leaves out the per-chat counts (a benchmark polling while it sends must not
        slow the server down by serialising 10,000 chats every few milliseconds)."""
        stats = self.stats
        data: dict[str, Any] = {
            "requests": stats.requests,
            "sent": stats.sent,
            "rate_limited": stats.rate_limited,
            "first_send": stats.first_send,
            "last_send": stats.last_send,
        }
        if not request.query.get("brief"):
            data["by_method"] = stats.by_method
            data["per_second"] = stats.per_second
            data["inbox_counts"] = {
                str(chat_id): len(chat.inbox) for chat_id, chat in self.chats.items() if chat.inbox
            }
        return web.json_response(data)

    async def _control(self, request: web.Request) -> web.Response:
        """Scripting from another process (benchmarks): users, channels, messages, limits, reset."""
        action = request.match_info["action"]
        body = await request.json() if request.can_read_body else {}
        result: Any = True
        if action == "users":
            users = [
                self.create_user(f"User {i}", language_code=body.get("language", "de"))
                for i in range(int(body["count"]))
            ]
            for user in users:
                self.private_chat(user)
            result = [u.id for u in users]
        elif action == "channels":
            result = [self.create_channel(f"Channel {i}").id for i in range(int(body["count"]))]
        elif action == "messages":
            for item in body["messages"]:
                user = self.users[int(item["user_id"])]
                user.send_text(item["text"])
        elif action == "limits":
            self.set_limits(Limits(**body))
        elif action == "reset":
            for chat in self.chats.values():
                chat.inbox.clear()
            self.stats = Stats()
            self.calls.clear()
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True, "result": result})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            method = request.match_info["method"].lower()
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            params = await _read_params(request)
            if self.record_calls:
                self.calls.append((method, params))
            if method in RATE_LIMITED_METHODS:
                injected = self._take_failure(method, params)
                if injected is not None and injected.kind == "disconnect":
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                result = await handler(params, injected)
            else:
                result = await handler(params)
            return web.json_response({"ok": True, "result": result}, dumps=_dumps)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code, dumps=_dumps)
        finally:
            self._changed.set()

    def _take_failure(self, method: str, params: dict[str, Any]) -> InjectedFailure | None:
        chat_id = _int_or_none(params.get("chat_id"))
        for index, failure in enumerate(self.failures):
            if (failure.chat_id is None or failure.chat_id == chat_id) and (
                failure.method is None or failure.method.lower() == method
            ):
                if failure.after > 0:
                    for waiting in self.failures[index:]:  # the whole injected series waits its turn
                        if waiting.chat_id == failure.chat_id and waiting.after > 0:
                            waiting.after -= 1
                    return None
                return self.failures.pop(index)
        return None

    # --- helpers for the methods -----------------------------------------------------------------------

    def _chat_for_send(self, params: dict[str, Any]) -> Chat:
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat: Chat | None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == raw), None)
        else:
            try:
                chat = self.chats.get(int(raw))
            except ValueError:
                chat = None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.type == "private":
            user = self.users.get(chat.id)
            if user is not None and user.blocked_bot:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        elif chat.type == "channel" and not chat.bot_is_admin:
            raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        elif not chat.bot_is_member:
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return chat

    def _check_flood(self, chat: Chat, injected: InjectedFailure | None) -> None:
        if injected is not None and injected.kind == "429":
            self._too_many(injected.retry_after)
        if not self.limits.enabled:
            return
        now = time.monotonic()
        bucket = self._chat_buckets.get(chat.id)
        if bucket is None:
            scale = self.limits.scale
            if chat.type == "private":
                bucket = Bucket(
                    rate=self.limits.per_chat_per_second * scale, capacity=self.limits.per_chat_burst
                )
            else:
                per_minute = self.limits.group_per_minute * scale
                bucket = Bucket(rate=per_minute / 60.0, capacity=self.limits.group_per_minute)
            self._chat_buckets[chat.id] = bucket
        assert self._global_bucket is not None
        wait = max(bucket.wait_time(now), self._global_bucket.wait_time(now))
        if wait > 0:
            self._too_many(max(1, math.ceil(wait)))
        bucket.take(now)
        self._global_bucket.take(now)

    def _too_many(self, retry_after: int) -> None:
        self.stats.rate_limited += 1
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _formatted(
        self, text: str, parse_mode: str | None, *, limit: int, too_long: str, empty: str | None
    ) -> tuple[str, list[dict[str, Any]]]:
        if parse_mode is not None and parse_mode.lower() == "html":
            try:
                plain, entities = parse_html(text)
            except EntityParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        elif parse_mode:
            if parse_mode.lower() not in ("markdown", "markdownv2"):
                raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
            plain, entities = text, []
        else:
            plain, entities = text, []
        if empty is not None and not plain.strip():
            raise ApiError(400, empty)
        if utf16_len(plain) > limit:
            raise ApiError(400, too_long)
        return plain, entities

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = _json_value(params.get("reply_markup"))
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if data is None and "url" not in button:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: Text buttons are "
                        "unallowed in the inline keyboard",
                    )
        return markup

    def _deliver(self, chat: Chat, sent: SentMessage, message_json: dict[str, Any]) -> None:
        chat.inbox.append(sent)
        chat.messages[sent.message_id] = message_json
        now = time.monotonic()
        self.stats.sent += 1
        self.stats.first_send = self.stats.first_send or now
        self.stats.last_send = now
        second = int(now)
        self.stats.per_second[second] = self.stats.per_second.get(second, 0) + 1

    def _message_json(self, chat: Chat, sent: SentMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": self._bot_user(),
            "chat": chat.to_json(),
            "date": sent.date,
        }
        if chat.type == "channel":
            data.pop("from")
            data["sender_chat"] = chat.to_json()
        key = "caption" if sent.document else "text"
        if sent.text:
            data[key] = sent.text
        if sent.entities:
            data["caption_entities" if sent.document else "entities"] = sent.entities
        if sent.reply_markup and "inline_keyboard" in sent.reply_markup:
            data["reply_markup"] = sent.reply_markup
        if sent.document:
            file_id = f"BQAC{sent.chat_id}_{sent.message_id}"
            data["document"] = {
                "file_id": file_id,
                "file_unique_id": file_id[-12:],
                "file_name": sent.document.filename,
                "mime_type": sent.document.mime_type,
                "file_size": len(sent.document.data),
            }
        if sent.reply_to_message_id and sent.reply_to_message_id in chat.messages:
            data["reply_to_message"] = chat.messages[sent.reply_to_message_id]
        if sent.edit_date:
            data["edit_date"] = sent.edit_date
        return data

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    def _find_sent(self, params: dict[str, Any]) -> tuple[Chat, SentMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat_for_send(params)
        message_id = _int_or_none(params.get("message_id"))
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        sent = next((m for m in chat.inbox if m.message_id == message_id and not m.deleted), None)
        if sent is None:
            if message_id in chat.messages:
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, sent

    def _reply_to(self, chat: Chat, params: dict[str, Any]) -> int | None:
        reply = _json_value(params.get("reply_parameters"))
        reply_id = (
            reply.get("message_id")
            if isinstance(reply, dict)
            else _int_or_none(params.get("reply_to_message_id"))
        )
        if reply_id is not None and reply_id not in chat.messages:
            allow = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
            if not allow:
                raise ApiError(400, "Bad Request: message to be replied not found")
            return None
        return reply_id

    # --- Bot API methods -------------------------------------------------------------------------------

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_or_none(params.get("offset"))
        limit = min(max(_int_or_none(params.get("limit")) or 100, 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = _json_value(params.get("allowed_updates"))
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if self._poller is not None and not self._poller.done():
            self._poller.set_exception(
                ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make "
                    "sure that only one bot instance is running",
                )
            )
        if not self._visible_updates() and timeout > 0:
            poller: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._poller = poller
            waiter: asyncio.Future[Any] = asyncio.ensure_future(self._new_update.wait())
            try:
                self._new_update.clear()
                done, _ = await asyncio.wait(
                    [waiter, poller], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if poller in done:
                    poller.result()  # raises the 409 of a newer getUpdates
            finally:
                waiter.cancel()
                if not poller.done():
                    poller.cancel()
        return self._visible_updates()[:limit]

    def _visible_updates(self) -> list[dict[str, Any]]:
        if not self._allowed_updates:
            return self._updates
        return [u for u in self._updates if any(kind in u for kind in self._allowed_updates)]

    async def _api_sendmessage(
        self, params: dict[str, Any], injected: InjectedFailure | None
    ) -> dict[str, Any]:
        chat = self._chat_for_send(params)
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode")
        plain, entities = self._formatted(
            text,
            parse_mode,
            limit=MAX_TEXT,
            too_long="Bad Request: message is too long",
            empty="Bad Request: message text is empty",
        )
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        self._check_flood(chat, injected)
        sent = SentMessage(
            chat.id,
            chat.new_message_id(),
            plain,
            text,
            parse_mode,
            entities,
            markup,
            reply_to_message_id=reply_to,
        )
        message_json = self._message_json(chat, sent)
        self._deliver(chat, sent, message_json)
        if chat.type == "channel":
            self._automatic_forward(chat, sent)
        return message_json

    async def _api_deletemessage(self, params: dict[str, Any]) -> bool:
        """A bot deletes its own messages (in groups and channels for 48 hours) and, as an admin with the
        right, other people's; anything else "can't be deleted"."""
        chat = self._chat_for_send(params)
        message_id = _int_or_none(params.get("message_id"))
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        sent = next((m for m in chat.inbox if m.message_id == message_id and not m.deleted), None)
        if sent is None:
            if message_id in chat.messages and chat.bot_is_admin:
                del chat.messages[message_id]
                return True
            if message_id in chat.messages:
                raise ApiError(400, "Bad Request: message can't be deleted")
            raise ApiError(400, "Bad Request: message to delete not found")
        if chat.type != "private" and time.time() - sent.date > DELETE_WINDOW:
            raise ApiError(400, "Bad Request: message can't be deleted")
        sent.deleted = True
        chat.messages.pop(message_id, None)
        return True

    async def _api_senddocument(
        self, params: dict[str, Any], injected: InjectedFailure | None
    ) -> dict[str, Any]:
        chat = self._chat_for_send(params)
        document = params.get("document")
        if not isinstance(document, SentDocument):
            raise ApiError(400, "Bad Request: there is no document in the request")
        if not document.data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        caption = str(params.get("caption") or "")
        parse_mode = params.get("parse_mode")
        plain, entities = self._formatted(
            caption,
            parse_mode,
            limit=MAX_CAPTION,
            too_long="Bad Request: message caption is too long",
            empty=None,
        )
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        self._check_flood(chat, injected)
        sent = SentMessage(
            chat.id,
            chat.new_message_id(),
            plain,
            caption,
            parse_mode,
            entities,
            markup,
            document=document,
            reply_to_message_id=reply_to,
        )
        message_json = self._message_json(chat, sent)
        self._deliver(chat, sent, message_json)
        return message_json

    async def _api_editmessagetext(
        self, params: dict[str, Any], injected: InjectedFailure | None
    ) -> dict[str, Any]:
        chat, sent = self._find_sent(params)
        if sent.document is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode")
        plain, entities = self._formatted(
            text,
            parse_mode,
            limit=MAX_TEXT,
            too_long="Bad Request: message is too long",
            empty="Bad Request: message text is empty",
        )
        markup = self._markup(params)
        if plain == sent.text and entities == sent.entities and markup == sent.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        self._check_flood(chat, injected)
        sent.edits.append(sent.text)
        sent.text, sent.raw_text, sent.parse_mode, sent.entities, sent.reply_markup = (
            plain,
            text,
            parse_mode,
            entities,
            markup,
        )
        sent.edit_date = int(time.time())
        chat.messages[sent.message_id] = self._message_json(chat, sent)
        return chat.messages[sent.message_id]

    async def _api_editmessagereplymarkup(
        self, params: dict[str, Any], injected: InjectedFailure | None
    ) -> dict[str, Any]:
        chat, sent = self._find_sent(params)
        markup = self._markup(params)
        if markup == sent.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        self._check_flood(chat, injected)
        sent.reply_markup = markup
        sent.edit_date = int(time.time())
        chat.messages[sent.message_id] = self._message_json(chat, sent)
        return chat.messages[sent.message_id]

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query = self.callback_queries.get(str(params.get("callback_query_id", "")))
        if query is None or query.answered or time.monotonic() - query.created > 15 * 60:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = True
        query.answer_text = text
        query.show_alert = str(params.get("show_alert", "")).lower() == "true"
        return True

    async def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        self._chat_for_send(params)
        return True

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = _json_value(params.get("commands"))
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            name = command.get("command", "")
            if not (
                1 <= len(name) <= 32
                and all(c.islower() or c.isdigit() or c == "_" for c in name)
                and name.isascii()
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands.get(self._commands_key(params), [])

    async def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = _json_value(params.get("scope")) or {"type": "default"}
        kind = scope.get("type", "default")
        if "chat_id" in scope:  # chat, chat_administrators and chat_member scopes name their chat
            kind = f"{kind}:{scope['chat_id']}"
        return kind, str(params.get("language_code") or "")

    async def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._api_deletewebhook(params)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
        ):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = _json_value(params.get("allowed_updates"))
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": _int_or_none(params.get("max_connections")) or 40,
        }
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        self._new_update.set()
        return True

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        return True

    async def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info.update(url=self.webhook["url"], max_connections=self.webhook["max_connections"])
            if self._allowed_updates:
                info["allowed_updates"] = self._allowed_updates
        return info

    async def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_logout(self, params: dict[str, Any]) -> bool:
        return True

    async def _deliver_webhooks(self) -> None:
        """POST pending updates to the webhook one by one, in order, retrying until it answers 2xx."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        while self.webhook is not None:
            updates = self._visible_updates()
            if not updates:
                self._new_update.clear()
                await self._new_update.wait()
                continue
            update = updates[0]
            headers = {"Content-Type": "application/json"}
            if self.webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            try:
                async with self._http.post(
                    self.webhook["url"],
                    data=_dumps(update),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    ok = 200 <= response.status < 300
                    self.webhook_deliveries.append(
                        {"update_id": update["update_id"], "status": response.status}
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.info("webhook delivery failed: %s", exc)
                ok = False
            if ok:
                self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                self._changed.set()
            else:
                await asyncio.sleep(self.webhook_retry_delay)


# --- request parsing -------------------------------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        params.update(body if isinstance(body, dict) else {})
    elif content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read()
                mime = part.headers.get("Content-Type", "application/octet-stream")
                params[part.name] = SentDocument(part.filename, mime, bytes(data))
            else:
                params[part.name] = await part.text()
    else:
        params.update(await request.post())
    return params


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
    return value


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach: a bot_command at the start, @mentions anywhere."""
    entities: list[dict[str, Any]] = []
    if text.startswith("/"):
        end = next((i for i, c in enumerate(text) if c.isspace()), len(text))
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(text[:end])})
    index = 0
    while (index := text.find("@", index)) != -1:
        end = index + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end - index > 1 and (index == 0 or text[index - 1].isspace()):
            entities.append(
                {"type": "mention", "offset": utf16_len(text[:index]), "length": utf16_len(text[index:end])}
            )
        index = end
    return entities
