"""Matrix adapter on matrix-nio with end-to-end encryption: room events in, Replies out as notices."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    SyncResponse,
    WhoamiResponse,
)

from bot.chat import ChatRef, Incoming, MessageRef, Platform, Reply, Sender
from bot.platforms.base import TemporaryFailure, Unreachable
from bot.platforms.matrix_render import (
    emoji_key,
    mentions_user,
    pill_labels,
    reaction_action,
    relation_of,
    strip_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix_send import NETWORK_ERRORS, MatrixClient, Outgoing
from bot.platforms.matrix_session import LocalStore, MatrixSession
from bot.services.messages import SubjectRecorder
from bot.services.textnorm import fold
from bot.text import clean_input

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

T = TypeVar("T")
_FIRST_SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}, "presence": {"types": []}}
_GAP_LIMIT = 500  # events fetched per room after a long downtime before older ones are given up


class MatrixAdapter(Outgoing):
    """Connects one bot account; `start()` runs sync and processing in background tasks."""

    platform = Platform.MATRIX.value

    def __init__(self, ctx: AppContext, *, sync_timeout_ms: int = 30_000, max_rate_wait: float = 10.0,
                 push_interval: float = 0.1, ready_timeout: float = 30.0, timeline_limit: int = 50) -> None:
        settings = ctx.settings
        if not (settings.matrix_homeserver and settings.matrix_user_id):
            raise ValueError("BOT_MATRIX_HOMESERVER and BOT_MATRIX_USER_ID are required")
        self.ctx = ctx
        self.settings = settings
        self.user_id: str = settings.matrix_user_id
        self.homeserver = settings.matrix_homeserver.rstrip("/")
        self.server_name = self.user_id.partition(":")[2]
        self.allowed = list(settings.matrix_allowed) or [f":{self.server_name}"]
        self.store_dir: Path = settings.data_dir / "matrix"
        self.session_path = self.store_dir / "session.json"
        self.sync_timeout_ms = sync_timeout_ms
        self.max_rate_wait = max_rate_wait
        self.push_interval = push_interval
        self.ready_timeout = ready_timeout
        # Events per room and sync; older ones missed during a downtime are fetched with /messages.
        self.sync_filter: dict[str, Any] = {"room": {"timeline": {"limit": timeline_limit}},
                                            "presence": {"types": []}}
        self.client: MatrixClient | None = None
        self._session = MatrixSession(homeserver=self.homeserver, user_id=self.user_id)
        self._queue: asyncio.Queue[tuple[SyncResponse, str | None, bool] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._ready = asyncio.Event()
        self._synced = asyncio.Condition()
        self._seen_rooms: set[str] = set()
        self._direct_lock = asyncio.Lock()
        self._push_lock = asyncio.Lock()
        self._last_push = 0.0
        self._rate_limited_until = 0.0
        self.connected = False
        self._store: LocalStore | None = None
        self._subjects = SubjectRecorder(ctx.messages, name="matrix-subjects")
        router = getattr(ctx, "router", None)
        self._commands = frozenset(fold(name) for command in getattr(router, "commands", [])
                                   for name in (*command.de, *command.en))

    # ----- lifecycle

    async def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._session = MatrixSession.load(self.session_path, homeserver=self.homeserver,
                                           user_id=self.user_id)
        self._store = LocalStore(self.store_dir / "state.sqlite3")
        await self._login()
        client = self._require_client()
        if client.should_upload_keys:
            await client.keys_upload()
        self._subjects.start()
        self._tasks = [asyncio.create_task(self._sync_loop(), name="matrix-sync"),
                       asyncio.create_task(self._process_loop(), name="matrix-process")]
        try:
            await asyncio.wait_for(self._ready.wait(), self.ready_timeout)
        except TimeoutError:
            logger.warning("Matrix: no sync within %s s; still trying in the background", self.ready_timeout)
        fingerprint = client.olm.account.identity_keys.get("ed25519", "?") if client.olm else "?"
        logger.info("Matrix adapter running as %s (device %s, ed25519 %s)", self.user_id, client.device_id,
                    fingerprint)

    async def stop(self) -> None:
        self._stopping = True
        if not self._tasks:
            await self._close()
            return
        sync_task, process_task = self._tasks
        sync_task.cancel()
        await asyncio.gather(sync_task, return_exceptions=True)
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(process_task, 30)
        except (TimeoutError, asyncio.CancelledError):
            process_task.cancel()
        self._tasks = []
        await self._close()

    async def _close(self) -> None:
        await self._subjects.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def _login(self) -> None:
        settings = self.settings
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, encryption_enabled=True,
                                   store_sync_tokens=False, request_timeout=30)
        device_id = settings.matrix_device_id or self._session.device_id or None
        self.client = client = MatrixClient(self.homeserver, self.user_id, device_id=device_id,
                                       store_path=str(self.store_dir), config=config)
        token = settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None
        if token is None and self._session.access_token:
            token = self._session.access_token
        if token is not None:
            client.access_token = token
            who = await self._retry_network("whoami", client.whoami)
            if isinstance(who, WhoamiResponse):
                if who.user_id != self.user_id:
                    raise RuntimeError("BOT_MATRIX_ACCESS_TOKEN is not for BOT_MATRIX_USER_ID")
                device = device_id if settings.matrix_access_token else (self._session.device_id or device_id)
                device = who.device_id or device
                if not device:
                    raise RuntimeError("BOT_MATRIX_DEVICE_ID is required (the homeserver names no device)")
                client.restore_login(self.user_id, device, token)
                self._remember_login(device, token)
                return
            if settings.matrix_access_token or not settings.matrix_password:
                raise RuntimeError(f"Matrix login with the access token failed: {who.status_code}")
            logger.warning("Saved Matrix login is no longer valid (%s); logging in again", who.status_code)
            client.access_token = ""
        if not settings.matrix_password:
            raise RuntimeError("BOT_MATRIX_PASSWORD or BOT_MATRIX_ACCESS_TOKEN is required")
        password = settings.matrix_password.get_secret_value()
        response = await self._retry_network(
            "login", lambda: client.login(password=password, device_name="Stadtretter assistant"))
        if not isinstance(response, LoginResponse):
            raise RuntimeError(f"Matrix login failed: {getattr(response, 'status_code', 'error')}")
        logger.info("Logged in to Matrix as %s with new device %s", self.user_id, response.device_id)
        self._remember_login(response.device_id, response.access_token)

    def _remember_login(self, device_id: str, token: str) -> None:
        if self._session.device_id and self._session.device_id != device_id:
            self._local().set("next_batch", None)  # another device: its sync position does not apply
        self._session.device_id = device_id
        self._session.access_token = token
        self._session.save(self.session_path)

    async def _retry_network(self, what: str, call: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
        for attempt in range(attempts):
            try:
                return await call()
            except NETWORK_ERRORS as exc:
                if attempt == attempts - 1:
                    reason = type(exc).__name__
                    raise RuntimeError(f"Matrix homeserver unreachable for {what}: {reason}") from None
                delay = min(2 ** attempt, 10)
                logger.warning("Matrix %s failed (%s); retrying in %s s", what, type(exc).__name__, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # ----- receiving

    async def _sync_loop(self) -> None:
        """Long-poll /sync; batches go to the processing queue, the token is saved once a batch is handled."""
        client = self._require_client()
        since = self._local().get("next_batch")
        first_ever = since is None
        full_state: bool | None = True
        delay = 0.5
        while not self._stopping:
            try:
                response = await client.sync(
                    timeout=0 if full_state else self.sync_timeout_ms,
                    sync_filter=_FIRST_SYNC_FILTER if first_ever else self.sync_filter,
                    since=since, full_state=full_state)
            except asyncio.CancelledError:
                raise
            except NETWORK_ERRORS as exc:
                delay = await self._backoff("sync", type(exc).__name__, delay)
                continue
            except Exception:
                logger.exception("Matrix sync failed unexpectedly")
                delay = await self._backoff("sync", "error", delay)
                continue
            if not isinstance(response, SyncResponse):
                code = getattr(response, "status_code", "error")
                if code == "M_UNKNOWN_TOKEN":
                    logger.error("Matrix access token was revoked; restart with valid credentials")
                retry_ms = getattr(response, "retry_after_ms", None)
                if retry_ms:
                    wait = min(retry_ms / 1000, 60.0)
                    logger.warning("Matrix sync rate limited; waiting %.1f s", wait)
                    await asyncio.sleep(wait)
                else:
                    delay = await self._backoff("sync", str(code), delay)
                continue
            if not self.connected:
                logger.info("Matrix sync connected")
            self.connected = True
            delay = 0.5
            await self._maintain_keys(client)
            self._seen_rooms.update(response.rooms.join)
            self._queue.put_nowait((response, since, first_ever))
            since, full_state, first_ever = response.next_batch, None, False
            async with self._synced:
                self._synced.notify_all()

    async def _backoff(self, what: str, reason: str, delay: float) -> float:
        if self.connected:
            logger.warning("Matrix homeserver unreachable (%s: %s); reconnecting with backoff", what, reason)
        self.connected = False
        await asyncio.sleep(delay * (0.75 + random.random() / 2))
        return min(delay * 2, 30.0)

    async def _maintain_keys(self, client: AsyncClient) -> None:
        """Upload, query and claim keys before handling a batch, so answers reach every member's devices."""
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except NETWORK_ERRORS as exc:
            logger.warning("Matrix key maintenance failed: %s", type(exc).__name__)
        except LocalProtocolError as exc:
            logger.debug("Matrix key maintenance skipped: %s", exc)

    async def _process_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            response, since, skip_messages = item
            try:
                await self._process(response, since, skip_messages=skip_messages)
            except Exception:
                logger.exception("Matrix: handling a sync batch failed")
            try:
                self._local().set("next_batch", response.next_batch)
            except sqlite3.Error as exc:
                logger.error("Cannot save the Matrix sync position: %s", exc)
            self._ready.set()

    async def _process(self, response: SyncResponse, since: str | None, *, skip_messages: bool) -> None:
        for room_id, invite in response.rooms.invite.items():
            await self._on_invite(room_id, invite.invite_state)
        jobs = [self._process_room(room_id, info, since, skip_messages=skip_messages)
                for room_id, info in response.rooms.join.items()]
        await asyncio.gather(*jobs)
        if since is None or skip_messages:
            for room in list(self._require_client().rooms.values()):
                await self._leave_if_alone(room)

    async def _process_room(self, room_id: str, info: Any, since: str | None, *, skip_messages: bool) -> None:
        client = self._require_client()
        room = client.rooms.get(room_id)
        if room is None:
            return
        events: list[Any] = list(info.timeline.events)
        start = self._first_new_event(events, limited=bool(info.timeline.limited))
        if info.timeline.limited and since and start == 0 and not skip_messages:
            events = await self._fill_gap(room_id, info.timeline.prev_batch, since) + events
        membership_changed = False
        for event in events[start:]:
            if isinstance(event, RoomMemberEvent) and event.state_key != self.user_id \
                    and event.membership in ("leave", "ban"):
                membership_changed = True
            if skip_messages or getattr(event, "sender", None) == self.user_id:
                continue
            try:
                if isinstance(event, RoomMessageText) and not _is_notice(event):
                    await self._on_message(room, event)
                elif isinstance(event, ReactionEvent):
                    await self._on_reaction(room, event)
                elif isinstance(event, MegolmEvent):
                    logger.warning("Matrix: cannot decrypt event %s in %s (session %s)",
                                   event.event_id, room_id, event.session_id)
            except Exception:
                logger.exception("Matrix: handling event %s in %s failed", getattr(event, "event_id", "?"),
                                 room_id)
        if membership_changed:
            await self._leave_if_alone(room)

    def _first_new_event(self, events: list[Any], *, limited: bool) -> int:
        """Index of the first event to answer: after our invite (or join) if we joined in this batch."""
        join_index = invite_index = None
        for index, event in enumerate(events):
            if isinstance(event, RoomMemberEvent) and event.state_key == self.user_id:
                if event.membership == "invite":
                    invite_index = index
                elif event.membership == "join" and event.prev_membership != "join":
                    join_index = index
        if join_index is None:
            return 0
        if invite_index is not None and invite_index < join_index:
            return invite_index + 1
        return 0 if limited else join_index + 1

    async def _fill_gap(self, room_id: str, prev_batch: str | None, since: str) -> list[Any]:
        """Fetch the messages a limited timeline left out (sent while the bot was down), oldest first."""
        client = self._require_client()
        fetched: list[Any] = []
        start = prev_batch
        while start and len(fetched) < _GAP_LIMIT:
            try:
                page = await client.room_messages(room_id, start=start, end=since, limit=100)
            except NETWORK_ERRORS:
                break
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            fetched.extend(page.chunk)
            if page.end == start:
                break
            start = page.end
        if len(fetched) >= _GAP_LIMIT:
            logger.warning("Matrix: over %s missed events in %s; older ones stay unanswered", _GAP_LIMIT,
                           room_id)
        fetched.reverse()
        logger.info("Matrix: fetched %s missed events in %s", len(fetched), room_id)
        return fetched

    def _sender(self, room: MatrixRoom, user_id: str) -> Sender:
        return Sender(platform=self.platform, id=user_id, display_name=room.user_name(user_id) or user_id)

    async def _on_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        content: dict[str, Any] = event.source.get("content", {})
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return  # edits of earlier messages are not new questions
        chat = self._chat(room)
        thread_root, reply_to = relation_of(content)
        text = strip_reply_fallback(event.body)
        addressed = True
        if not chat.is_private:
            localpart = self.user_id.partition(":")[0].lstrip("@")
            names = [self.user_id, localpart, room.user_name(self.user_id) or "",
                     *pill_labels(content, self.user_id)]
            stripped, mentioned = strip_mention(text, names)
            mentioned = mentioned or mentions_user(content, self.user_id)
            if mentioned:
                text = stripped
            addressed = mentioned or self._is_our_command(text)
        text = clean_input(text)
        if not text:
            return
        incoming = Incoming(
            chat=chat, sender=self._sender(room, event.sender), text=text, addressed=addressed,
            message=MessageRef(chat=chat, message_id=event.event_id, thread_id=thread_root),
            reply_to=MessageRef(chat=chat, message_id=reply_to, thread_id=thread_root) if reply_to else None,
            raw=event,
        )
        replies = await self._handle(incoming)
        if not replies:
            return
        # Groups: answers quote the question so it is clear whom they answer; direct chats: only replies do.
        quote = event.event_id if (reply_to or not chat.is_private) else None
        for reply in replies:
            await self._answer(incoming, reply, room_id=room.room_id, reply_to=quote, thread_root=thread_root)

    def _is_our_command(self, text: str) -> bool:
        """A "!" or "/" command the router knows: other bots in the room have their own "!" commands."""
        if not text.startswith(("!", "/")):
            return False
        word = fold(text[1:].split(maxsplit=1)[0]) if text[1:].strip() else ""
        return not self._commands or word in self._commands

    async def _on_reaction(self, room: MatrixRoom, event: ReactionEvent) -> None:
        chat = self._chat(room)
        known = self._local().actions(event.reacts_to)
        if known is not None:
            action = known.get(emoji_key(event.key))
        else:
            action = reaction_action(event.key, await self.ctx.messages.subject_of(chat, event.reacts_to))
        if action is None:
            return
        incoming = Incoming(chat=chat, sender=self._sender(room, event.sender), text=action, is_button=True,
                            message=MessageRef(chat=chat, message_id=event.event_id),
                            reply_to=MessageRef(chat=chat, message_id=event.reacts_to), raw=event)
        replies = await self._handle(incoming)
        for reply in replies:
            if chat.is_private and reply.edit and reply.to is None and known is not None:
                await self._answer(incoming, reply, room_id=room.room_id, reply_to=None, thread_root=None,
                                   edit_of=event.reacts_to)
            elif chat.is_private or reply.to is not None:
                await self._answer(incoming, reply, room_id=room.room_id, reply_to=event.reacts_to,
                                   thread_root=None)
            else:
                # A reaction is quiet; its confirmation goes to the reacting member, not to the whole group.
                private = ChatRef(platform=self.platform, id=event.sender, is_private=True)
                await self._answer(incoming, _retarget(reply, private), room_id=room.room_id, reply_to=None,
                                   thread_root=None)

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        try:
            return list(await self.ctx.handle(incoming))
        except Exception:
            logger.exception("Matrix: the core failed on a message in %s", incoming.chat.id)
            return []

    async def _answer(self, incoming: Incoming, reply: Reply, *, room_id: str, reply_to: str | None,
                      thread_root: str | None, edit_of: str | None = None) -> None:
        target = reply.to
        try:
            if target is not None and target.id != room_id:
                await self.send(target, reply, paced=False)
            else:
                await self._send_reply(room_id, reply, reply_to=reply_to, thread_root=thread_root,
                                       edit_of=edit_of)
        except Unreachable as exc:
            logger.warning("Matrix: answer to %s not deliverable: %s", (target or incoming.chat).id, exc)
            if target is not None and target.id.startswith("@"):
                await self.ctx.members.mark_unreachable(self.platform, target.id, now=self.ctx.clock.now())
        except TemporaryFailure as exc:
            chat = target or ChatRef(self.platform, room_id, incoming.chat.is_private)
            await self._defer(incoming, reply, chat, exc)

    async def _defer(self, incoming: Incoming, reply: Reply, chat: ChatRef, exc: TemporaryFailure) -> None:
        """Hand an answer that could not be sent now to the durable outbox instead of dropping it."""
        message_id = incoming.message.message_id if incoming.message else ""
        if not message_id:
            logger.warning("Matrix: answer to %s dropped: %s", chat.id, exc)
            return
        digest = hashlib.sha1(reply.html.encode()).hexdigest()[:12]
        logger.warning("Matrix: answer to %s deferred to the outbox: %s", chat.id, exc)
        # The outbox carries text and buttons; a file is offered again by the command that made it.
        await self.ctx.outbox.enqueue(f"matrix-answer:{message_id}:{digest}", chat,
                                      replace(reply, attachment=None, to=None, edit=False),
                                      now=self.ctx.clock.now())

    async def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        inviter, is_direct = None, False
        for event in invite_state:
            if isinstance(event, InviteMemberEvent) and event.state_key == self.user_id \
                    and event.membership == "invite":
                inviter, is_direct = event.sender, bool(event.content.get("is_direct"))
        client = self._require_client()
        if inviter is None or not self.is_allowed(inviter):
            logger.info("Matrix: declining invite to %s from %s (not allowed)", room_id, inviter)
            await self._call("reject invite", lambda: client.room_leave(room_id))
            return
        response = await self._call("join", lambda: client.join(room_id))
        if isinstance(response, JoinError):
            logger.warning("Matrix: could not join %s: %s", room_id, response.status_code)
            return
        logger.info("Matrix: joined %s on invite from %s", room_id, inviter)
        if is_direct:
            self._session.direct_rooms[inviter] = room_id

    def is_allowed(self, user_id: str) -> bool:
        """Whether invites from this user are accepted: listed user ids, ":server" suffixes or "*"."""
        return any(entry == "*" or entry == user_id or (entry.startswith(":") and user_id.endswith(entry))
                   for entry in self.allowed)

    async def _leave_if_alone(self, room: MatrixRoom) -> None:
        if room.joined_count > 1 or room.invited_count > 0 or room.room_id not in self._seen_rooms:
            return
        client = self._require_client()
        logger.info("Matrix: leaving %s, nobody else is in it", room.room_id)
        await self._call("leave", lambda: client.room_leave(room.room_id))
        await self._call("forget", lambda: client.room_forget(room.room_id))
        direct = self._session.direct_rooms
        self._session.direct_rooms = {u: r for u, r in direct.items() if r != room.room_id}

def _is_notice(event: RoomMessageText) -> bool:
    return bool(event.source.get("content", {}).get("msgtype") == "m.notice")


def _retarget(reply: Reply, chat: ChatRef) -> Reply:
    return replace(reply, to=chat)

