"""Matrix adapter on matrix-nio with end-to-end encryption: room events in, Replies out as notices.

The adapter translates what happened in a room into facts for the core (a message, a mention, a reply to
one of the bot's messages, a reaction) and sends the core's answers with its `MatrixTransport`; whether a
group message is meant for the bot is the core's decision.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

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
    RedactionEvent,
    RoomMemberEvent,
    RoomMessagesResponse,
    RoomMessageText,
    SyncResponse,
    WhoamiResponse,
)

from bot.chat import ChatRef, Incoming, Kind, MessageRef, Person, Platform, Reply, emoji_key
from bot.config import Settings
from bot.context import Ports
from bot.delivery import PlatformUnavailable, Rejected, TemporaryFailure, Unreachable
from bot.files import private_dir, private_file, tighten_tree
from bot.logs import redactor
from bot.platforms.matrix.render import (
    is_edit,
    is_notice,
    mentions_user,
    pill_labels,
    relation_of,
    strip_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix.session import LocalStore, MatrixSession, session_path
from bot.platforms.matrix.transport import NETWORK_ERRORS, MatrixClient, MatrixTransport
from bot.text import clean_input

logger = logging.getLogger(__name__)

T = TypeVar("T")
_FIRST_SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}, "presence": {"types": []}}
_GAP_LIMIT = 500  # events fetched per room after a long downtime before older ones are given up


@dataclass(frozen=True, slots=True)
class _Where:
    """Where an answer goes: the room, the event it quotes or edits, the thread it belongs to."""

    room_id: str
    event_id: str  # the event answered (for the outbox key of a deferred answer)
    reply_to: str | None = None
    thread_root: str | None = None
    edit_of: str | None = None


class MatrixAdapter:
    """Connects one bot account; `start()` runs sync and processing in background tasks."""

    platform = Platform.MATRIX.value

    def __init__(
        self,
        settings: Settings,
        ports: Ports,
        *,
        sync_timeout_ms: int = 30_000,
        max_rate_wait: float = 10.0,
        push_interval: float = 0.1,
        ready_timeout: float = 30.0,
        timeline_limit: int = 50,
    ) -> None:
        if not (settings.matrix_homeserver and settings.matrix_user_id):
            raise ValueError("BOT_MATRIX_HOMESERVER and BOT_MATRIX_USER_ID are required")
        self.settings = settings
        self.ports = ports
        self.user_id: str = settings.matrix_user_id
        self.homeserver = settings.matrix_homeserver.rstrip("/")
        self.server_name = self.user_id.partition(":")[2]
        self.allowed = list(settings.matrix_allowed) or [f":{self.server_name}"]
        self.store_dir: Path = settings.data_dir / "matrix"
        self.session_path = session_path(settings.data_dir)
        self.sync_timeout_ms = sync_timeout_ms
        self.ready_timeout = ready_timeout
        # Events per room and sync; older ones missed during a downtime are fetched with /messages.
        self.sync_filter: dict[str, Any] = {
            "room": {"timeline": {"limit": timeline_limit}},
            "presence": {"types": []},
        }
        self.transport = MatrixTransport(
            session_path=self.session_path,
            subjects=ports.subjects,
            command_names=ports.command_names,
            max_rate_wait=max_rate_wait,
            push_interval=push_interval,
        )
        self.connected = False
        self._session = MatrixSession(homeserver=self.homeserver, user_id=self.user_id)
        self._store: LocalStore | None = None
        self._queue: asyncio.Queue[tuple[SyncResponse, str | None, bool] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._ready = asyncio.Event()

    @property
    def client(self) -> MatrixClient | None:
        return self.transport.client

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        """Deliver one reply (the outbox's transport); a user id as chat id means that user's direct chat."""
        return await self.transport.send(chat, reply)

    # ----- lifecycle

    async def start(self) -> None:
        # Access token, sync position and the Olm/Megolm keys: for the bot's owner only (0700 / 0600).
        private_dir(self.store_dir)
        self._session = MatrixSession.load(
            self.session_path, homeserver=self.homeserver, user_id=self.user_id
        )
        private_file(self.store_dir / "state.sqlite3")
        self._store = await LocalStore.open(self.store_dir / "state.sqlite3")
        try:
            client = await self._login()
        except BaseException:
            await self._close()
            raise
        tighten_tree(self.store_dir)  # nio created its key store during the login
        self.transport.attach(client, self._store)
        self.ports.identity.announce(self.platform, self.user_id)
        if client.should_upload_keys:
            await client.keys_upload()
        self._tasks = [
            asyncio.create_task(self._sync_loop(), name="matrix-sync"),
            asyncio.create_task(self._process_loop(), name="matrix-process"),
        ]
        try:
            await asyncio.wait_for(self._ready.wait(), self.ready_timeout)
        except TimeoutError:
            logger.warning("Matrix: no sync within %s s; still trying in the background", self.ready_timeout)
        fingerprint = client.olm.account.identity_keys.get("ed25519", "?") if client.olm else "?"
        logger.info(
            "Matrix adapter running as %s (device %s, ed25519 %s)",
            self.user_id,
            client.device_id,
            fingerprint,
        )

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
        client = self.transport.client
        self.transport.detach()
        if self._store is not None:
            await self._store.close()
            self._store = None
        if client is not None:
            await client.close()

    async def _login(self) -> MatrixClient:
        settings = self.settings
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            encryption_enabled=True,
            store_sync_tokens=False,
            request_timeout=30,
        )
        device_id = settings.matrix_device_id or self._session.device_id or None
        client = MatrixClient(
            self.homeserver, self.user_id, device_id=device_id, store_path=str(self.store_dir), config=config
        )
        token = settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None
        if token is None and self._session.access_token:
            token = self._session.access_token
        if token is not None and await self._restore(client, token, device_id):
            return client
        if not settings.matrix_password:
            raise RuntimeError("BOT_MATRIX_PASSWORD or BOT_MATRIX_ACCESS_TOKEN is required")
        password = settings.matrix_password.get_secret_value()
        response = await self._retry_network(
            "login", lambda: client.login(password=password, device_name="Stadtretter assistant")
        )
        if not isinstance(response, LoginResponse):
            raise RuntimeError(f"Matrix login failed: {getattr(response, 'status_code', 'error')}")
        logger.info("Logged in to Matrix as %s with new device %s", self.user_id, response.device_id)
        await self._remember_login(response.device_id, response.access_token)
        return client

    async def _restore(self, client: MatrixClient, token: str, device_id: str | None) -> bool:
        """Log in with a saved or configured access token; False when a password login should follow."""
        settings = self.settings
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
            await self._remember_login(device, token)
            return True
        if settings.matrix_access_token or not settings.matrix_password:
            raise RuntimeError(f"Matrix login with the access token failed: {who.status_code}")
        logger.warning("Saved Matrix login is no longer valid (%s); logging in again", who.status_code)
        client.access_token = ""
        return False

    async def _remember_login(self, device_id: str, token: str) -> None:
        if self._session.device_id and self._session.device_id != device_id:
            await self._local().set("next_batch", None)  # another device: its sync position does not apply
        self._session.device_id = device_id
        self._session.access_token = token
        redactor().add(token)  # handed out by the homeserver at login: never in a log either
        self._session.save(self.session_path)

    async def _retry_network(self, what: str, call: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
        for attempt in range(attempts):
            try:
                return await call()
            except NETWORK_ERRORS as exc:
                if attempt == attempts - 1:
                    reason = type(exc).__name__
                    raise PlatformUnavailable(f"Matrix homeserver unreachable for {what}: {reason}") from None
                delay = min(2**attempt, 10)
                logger.warning("Matrix %s failed (%s); retrying in %s s", what, type(exc).__name__, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _local(self) -> LocalStore:
        if self._store is None:
            raise TemporaryFailure("Matrix adapter is not running")
        return self._store

    # ----- syncing

    async def _sync_loop(self) -> None:
        """Long-poll /sync; batches go to the processing queue, the token is saved once a batch is handled."""
        client = self.transport.require_client()
        since = await self._local().get("next_batch")
        first_ever = since is None
        full_state: bool | None = True
        delay = 0.5
        while not self._stopping:
            try:
                response = await client.sync(
                    timeout=0 if full_state else self.sync_timeout_ms,
                    sync_filter=_FIRST_SYNC_FILTER if first_ever else self.sync_filter,
                    since=since,
                    full_state=full_state,
                )
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
                delay = await self._sync_refused(response, delay)
                continue
            if not self.connected:
                logger.info("Matrix sync connected")
            self.connected = True
            delay = 0.5
            await self._maintain_keys(client)
            self._queue.put_nowait((response, since, first_ever))
            since, full_state, first_ever = response.next_batch, None, False
            await self.transport.synced(response.rooms.join)

    async def _sync_refused(self, response: Any, delay: float) -> float:
        """Wait after an error response to /sync; returns the next backoff delay."""
        code = getattr(response, "status_code", "error")
        if code == "M_UNKNOWN_TOKEN":
            logger.error("Matrix access token was revoked; restart with valid credentials")
        retry_ms = getattr(response, "retry_after_ms", None)
        if not retry_ms:
            return await self._backoff("sync", str(code), delay)
        wait = min(retry_ms / 1000, 60.0)
        logger.warning("Matrix sync rate limited; waiting %.1f s", wait)
        await asyncio.sleep(wait)
        return delay

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
                await self._local().set("next_batch", response.next_batch)
            except (sqlite3.Error, TemporaryFailure) as exc:
                logger.error("Cannot save the Matrix sync position: %s", exc)
            self._ready.set()

    async def _process(self, response: SyncResponse, since: str | None, *, skip_messages: bool) -> None:
        for room_id, invite in response.rooms.invite.items():
            await self._on_invite(room_id, invite.invite_state)
        jobs = [
            self._process_room(room_id, info, since, skip_messages=skip_messages)
            for room_id, info in response.rooms.join.items()
        ]
        await asyncio.gather(*jobs)
        if since is None or skip_messages:
            for room in list(self.transport.require_client().rooms.values()):
                await self._leave_if_alone(room)

    async def _process_room(self, room_id: str, info: Any, since: str | None, *, skip_messages: bool) -> None:
        room = self.transport.require_client().rooms.get(room_id)
        if room is None:
            return
        events: list[Any] = list(info.timeline.events)
        start = self._first_new_event(events, limited=bool(info.timeline.limited))
        if info.timeline.limited and since and start == 0 and not skip_messages:
            events = await self._fill_gap(room_id, info.timeline.prev_batch, since) + events
        membership_changed = False
        for event in events[start:]:
            membership_changed = membership_changed or self._someone_left(event)
            if skip_messages or getattr(event, "sender", None) == self.user_id:
                continue
            try:
                await self._on_event(room, event)
            except Exception:
                logger.exception(
                    "Matrix: handling event %s in %s failed", getattr(event, "event_id", "?"), room_id
                )
        if membership_changed:
            await self._leave_if_alone(room)

    def _someone_left(self, event: Any) -> bool:
        return (
            isinstance(event, RoomMemberEvent)
            and event.state_key != self.user_id
            and event.membership in ("leave", "ban")
        )

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        if isinstance(event, RoomMessageText) and not is_notice(event.source.get("content", {})):
            await self._on_message(room, event)
        elif isinstance(event, ReactionEvent):
            await self._on_reaction(room, event)
        elif isinstance(event, RedactionEvent):
            await self._on_redaction(room, event)
        elif isinstance(event, MegolmEvent):
            logger.warning(
                "Matrix: cannot decrypt event %s in %s (session %s)",
                event.event_id,
                room.room_id,
                event.session_id,
            )

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
        client = self.transport.require_client()
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
            logger.warning(
                "Matrix: over %s missed events in %s; older ones stay unanswered", _GAP_LIMIT, room_id
            )
        fetched.reverse()
        logger.info("Matrix: fetched %s missed events in %s", len(fetched), room_id)
        return fetched

    # ----- receiving: translate room events into facts for the core

    def _person(self, room: MatrixRoom, user_id: str) -> Person:
        return Person(platform=self.platform, id=user_id, display_name=room.user_name(user_id) or user_id)

    def _without_mention(self, room: MatrixRoom, content: dict[str, Any], text: str) -> tuple[str, bool]:
        """The text without a mention of the bot (pill, m.mentions, user id, name), and whether it had one."""
        localpart = self.user_id.partition(":")[0].lstrip("@")
        names = [
            self.user_id,
            localpart,
            room.user_name(self.user_id) or "",
            *pill_labels(content, self.user_id),
        ]
        stripped, named = strip_mention(text, names)
        mentioned = named or mentions_user(content, self.user_id)
        return (stripped if mentioned else text), mentioned

    async def to_incoming(self, room: MatrixRoom, event: RoomMessageText) -> Incoming | None:
        """A text message as an Incoming: mentions and replies to the bot's messages are reported, not judged.

        None for edits of earlier messages and messages left empty.
        """
        content: dict[str, Any] = event.source.get("content", {})
        if is_edit(content):
            return None  # edits of earlier messages are not new questions
        chat = self.transport.chat(room)
        thread_root, replied = relation_of(content)
        text, mentioned = strip_reply_fallback(event.body), False
        if not chat.is_private:
            text, mentioned = self._without_mention(room, content, text)
        text = clean_input(text)
        if not text:
            return None
        reply_to = None
        if replied:
            ours = await self._local().sent(replied) is not None
            reply_to = MessageRef(chat, replied, thread_root, from_bot=ours)
        return Incoming(
            chat=chat,
            sender=self._person(room, event.sender),
            text=text,
            kind=Kind.REPLY if reply_to else Kind.MESSAGE,
            mentioned=mentioned,
            message=MessageRef(chat, event.event_id, thread_root),
            reply_to=reply_to,
            raw=event,
        )

    def edit_to_incoming(self, room: MatrixRoom, event: RoomMessageText) -> Incoming | None:
        """An m.replace edit as the core's EDIT of the original message (None when it carries no text)."""
        content: dict[str, Any] = event.source.get("content", {})
        original = (content.get("m.relates_to") or {}).get("event_id")
        new = content.get("m.new_content")
        body = new.get("body") if isinstance(new, dict) else None
        if not isinstance(original, str) or not isinstance(body, str):
            return None
        chat = self.transport.chat(room)
        return Incoming(
            chat=chat,
            sender=self._person(room, event.sender),
            text=clean_input(body),
            kind=Kind.EDIT,
            message=MessageRef(chat, original),
            raw=event,
        )

    async def _on_redaction(self, room: MatrixRoom, event: RedactionEvent) -> None:
        """A message was redacted: the core hands it to the handler for that message's subject, if any."""
        chat = self.transport.chat(room)
        incoming = Incoming(
            chat,
            self._person(room, event.sender),
            "",
            kind=Kind.DELETE,
            message=MessageRef(chat, event.redacts),
        )
        await self._handle(incoming)  # edits and deletions are never answered

    async def _on_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        if is_edit(event.source.get("content", {})):
            edit = self.edit_to_incoming(room, event)
            if edit is not None:
                await self._handle(edit)  # edits and deletions are never answered
            return
        incoming = await self.to_incoming(room, event)
        if incoming is None:
            return
        replies = await self._handle(incoming)
        if not replies:
            return
        thread_root = incoming.message.thread_id if incoming.message else None
        # Groups: answers quote the question so it is clear whom they answer; direct chats: only replies do.
        quote = event.event_id if (incoming.reply_to or not incoming.chat.is_private) else None
        where = _Where(room.room_id, event.event_id, reply_to=quote, thread_root=thread_root)
        for index, reply in enumerate(replies):
            await self._answer(incoming, reply, where, index)

    async def reaction_to_incoming(self, room: MatrixRoom, event: ReactionEvent) -> Incoming:
        """A reaction: a button press where the reacted message's buttons are known, else a bare reaction."""
        chat = self.transport.chat(room)
        key = emoji_key(event.key)
        buttons = await self._local().sent(event.reacts_to)
        reacted = MessageRef(chat, event.reacts_to, from_bot=buttons is not None)
        action = (buttons or {}).get(key)
        return Incoming(
            chat=chat,
            sender=self._person(room, event.sender),
            text=action or key,
            kind=Kind.BUTTON if action else Kind.REACTION,
            message=MessageRef(chat, event.event_id),
            reply_to=reacted,
            raw=event,
        )

    async def _on_reaction(self, room: MatrixRoom, event: ReactionEvent) -> None:
        incoming = await self.reaction_to_incoming(room, event)
        replies = await self._handle(incoming)
        private = incoming.chat.is_private
        for index, reply in enumerate(replies):
            if private and reply.edit and reply.to is None and incoming.is_button:
                where = _Where(room.room_id, event.event_id, edit_of=event.reacts_to)
            elif private or reply.to is not None:
                where = _Where(room.room_id, event.event_id, reply_to=event.reacts_to)
            else:
                # A reaction is quiet; its answer goes to the reacting member, not to the whole group.
                reply = replace(reply, to=ChatRef(self.platform, event.sender, is_private=True))
                where = _Where(room.room_id, event.event_id)
            await self._answer(incoming, reply, where, index)

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        try:
            return list(await self.ports.handle(incoming))
        except Exception:
            logger.exception("Matrix: the core failed on a message in %s", incoming.chat.id)
            return []

    async def _answer(self, incoming: Incoming, reply: Reply, where: _Where, index: int) -> None:
        """Send one answer; one that cannot be sent now goes to the outbox instead of being lost."""
        target = reply.to
        try:
            if target is not None and target.id != where.room_id:
                await self.transport.deliver(target, reply, paced=False)
            else:
                await self.transport.send_reply(
                    where.room_id,
                    reply,
                    reply_to=where.reply_to,
                    thread_root=where.thread_root,
                    edit_of=where.edit_of,
                )
        except Unreachable as exc:
            logger.warning("Matrix: answer to %s not deliverable: %s", (target or incoming.chat).id, exc)
            if target is not None and target.id.startswith("@"):
                await self.ports.reachability.mark_unreachable(self.platform, target.id)
        except Rejected as exc:
            logger.error(
                "Matrix: the homeserver refused an answer to %s: %s", (target or incoming.chat).id, exc
            )
        except TemporaryFailure as exc:
            chat = target or ChatRef(self.platform, where.room_id, incoming.chat.is_private)
            rest = exc.unsent or reply
            if not rest.html.strip():
                logger.warning(
                    "Matrix: a file for %s was not delivered (%s); offered again on request", chat.id, exc
                )
                return
            logger.warning("Matrix: answer to %s deferred to the outbox: %s", chat.id, exc)
            await self.ports.deferral.defer(
                chat, rest, key=f"matrix-answer:{where.event_id}:{index}", retry_after=exc.retry_after
            )

    # ----- rooms

    async def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        inviter, is_direct = None, False
        for event in invite_state:
            if (
                isinstance(event, InviteMemberEvent)
                and event.state_key == self.user_id
                and event.membership == "invite"
            ):
                inviter, is_direct = event.sender, bool(event.content.get("is_direct"))
        client = self.transport.require_client()
        if inviter is None or not self.is_allowed(inviter):
            logger.info("Matrix: declining invite to %s from %s (not allowed)", room_id, inviter)
            await self.transport.call("reject invite", lambda: client.room_leave(room_id))
            return
        response = await self.transport.call("join", lambda: client.join(room_id))
        if isinstance(response, JoinError):
            logger.warning("Matrix: could not join %s: %s", room_id, response.status_code)
            return
        logger.info("Matrix: joined %s on invite from %s", room_id, inviter)
        if is_direct:
            self.transport.remember_direct(inviter, room_id)
            await self._reachable_again(inviter)

    async def _reachable_again(self, user_id: str) -> None:
        """Whoever opens a direct chat with the bot can be reached there again (after leaving the last)."""
        try:
            await self.ports.reachability.mark_reachable(self.platform, user_id)
        except Exception:
            logger.exception("Matrix: could not record that %s can be reached again", user_id)

    def is_allowed(self, user_id: str) -> bool:
        """Whether invites from this user are accepted: listed user ids, ":server" suffixes or "*"."""
        return any(
            entry == "*" or entry == user_id or (entry.startswith(":") and user_id.endswith(entry))
            for entry in self.allowed
        )

    async def _leave_if_alone(self, room: MatrixRoom) -> None:
        if room.joined_count > 1 or room.invited_count > 0 or room.room_id not in self.transport.rooms_seen:
            return
        client = self.transport.require_client()
        logger.info("Matrix: leaving %s, nobody else is in it", room.room_id)
        await self.transport.call("leave", lambda: client.room_leave(room.room_id))
        await self.transport.call("forget", lambda: client.room_forget(room.room_id))
        self.transport.forget_room(room.room_id)
