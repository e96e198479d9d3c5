"""Platform-neutral chat model: what a person sent (Incoming) and what the assistant answers (Reply)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum


class Platform(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    MATRIX = "matrix"


class Kind(StrEnum):
    """What an Incoming is: a typed message, a button press, a reaction, or a reply to another message."""

    MESSAGE = "message"
    BUTTON = "button"
    REACTION = "reaction"
    REPLY = "reply"
    JOINED = "joined"  # the bot was added to the chat (by `sender`; `text` is the chat's title)
    LEFT = "left"  # the bot was removed from the chat, or left it
    # A person changed (`text` is the new text) or removed one of their messages (`message` says which).
    # Both reach only the handler declared for that message's subject, and are never answered otherwise.
    EDIT = "edit"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat, room or channel on one platform."""

    platform: str
    id: str
    is_private: bool = True
    channel: bool = False  # a broadcast channel: the bot posts, members read (and comment elsewhere)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class Person:
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
    """A message on a platform, for replies, threads and edits.

    `from_bot` is what the platform says about its author: True when it is one of the assistant's own
    messages (Telegram tells; on Matrix the adapter knows the events it sent).
    """

    chat: ChatRef
    message_id: str
    thread_id: str | None = None
    from_bot: bool = False


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message, button press, reaction or reply from a person.

    `text` is the message text, the button's action for a press, or the emoji for a reaction.
    `mentioned` says the message named the bot (an @mention or a pill; the adapter removed it from `text`).
    `reply_to` is the message this one answers or reacts to. Whether a group message is meant for the
    bot is decided by the core from these facts, the same on every platform.
    """

    chat: ChatRef
    sender: Person
    text: str
    kind: Kind = Kind.MESSAGE
    mentioned: bool = False
    message: MessageRef | None = None
    reply_to: MessageRef | None = None
    raw: object = field(default=None, repr=False, compare=False)

    @property
    def is_button(self) -> bool:
        return self.kind is Kind.BUTTON


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
    `subject` says what the message is about ("event:<slug>", "impulse:<slug>"); it is recorded with the
    platform's message id when sent, so replies and reactions to it reach the handler for that subject.
    `in_reply_to` answers that message of the recipient chat (a platform message id); `thread` puts the
    answer into the thread started by that message, where the platform has threads (Matrix `m.thread`;
    Telegram threads by replying). `replaces` changes the text of one of our messages instead of sending a
    new one; `deletes` removes one of our messages (then `html` is what stands in its place where the
    platform cannot delete it any more).
    """

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: Attachment | None = None
    to: ChatRef | None = None
    edit: bool = False
    subject: str | None = None
    in_reply_to: str | None = None
    thread: str | None = None
    replaces: str | None = None
    deletes: str | None = None

    @property
    def plain(self) -> str:
        from bot.text import html_to_plain

        return html_to_plain(self.html)


def about(kind: str, ident: str) -> str:
    """The subject of a message about one thing, e.g. about("event", slug) -> "event:<slug>"."""
    return f"{kind}:{ident}"


def split_subject(subject: str | None) -> tuple[str | None, str | None]:
    """("event", "<slug>") for "event:<slug>"; (None, None) when there is no subject."""
    if not subject or ":" not in subject:
        return None, None
    kind, _, ident = subject.partition(":")
    return kind, ident or None


def emoji_key(text: str) -> str:
    """An emoji compared without variation selectors (clients send "ℹ️" and "ℹ" alike)."""
    return text.replace("\ufe0f", "").strip()


def leading_emoji(label: str) -> str | None:
    """The emoji a button label starts with ("✅ Anmelden" -> "✅"), or None."""
    first = label.split(maxsplit=1)[0] if label.strip() else ""
    if any(ch.isascii() and ch.isalnum() for ch in first):
        return None
    # "ℹ️" is a letter followed by the emoji variation selector; most emoji are symbols (So).
    if "\ufe0f" in first or any(unicodedata.category(ch) == "So" for ch in first):
        return emoji_key(first) or None
    return None


def reaction_actions(reply: Reply) -> dict[str, str]:
    """Emoji -> action for the buttons whose label starts with an emoji used once in the reply.

    Platforms without buttons (Matrix) let a member react with that emoji instead of pressing.
    """
    found: dict[str, list[str]] = {}
    for row in reply.buttons:
        for button in row:
            emoji = leading_emoji(button.label)
            if emoji:
                found.setdefault(emoji, []).append(button.action)
    return {emoji: actions[0] for emoji, actions in found.items() if len(actions) == 1}
