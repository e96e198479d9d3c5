"""Console chat: one message per line from stdin, replies as plain text with numbered buttons.

Type a button's number to press it; start a line with "^" to reply to the assistant's last message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.chat import Button, ChatRef, Incoming, Kind, MessageRef, Person, Platform, Reply
from bot.context import Ports
from bot.files import write_private

logger = logging.getLogger(__name__)

CONSOLE_CHAT = ChatRef(Platform.CONSOLE, "local", is_private=True)
CONSOLE_USER = Person(Platform.CONSOLE, "local", display_name="Konsole")
REPLY_MARK = "^"
EXIT_WORDS = ("exit", "quit", "/exit", "/quit")


def read_line(source: TextIO) -> str:
    """One line of input; bytes that are not UTF-8 become "\ufffd" instead of ending the program."""
    buffer = getattr(source, "buffer", None)
    if buffer is None:
        return source.readline()
    raw: bytes = buffer.readline()
    return raw.decode("utf-8", errors="replace")


class ConsoleAdapter:
    """Talks to one local user; also the transport for console pushes (printed with the recipient)."""

    platform = Platform.CONSOLE.value

    def __init__(self, ports: Ports, *, downloads: Path, out: TextIO | None = None) -> None:
        self.ports = ports
        self.downloads = downloads
        self.out = out or sys.stdout
        self._buttons: list[Button] = []
        self._shown = 0  # messages printed so far; their numbers are the console's message ids

    async def send(self, chat: ChatRef, reply: Reply) -> str | None:
        if chat != CONSOLE_CHAT:
            self._write(f"[→ {chat.id}]")
        return self.show(reply)

    def show(self, reply: Reply) -> str:
        """Print one reply; returns its message id (its subject is recorded for replies to it)."""
        self._shown += 1
        message_id = str(self._shown)
        self._write(reply.plain)
        if reply.attachment is not None:
            path = self.downloads / Path(reply.attachment.filename).name
            write_private(path, reply.attachment.data)  # an export lists members: for the owner only
            self._write(f"📎 {path}")
        for row in reply.buttons:
            labels = []
            for button in row:
                self._buttons.append(button)
                labels.append(f"[{len(self._buttons)}] {button.label}")
            self._write("   ".join(labels))
        self._write("")
        if reply.subject:
            self.ports.subjects.add(CONSOLE_CHAT, message_id, reply.subject)
        return message_id

    def to_incoming(self, line: str) -> Incoming:
        """A typed number presses that button of the last answers; "^ text" replies; else a message."""
        stripped = line.strip()
        if stripped.isascii() and stripped.isdigit() and len(stripped) <= 3:
            number = int(stripped)
            if 1 <= number <= len(self._buttons):
                action = self._buttons[number - 1].action
                return Incoming(CONSOLE_CHAT, CONSOLE_USER, action, kind=Kind.BUTTON)
        if stripped.startswith(REPLY_MARK) and self._shown:
            replied = MessageRef(CONSOLE_CHAT, str(self._shown), from_bot=True)
            text = stripped.removeprefix(REPLY_MARK).strip()
            return Incoming(CONSOLE_CHAT, CONSOLE_USER, text, kind=Kind.REPLY, reply_to=replied)
        return Incoming(CONSOLE_CHAT, CONSOLE_USER, line)

    async def handle_line(self, line: str) -> None:
        incoming = self.to_incoming(line)
        self._buttons = []
        for reply in await self.ports.handle(incoming):
            if reply.to is not None and reply.to != CONSOLE_CHAT:
                await self.send(reply.to, reply)
            else:
                self.show(reply)

    async def run(self, source: TextIO, *, after_each: Callable[[], Awaitable[object]] | None = None) -> int:
        """Chat until end of input (Ctrl-D) or 'exit'; `after_each` runs after every answered line."""
        interactive = source.isatty()
        for reply in await self.ports.handle(Incoming(CONSOLE_CHAT, CONSOLE_USER, "/start")):
            self.show(reply)
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                self.out.write("> ")
                self.out.flush()
            line = await loop.run_in_executor(None, read_line, source)
            if not line or line.strip().lower() in EXIT_WORDS:
                return 0
            if not interactive:
                self._write(f"> {line.rstrip()}")
            await self.handle_line(line.rstrip("\n"))
            if after_each is not None:
                await after_each()

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
