"""Sending on Matrix: notices, files, direct chats, within the homeserver's rate limits; nio's client."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from nio.event_builders import EnableEncryptionBuilder

from bot.chat import Attachment, ChatRef, Reply
from bot.platforms.base import TemporaryFailure, Unreachable
from bot.platforms.matrix_render import (
    add_relation,
    edit_content,
    file_content,
    notice_content,
    reaction_actions,
)
from bot.platforms.matrix_session import LocalStore, MatrixSession
from bot.services.messages import SubjectRecorder

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_ERRORS = (ClientConnectionError, asyncio.TimeoutError, TimeoutError)
_GONE = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN", "M_INVALID_PARAM", "M_BAD_STATE"}


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

        self.store.save_encrypted_rooms = save_new  # type: ignore[method-assign]

    async def receive_response(self, response: Any) -> None:
        if isinstance(response, (SyncResponse, KeysQueryResponse)) \
                and self._lock_owner is not asyncio.current_task():
            async with self.crypto_section():
                await super().receive_response(response)
        else:
            await super().receive_response(response)


class Outgoing:
    """The adapter's sending half (mixed into MatrixAdapter): `send` for the outbox, answers, files."""

    platform: str
    ctx: AppContext
    client: MatrixClient | None
    max_rate_wait: float
    push_interval: float
    session_path: Path
    _session: MatrixSession
    _store: LocalStore | None
    _subjects: SubjectRecorder
    _commands: frozenset[str]
    _synced: asyncio.Condition
    _seen_rooms: set[str]
    _direct_lock: asyncio.Lock
    _push_lock: asyncio.Lock
    _last_push: float
    _rate_limited_until: float

    def _local(self) -> LocalStore:
        if self._store is None:
            raise TemporaryFailure("Matrix adapter is not running")
        return self._store

    def _require_client(self) -> MatrixClient:
        if self.client is None:
            raise TemporaryFailure("Matrix adapter is not running")
        return self.client

    def _is_private(self, room: MatrixRoom) -> bool:
        return room.member_count <= 2

    def _chat(self, room: MatrixRoom) -> ChatRef:
        return ChatRef(platform=self.platform, id=room.room_id, is_private=self._is_private(room))

    async def send(self, chat: ChatRef, reply: Reply, *, paced: bool = True) -> str | None:
        """Deliver one reply (the outbox's sender); a user id as chat id means that user's direct chat."""
        if paced:
            await self._pace()
        room_id = await self._direct_room(chat.id) if chat.id.startswith("@") else chat.id
        return await self._send_reply(room_id, reply, reply_to=None, thread_root=None)

    async def _pace(self) -> None:
        """Space pushes to many rooms so a digest does not run into the homeserver's rate limit."""
        async with self._push_lock:
            loop = asyncio.get_running_loop()
            wait = self._last_push + self.push_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_push = loop.time()

    async def _send_reply(self, room_id: str, reply: Reply, *, reply_to: str | None,
                          thread_root: str | None, edit_of: str | None = None) -> str:
        client = self._require_client()
        room = client.rooms.get(room_id)
        if room is None:
            raise Unreachable(f"not a member of {room_id}")
        content = notice_content(reply, commands=self._commands)
        if edit_of:
            await self._room_send(room_id, edit_content(content, edit_of))
            event_id = edit_of  # reactions keep pointing at the original message
        else:
            add_relation(content, reply_to=reply_to, thread_root=thread_root)
            event_id = await self._room_send(room_id, content)
        if reply.buttons:
            self._local().remember(event_id, reaction_actions(reply))
        if reply.attachment is not None:
            await self._send_file(room, reply.attachment, thread_root=thread_root)
        if reply.subject:
            self._subjects.add(self._chat(room), event_id, reply.subject)
        return event_id

    async def _room_send(self, room_id: str, content: dict[str, Any]) -> str:
        client = self._require_client()
        room = client.rooms.get(room_id)
        encrypted = room is not None and room.encrypted

        async def send_once() -> Any:
            if encrypted:  # the lock covers the request only, never a wait for the rate limit
                async with client.crypto_section():
                    return await client.room_send(room_id, "m.room.message", content,
                                                  ignore_unverified_devices=True)
            return await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)

        try:
            response = await self._call("send", send_once)
        except LocalProtocolError as exc:
            raise Unreachable(f"cannot send to {room_id}: {exc}") from None
        if isinstance(response, RoomSendResponse):
            return str(response.event_id)
        raise failure(f"send to {room_id}", response)

    async def _send_file(self, room: MatrixRoom, attachment: Attachment, *, thread_root: str | None) -> None:
        client = self._require_client()
        encrypt = bool(room.encrypted)
        uploaded, keys = await self._call("upload", lambda: client.upload(
            io.BytesIO(attachment.data), content_type=attachment.mime_type, filename=attachment.filename,
            encrypt=encrypt, filesize=len(attachment.data)))
        if not isinstance(uploaded, UploadResponse):
            raise failure("upload", uploaded)
        if encrypt and keys is not None:
            encrypted = {"url": uploaded.content_uri, "mimetype": attachment.mime_type, **keys}
            content = file_content(attachment.filename, attachment.mime_type, len(attachment.data),
                                   encrypted_file=encrypted)
        else:
            content = file_content(attachment.filename, attachment.mime_type, len(attachment.data),
                                   url=uploaded.content_uri)
        add_relation(content, reply_to=None, thread_root=thread_root)
        await self._room_send(room.room_id, content)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
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
            self._rate_limited_until = max(self._rate_limited_until, loop.time() + wait)
            if waited + wait > self.max_rate_wait:
                logger.warning("Matrix rate limit on %s: retry after %.1f s, handing back", what, wait)
                raise TemporaryFailure(f"{what}: rate limited", retry_after=wait)
            logger.warning("Matrix rate limit on %s: waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
            waited += wait

    async def _direct_room(self, user_id: str) -> str:
        """The direct chat with a user: a known one, one shared only with them, or a new encrypted one."""
        client = self._require_client()
        async with self._direct_lock:
            known = self._session.direct_rooms.get(user_id)
            room = client.rooms.get(known) if known else None
            if room is not None and user_id in room.users:
                return room.room_id
            for room in client.rooms.values():
                if room.member_count == 2 and user_id in room.users:
                    self._session.direct_rooms[user_id] = room.room_id
                    return room.room_id
            profile = await self._call("profile", lambda: client.get_profile(user_id))
            if isinstance(profile, ProfileGetError):
                raise failure(f"profile of {user_id}", profile)
            response = await self._call("create direct chat", lambda: client.room_create(
                is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat,
                initial_state=[EnableEncryptionBuilder().as_dict()]))
            if isinstance(response, RoomCreateError):
                raise failure(f"direct chat with {user_id}", response)
            room_id = str(response.room_id)
            await self._wait_for_room(room_id, user_id)
            self._session.direct_rooms[user_id] = room_id
            self._session.save(self.session_path)
            logger.info("Matrix: opened a direct chat %s with %s", room_id, user_id)
            return room_id

    async def _wait_for_room(self, room_id: str, user_id: str, wait: float = 15.0) -> None:
        """Wait until sync shows the new room encrypted with the user invited (and their devices queried)."""
        client = self._require_client()

        def ready() -> bool:
            room = client.rooms.get(room_id)
            if room_id not in self._seen_rooms or room is None:
                return False
            return bool(room.encrypted) and user_id in room.users

        try:
            async with asyncio.timeout(wait), self._synced:
                await self._synced.wait_for(ready)
        except TimeoutError:
            raise TemporaryFailure(f"room {room_id} did not appear in sync") from None


def failure(what: str, response: Any) -> Exception:
    code = getattr(response, "status_code", None)
    retry_ms = getattr(response, "retry_after_ms", None)
    if code == "M_LIMIT_EXCEEDED":
        return TemporaryFailure(f"{what}: rate limited", retry_after=(retry_ms or 1000) / 1000)
    status = getattr(getattr(response, "transport_response", None), "status", 0) or 0
    if code in _GONE or status in (403, 404):
        return Unreachable(f"{what}: {code}")
    return TemporaryFailure(f"{what}: {code or status or 'error'}")
