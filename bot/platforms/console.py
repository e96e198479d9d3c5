"""Console chat: one message per line from stdin, replies as plain text with numbered buttons."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, TextIO

from bot.chat import Button, ChatRef, Incoming, Platform, Reply, Sender

if TYPE_CHECKING:
    from bot.app import AppContext

logger = logging.getLogger(__name__)

CONSOLE_CHAT = ChatRef(Platform.CONSOLE, "local", is_private=True)
CONSOLE_USER = Sender(Platform.CONSOLE, "local", display_name="Konsole")


class ConsoleAdapter:
    """Talks to one local user; also the outbox sender for console messages (printed with the recipient)."""

    platform = Platform.CONSOLE.value

    def __init__(self, ctx: AppContext, *, out: TextIO | None = None) -> None:
        self.ctx = ctx
        self.out = out or sys.stdout
        self._buttons: list[Button] = []

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        if chat != CONSOLE_CHAT:
            self._write(f"[→ {chat.id}]")
        self.show(reply)
        return None

    def show(self, reply: Reply) -> None:
        self._write(reply.plain)
        if reply.attachment is not None:
            folder = self.ctx.settings.data_dir / "downloads"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / reply.attachment.filename
            path.write_bytes(reply.attachment.data)
            self._write(f"📎 {path}")
        for row in reply.buttons:
            labels = []
            for button in row:
                self._buttons.append(button)
                labels.append(f"[{len(self._buttons)}] {button.label}")
            self._write("   ".join(labels))
        self._write("")

    def to_incoming(self, line: str) -> Incoming:
        """A typed number presses that button of the last answers; anything else is a message."""
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self._buttons):
            action = self._buttons[int(stripped) - 1].action
            return Incoming(CONSOLE_CHAT, CONSOLE_USER, action, is_button=True)
        return Incoming(CONSOLE_CHAT, CONSOLE_USER, line)

    async def handle_line(self, line: str) -> None:
        incoming = self.to_incoming(line)
        self._buttons = []
        for reply in await self.ctx.handle(incoming):
            if reply.to is not None and reply.to != CONSOLE_CHAT:
                await self.send(reply.to, reply)
            else:
                self.show(reply)

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


async def run_console(ctx: AppContext, *, stdin: TextIO | None = None) -> int:
    """Chat on the terminal until end of input (Ctrl-D) or 'exit'."""
    from scheduler.outbox import OutboxWorker

    source = stdin or sys.stdin
    adapter = ConsoleAdapter(ctx)
    ctx.senders[adapter.platform] = adapter
    worker = OutboxWorker(ctx)
    worker.start()
    interactive = source.isatty()
    for reply in await ctx.handle(Incoming(CONSOLE_CHAT, CONSOLE_USER, "/start")):
        adapter.show(reply)
    loop = asyncio.get_running_loop()
    try:
        while True:
            if interactive:
                adapter.out.write("> ")
                adapter.out.flush()
            line = await loop.run_in_executor(None, source.readline)
            if not line:
                break
            if line.strip().lower() in ("exit", "quit", "/exit", "/quit"):
                break
            if not interactive:
                adapter._write(f"> {line.rstrip()}")
            await adapter.handle_line(line.rstrip("\n"))
            await worker.drain_once()
    finally:
        await worker.stop()
    return 0
