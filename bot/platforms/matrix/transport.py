"""Sending on Matrix: notices, files, edits, direct chats, within the server's rate limits; nio's client."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.client_exceptions import ClientConnectionError
from nio import (
    AsyncClient,
    ErrorResponse,
    KeysQueryResponse,
    LocalProtocolError,
    MatrixRoom,
    ProfileGetError,
    RoomCreateError,
    RoomPreset,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from nio.event_builders import EnableEncryptionBuilder

from bot.chat import Attachment, ChatRef, Platform, Reply, reaction_actions
from bot.context import SubjectLog
from bot.delivery import Rejected, TemporaryFailure, Unreachable
from bot.metrics import FLOOD_WAIT_SECONDS, FLOOD_WAITS
from bot.platforms.matrix.render import add_relation, edit_content, file_content, notice_content
from bot.platforms.matrix.session import DirectRooms, LocalStore
from bot.text import fold

logger = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_ERRORS = (ClientConnectionError, asyncio.TimeoutError, TimeoutError)
# Answers that say the member or room cannot be reached: pushes to them stop until they come back.
_GONE = {"M_FORBIDDEN", "M_NOT_FOUND", "M_USER_DEACTIVATED"}
# Answers that refuse this one message for good (the recipient is fine): not retried, nobody marked.
_REJECTED = {"M_INVALID_PARAM", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE", "M_BAD_STATE"}
# Everything else (M_UNKNOWN, which Synapse also uses for its internal errors, 5xx, no answer) is temporary,
# unless the HTTP status is 403 or 404.


class MatrixClient(AsyncClient):
    """nio's client with one lock between applying sync and key-query responses and encrypted sends.

    Applying a sync or a key query may invalidate a room's outbound Megolm session (membership, new devices);
    if that happens while a send is sharing the session, nio encrypts with a fresh session nobody received.
    Encrypted sends run in `crypto_section()`, so each send shares and uses one consistent session; requests
    nio makes inside such a send (its own key query) do not wait for the lock their task already holds.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crypto_lock = asyncio.Lock()
        self._lock_owner: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def crypto_section(self) -> AsyncIterator[None]:
        async with self.crypto_lock:
            self._lock_owner = asyncio.current_task()
            try:
                yield
            finally:
                self._lock_owner = None

    def load_store(self) -> None:
        super().load_store()
        if self.store is None:
            return
        # nio rewrites the list of encrypted rooms after every sync; write only rooms it has not saved yet.
        save = self.store.save_encrypted_rooms
        saved = set(self.encrypted_rooms)

        def save_new(rooms: set[str]) -> None:
            new = set(rooms) - saved
            if new:
                save(new)
                saved.update(new)

        self.store.save_encrypted_rooms = save_new

    async def receive_response(self, response: Any) -> None:
        if (
            isinstance(response, (SyncResponse, KeysQueryResponse))
            and self._lock_owner is not asyncio.current_task()
        ):
            async with self.crypto_section():
                await super().receive_response(response)
        else:
            await super().receive_response(response)


