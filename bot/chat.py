"""Platform-neutral chat model: what a person sent (Incoming) and what the assistant answers (Reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Platform(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    MATRIX = "matrix"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat, room or channel on one platform."""

    platform: str
    id: str
    is_private: bool = True

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class Sender:
    """The person behind an Incoming; `language` is the platform's hint (e.g. Telegram's language_code)."""

    platform: str
    id: str
    display_name: str = ""
    language: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message on a platform, for replies, threads and edits."""

    chat: ChatRef
    message_id: str
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message, command or button press from a person.

    `text` is the message text, or the button's action for a press (`is_button=True`).
    `addressed` says whether a group message was meant for the bot (command, mention, reply to it);
    adapters set it, the router ignores unaddressed group messages.
    """

    chat: ChatRef
    sender: Sender
    text: str
    is_button: bool = False
    addressed: bool = True
    message: MessageRef | None = None
    reply_to: MessageRef | None = None
    raw: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Button:
    """A button; `action` is a command line such as "/anmelden webtalk-thinius" run as the presser."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    mime_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer.

    `html` uses Telegram's HTML subset (b i u s a code pre blockquote, newlines).
    `to` sends it to another chat (e.g. a direct message to a promoted waitlist member);
    `None` means the chat the request came from; a private `ChatRef` whose id is a user id means a direct
    message to that user (adapters find or open the direct chat). `edit` asks the adapter to edit the
    message whose button was pressed instead of sending a new one, where the platform can.
    """

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: Attachment | None = None
    to: ChatRef | None = None
    edit: bool = False
    subject: str | None = None  # what the message is about, e.g. "event:<slug>"; recorded when sent

    @property
    def plain(self) -> str:
        from bot.text import html_to_plain

        return html_to_plain(self.html)
