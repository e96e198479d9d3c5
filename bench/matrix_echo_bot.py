"""A minimal matrix-nio echo bot (the benchmark's baseline): joins invites, answers each text with a notice.

    python bench/matrix_echo_bot.py HOMESERVER USER_ID ACCESS_TOKEN DEVICE_ID STORE_DIR
"""

from __future__ import annotations

import asyncio
import sys

from nio import AsyncClient, AsyncClientConfig, InviteMemberEvent, MatrixRoom, RoomMessageText


async def main(homeserver: str, user_id: str, token: str, device_id: str, store: str) -> None:
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = AsyncClient(homeserver, user_id, device_id=device_id, store_path=store, config=config)
    client.restore_login(user_id, device_id, token)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender != user_id:
            await client.room_send(room.room_id, "m.room.message", {"msgtype": "m.notice", "body": event.body},
                                   ignore_unverified_devices=True)

    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    await client.sync(timeout=0, full_state=True)  # skip history, as our bot does on first start
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