class MatrixTransport:
    """Sends replies on Matrix: notices, files, edits, direct chats, paced and within the rate limits.

    The adapter gives it the logged-in client and the local store in `attach()`; the sync loop tells it which
    rooms a sync showed (`synced()`), for new direct chats. The direct chats are kept in the session file
    (`direct_rooms`), which an erasure on the command line may change while the bot runs.
    """

    platform = Platform.MATRIX.value

    def __init__(
        self,
        *,
        session_path: Path,
        subjects: SubjectLog,
        command_names: frozenset[str] = frozenset(),
        max_rate_wait: float = 10.0,
        push_interval: float = 0.1,
    ) -> None:
        self.direct_rooms = DirectRooms(session_path)
        self.subjects = subjects
        self.commands = frozenset(fold(name) for name in command_names)
        self.max_rate_wait = max_rate_wait
        self.push_interval = push_interval
        self.client: MatrixClient | None = None
        self.rooms_seen: set[str] = set()
        self._store: LocalStore | None = None
        self._synced = asyncio.Condition()
        self._direct_lock = asyncio.Lock()
        self._push_lock = asyncio.Lock()
        self._last_push = 0.0
        self._rate_limited_until = 0.0

    def attach(self, client: MatrixClient, store: LocalStore) -> None:
        self.client, self._store = client, store

    def detach(self) -> None:
        self.client, self._store = None, None

    def require_client(self) -> MatrixClient:
        if self.client is None:
            raise TemporaryFailure("Matrix adapter is not running")
        return self.client

    def _local(self) -> LocalStore:
        if self._store is None:
            raise TemporaryFailure("Matrix adapter is not running")
        return self._store

    def chat(self, room: MatrixRoom) -> ChatRef:
        """A room as a chat: rooms with at most two members are direct chats."""
        return ChatRef(platform=self.platform, id=room.room_id, is_private=room.member_count <= 2)

    async def synced(self, joined: Iterable[str]) -> None:
        """A sync showed these joined rooms (wakes a wait for a new direct chat)."""
        self.rooms_seen.update(joined)
        async with self._synced:
            self._synced.notify_all()

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        """Deliver one reply (the outbox's transport), paced."""
        return await self.deliver(chat, reply)

    async def deliver(self, chat: ChatRef, reply: Reply, *, paced: bool = True) -> str:
        """Send to a room, or to a user's direct chat when the chat id is a user id ("@anna:example.org")."""
        if paced:
            await self._pace()
        room_id = await self.direct_room(chat.id) if chat.id.startswith("@") else chat.id
        return await self.send_reply(room_id, reply)

    async def _pace(self) -> None:
        """Space pushes to many rooms so a digest does not run into the homeserver's rate limit."""
        async with self._push_lock:
            loop = asyncio.get_running_loop()
            wait = self._last_push + self.push_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_push = loop.time()

    async def send_reply(
        self,
        room_id: str,
        reply: Reply,
        *,
        reply_to: str | None = None,
        thread_root: str | None = None,
        edit_of: str | None = None,
    ) -> str:
        """Send one reply into a room (as a reply, in a thread, or as an edit); returns its event id.

        The reply's own `in_reply_to`, `thread`, `replaces` and `deletes` apply where the caller gives none.
        """
        client = self.require_client()
        store = self._local()
        room = client.rooms.get(room_id)
        if room is None:
            raise Unreachable(f"not a member of {room_id}")
        if reply.deletes is not None:
            return await self._redact(room_id, reply.deletes)
        edit_of = edit_of or reply.replaces
        content = notice_content(reply, commands=self.commands)
        if edit_of:
            await self._room_send(room_id, edit_content(content, edit_of))
            event_id = edit_of  # reactions keep pointing at the original message
        else:
            answered = reply_to or reply.in_reply_to
            root = thread_root or reply.thread
            add_relation(content, reply_to=answered, thread_root=root, falling_back=answered in (None, root))
            event_id = await self._room_send(room_id, content)
        if reply.buttons or not edit_of:
            store.remember_sent(event_id, reaction_actions(reply))
        if reply.attachment is not None:
            try:
                store.remember_sent(await self._send_file(room, reply.attachment, thread_root=thread_root))
            except TemporaryFailure as exc:
                # The text is out; sending it again with the file would repeat it.
                rest = replace(reply, html="", buttons=())
                raise TemporaryFailure(str(exc), retry_after=exc.retry_after, unsent=rest) from None
        if reply.subject:
            self.subjects.add(self.chat(room), event_id, reply.subject)
        return event_id

    async def _redact(self, room_id: str, event_id: str) -> str:
        """Take one of our messages back (a contribution's copy that was removed or hidden)."""
        client = self.require_client()
        response = await self.call("redact", lambda: client.room_redact(room_id, event_id))
        if isinstance(response, RoomRedactResponse):
            return event_id
        raise failure(f"redact in {room_id}", response)

    async def _room_send(self, room_id: str, content: dict[str, Any]) -> str:
        client = self.require_client()
        room = client.rooms.get(room_id)
        encrypted = room is not None and room.encrypted

        async def send_once() -> Any:
            if encrypted:  # the lock covers the request only, never a wait for the rate limit
                async with client.crypto_section():
                    return await client.room_send(
                        room_id, "m.room.message", content, ignore_unverified_devices=True
                    )
            return await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)

        try:
            response = await self.call("send", send_once)
        except LocalProtocolError as exc:
            raise Unreachable(f"cannot send to {room_id}: {exc}") from None
        if isinstance(response, RoomSendResponse):
            return str(response.event_id)
        raise failure(f"send to {room_id}", response)

    async def _send_file(self, room: MatrixRoom, attachment: Attachment, *, thread_root: str | None) -> str:
        client = self.require_client()
        encrypt = bool(room.encrypted)
        uploaded, keys = await self.call(
            "upload",
            lambda: client.upload(
                io.BytesIO(attachment.data),
                content_type=attachment.mime_type,
                filename=attachment.filename,
                encrypt=encrypt,
                filesize=len(attachment.data),
            ),
        )
        if not isinstance(uploaded, UploadResponse):
            raise failure("upload", uploaded)
        size = len(attachment.data)
        if encrypt and keys is not None:
            encrypted = {"url": uploaded.content_uri, "mimetype": attachment.mime_type, **keys}
            content = file_content(attachment.filename, attachment.mime_type, size, encrypted_file=encrypted)
        else:
            content = file_content(attachment.filename, attachment.mime_type, size, url=uploaded.content_uri)
        add_relation(content, reply_to=None, thread_root=thread_root)
        return await self._room_send(room.room_id, content)

    async def call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one request; wait out 429 M_LIMIT_EXCEEDED up to `max_rate_wait` s (logged), then give up.

        A 429 holds back every request of the adapter until the server's retry time, so that many concurrent
        pushes do not all run into the limit one after another.
        """
        loop = asyncio.get_running_loop()
        waited = 0.0
        while True:
            held = self._rate_limited_until - loop.time()
            if held > 0:
                if waited + held > self.max_rate_wait:
                    raise TemporaryFailure(f"{what}: rate limited", retry_after=held)
                await asyncio.sleep(held)
                waited += held
            try:
                response = await call()
            except NETWORK_ERRORS as exc:
                raise TemporaryFailure(f"{what}: homeserver unreachable ({type(exc).__name__})") from None
            first = response[0] if isinstance(response, tuple) else response
            if not (isinstance(first, ErrorResponse) and first.status_code == "M_LIMIT_EXCEEDED"):
                return response
            wait = (first.retry_after_ms or 1000) / 1000
            FLOOD_WAITS.labels("matrix").inc()
            FLOOD_WAIT_SECONDS.labels("matrix").inc(wait)
            self._rate_limited_until = max(self._rate_limited_until, loop.time() + wait)
            if waited + wait > self.max_rate_wait:
                logger.warning("Matrix rate limit on %s: retry after %.1f s, handing back", what, wait)
                raise TemporaryFailure(f"{what}: rate limited", retry_after=wait)
            logger.warning("Matrix rate limit on %s: waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
            waited += wait

    # ----- direct chats

    def remember_direct(self, user_id: str, room_id: str) -> None:
        """The user invited the bot to this direct chat."""
        self.direct_rooms.remember(user_id, room_id)

    def forget_room(self, room_id: str) -> None:
        """The bot left this room: it is nobody's direct chat any more."""
        self.direct_rooms.forget_room(room_id)

    async def direct_room(self, user_id: str) -> str:
        """The direct chat with a user: a known one, one shared only with them, or a new encrypted one."""
        client = self.require_client()
        async with self._direct_lock:
            known = self.direct_rooms.get(user_id)
            room = client.rooms.get(known) if known else None
            if room is not None and user_id in room.users:
                return room.room_id
            for room in client.rooms.values():
                if room.member_count == 2 and user_id in room.users:
                    self.direct_rooms.remember(user_id, room.room_id)
                    return room.room_id
            room_id = await self._open_direct(client, user_id)
            self.direct_rooms.remember(user_id, room_id)
            logger.info("Matrix: opened a direct chat %s with %s", room_id, user_id)
            return room_id

    async def _open_direct(self, client: MatrixClient, user_id: str) -> str:
        profile = await self.call("profile", lambda: client.get_profile(user_id))
        if isinstance(profile, ProfileGetError):
            raise failure(f"profile of {user_id}", profile)
        response = await self.call(
            "create direct chat",
            lambda: client.room_create(
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=[EnableEncryptionBuilder().as_dict()],
            ),
        )
        if isinstance(response, RoomCreateError):
            raise failure(f"direct chat with {user_id}", response)
        room_id = str(response.room_id)
        await self._wait_for_room(room_id, user_id)
        return room_id

    async def _wait_for_room(self, room_id: str, user_id: str, wait: float = 15.0) -> None:
        """Wait until sync shows the new room encrypted with the user invited (and their devices queried)."""
        client = self.require_client()

        def ready() -> bool:
            room = client.rooms.get(room_id)
            if room_id not in self.rooms_seen or room is None:
                return False
            return bool(room.encrypted) and user_id in room.users

        try:
            async with asyncio.timeout(wait), self._synced:
                await self._synced.wait_for(ready)
        except TimeoutError:
            raise TemporaryFailure(f"room {room_id} did not appear in sync") from None


def failure(what: str, response: Any) -> Exception:
    """The delivery error an error response stands for: rate limits and server trouble are temporary,
    only a refusal to let the bot in (M_FORBIDDEN-type) means the recipient is unreachable."""
    code = getattr(response, "status_code", None)
    retry_ms = getattr(response, "retry_after_ms", None)
    if code == "M_LIMIT_EXCEEDED":
        return TemporaryFailure(f"{what}: rate limited", retry_after=(retry_ms or 1000) / 1000)
    status = getattr(getattr(response, "transport_response", None), "status", 0) or 0
    if code in _REJECTED:
        return Rejected(f"{what}: {code}")
    if code in _GONE or status in (403, 404):
        # (Synapse answers an unknown user's profile with 404 M_UNKNOWN: the status tells.)
        return Unreachable(f"{what}: {code or status}")
    return TemporaryFailure(f"{what}: {code or status or 'error'}")
