"""A minimal matrix-nio echo bot (the benchmark's baseline): joins invites, answers each text with a notice.

    python bench/matrix_echo_bot.py HOMESERVER USER_ID ACCESS_TOKEN DEVICE_ID STORE_DIR [PAD]

With PAD both bodies of the answer get PAD more characters, to compare at equal message sizes.
"""

from __future__ import annotations

import asyncio
import sys

from nio import AsyncClient, AsyncClientConfig, InviteMemberEvent, MatrixRoom, RoomMessageText


async def main(homeserver: str, user_id: str, token: str, device_id: str, store: str, pad: str = "0") -> None:
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = AsyncClient(homeserver, user_id, device_id=device_id, store_path=store, config=config)
    client.restore_login(user_id, device_id, token)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    padding = " ·" * (int(pad) // 2)

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == user_id:
            return
        content = {"msgtype": "m.notice", "body": event.body + padding}
        if padding:
            content.update(format="org.matrix.custom.html", formatted_body=event.body + padding)
        await client.room_send(room.room_id, "m.room.message", content, ignore_unverified_devices=True)

    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    await client.sync(timeout=0, full_state=True)  # skip history, as our bot does on first start
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
