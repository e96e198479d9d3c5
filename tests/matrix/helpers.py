"""Helpers for the Matrix tests: syncing test users, waiting for the bot's answers, a stand-in core."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    Event,
    InviteMemberEvent,
    LocalProtocolError,
    MegolmEvent,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)
from nio.event_builders import EnableEncryptionBuilder


async def sync_once(client: AsyncClient, timeout_ms: int = 0) -> SyncResponse:
    """One sync plus the key work nio's sync_forever does between syncs."""
    response = await client.sync(timeout=timeout_ms, full_state=client.next_batch is None or None)
    assert isinstance(response, SyncResponse), response
    try:
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
    except LocalProtocolError:
        pass
    return response


async def wait_for_event(
    client: AsyncClient, room_id: str, match: Callable[[Event], bool], within: float = 15.0
) -> Event:
    """Sync until an event in the room matches; fails after `within` seconds."""
    deadline = time.monotonic() + within
    undecrypted: list[MegolmEvent] = []
    while time.monotonic() < deadline:
        response = await sync_once(client, timeout_ms=500)
        info = response.rooms.join.get(room_id)
        events = [*_decrypt_late(client, undecrypted), *(info.timeline.events if info else [])]
        for event in events:
            if isinstance(event, MegolmEvent):
                undecrypted.append(event)
            elif match(event):
                return event
    raise AssertionError(f"no matching event in {room_id} within {within} s")


def _decrypt_late(client: AsyncClient, pending: list[MegolmEvent]) -> list[Event]:
    """Events whose room key arrived after them (as Element retries them)."""
    decrypted = []
    for event in list(pending):
        try:
            plain = client.decrypt_event(event)
        except Exception:
            continue
        pending.remove(event)
        decrypted.append(plain)
    return decrypted


async def collect_events(
    client: AsyncClient,
    room_id: str,
    seconds: float,
    match: Callable[[Event], bool],
    *,
    expect: int | None = None,
    settle: float = 1.0,
) -> list[Event]:
    """Matching events arriving within `seconds`; with `expect`, stop `settle` s after that many arrived
    (long enough for a duplicate to show up)."""
    found: list[Event] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = await sync_once(client, timeout_ms=300)
        info = response.rooms.join.get(room_id)
        found.extend(e for e in (info.timeline.events if info else []) if match(e))
        if expect is not None and len(found) >= expect:
            deadline = min(deadline, time.monotonic() + settle)
            expect = None
    return found


def from_bot(bot_id: str, *, msgtype: str = "m.notice") -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        content = event.source.get("content", {})
        return event.sender == bot_id and content.get("msgtype") == msgtype

    return match


async def create_room(
    client: AsyncClient, invite: list[str], *, direct: bool, encrypted: bool, name: str | None = None
) -> str:
    initial_state = [EnableEncryptionBuilder().as_dict()] if encrypted else []
    response = await client.room_create(
        is_direct=direct,
        invite=invite,
        name=name,
        initial_state=initial_state,
        preset=RoomPreset.trusted_private_chat if direct else RoomPreset.private_chat,
    )
    assert isinstance(response, RoomCreateResponse), response
    return str(response.room_id)


async def wait_joined(client: AsyncClient, room_id: str, user_id: str, within: float = 15.0) -> None:
    """Sync until the user is a joined member of the room (and, in encrypted rooms, their keys are known)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await sync_once(client, timeout_ms=300)
        room = client.rooms.get(room_id)
        if room is not None and user_id in room.users and user_id not in room.invited_users:
            await sync_once(client)
            return
    raise AssertionError(f"{user_id} did not join {room_id} within {within} s")


async def accept_invites(client: AsyncClient, within: float = 15.0) -> list[tuple[str, str]]:
    """Sync until an invite arrives; join it; returns [(room id, inviter)]."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await sync_once(client, timeout_ms=300)
        joined = []
        for room_id, info in response.rooms.invite.items():
            inviter = next(
                e.sender
                for e in info.invite_state
                if isinstance(e, InviteMemberEvent) and e.state_key == client.user_id
            )
            await client.join(room_id)
            joined.append((room_id, inviter))
        if joined:
            return joined
    raise AssertionError(f"no invite for {client.user_id} within {within} s")


async def say(client: AsyncClient, room_id: str, text: str, **extra: Any) -> str:
    content = {"msgtype": "m.text", "body": text, **extra}
    response = await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response
    return str(response.event_id)


async def download(client: AsyncClient, mxc: str) -> bytes:
    """Fetch media through the authenticated media API (Synapse no longer serves new media without it)."""
    import aiohttp

    server, _, media_id = mxc.removeprefix("mxc://").partition("/")
    url = f"{client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {client.access_token}"}) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def react(client: AsyncClient, room_id: str, event_id: str, key: str) -> None:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
    response = await client.room_send(room_id, "m.reaction", content, ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response


def relation(event: Event) -> dict[str, Any]:
    relates = event.source.get("content", {}).get("m.relates_to")
    return relates if isinstance(relates, dict) else {}
