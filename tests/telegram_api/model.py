"""What the Bot API test server knows: users, chats, the bot's messages in them, callback queries."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.telegram_api.server import BotApiServer


@dataclass
class SentDocument:
    filename: str
    mime_type: str
    data: bytes = field(repr=False)


@dataclass
class SentMessage:
    """A message the bot sent, as a test asserts on it; `edits` keeps earlier versions of the text."""

    chat_id: int
    message_id: int
    text: str  # plain text after entity parsing (or the caption of a document)
    raw_text: str  # what the bot sent, e.g. the HTML
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    document: SentDocument | None = None
    reply_to_message_id: int | None = None
    edits: list[str] = field(default_factory=list)
    date: int = field(default_factory=lambda: int(time.time()))
    edit_date: int | None = None
    deleted: bool = False  # the bot deleted it (deleteMessage)

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        """Inline keyboard as rows of (label, callback_data or url)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(b["text"], b.get("callback_data") or b.get("url", "")) for b in row] for row in rows]

    @property
    def button_labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float = field(default_factory=time.monotonic)
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False


@dataclass
class Chat:
    """A private chat, group (supergroup) or channel."""

    id: int
    type: str  # private | group | supergroup | channel
    title: str = ""
    username: str | None = None
    bot_is_admin: bool = False
    bot_is_member: bool = True
    inbox: list[SentMessage] = field(default_factory=list)  # what the bot sent here, in order
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # every message as Bot API JSON
    next_message_id: int = 1
    migrated_to: int | None = None  # a basic group upgraded to this supergroup
    # A channel's discussion group (and the group's channel): channel posts are forwarded into it.
    linked_chat_id: int | None = None
    forwards: dict[int, int] = field(default_factory=dict)  # channel post id -> its forward here

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.title
        else:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        return data

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    @property
    def last(self) -> SentMessage:
        return self.inbox[-1]

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.inbox if not m.deleted]


@dataclass
class User:
    """A scripted Telegram user; its methods create updates for the bot as the real client would."""

    server: BotApiServer = field(repr=False)
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "de"
    blocked_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    @property
    def chat(self) -> Chat:
        """The private chat with the bot (opened on first use, as pressing Start does)."""
        return self.server.private_chat(self)

    def send_text(
        self, text: str, *, chat: Chat | None = None, reply_to: SentMessage | dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.server.user_message(self, chat or self.chat, text, reply_to=reply_to)

    def send_command(
        self, command: str, args: str = "", *, chat: Chat | None = None, with_botname: bool = False
    ) -> dict[str, Any]:
        name = f"/{command}@{self.server.bot_username}" if with_botname else f"/{command}"
        return self.send_text(f"{name} {args}".strip(), chat=chat)

    def start(self, payload: str | None = None) -> dict[str, Any]:
        """Open the bot through t.me/<bot>?start=<payload> (or plain Start)."""
        return self.send_command("start", payload or "")

    def mention_bot(self, text: str, *, chat: Chat) -> dict[str, Any]:
        return self.send_text(f"@{self.server.bot_username} {text}", chat=chat)

    def comment(
        self, post: SentMessage, text: str, *, reply_to: SentMessage | dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Comment on a channel post (in its discussion group), or answer a comment in its thread."""
        return self.server.comment(self, post, text, reply_to=reply_to)

    def edit(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """Edit one of this user's messages; the bot gets an edited_message update."""
        return self.server.edit_user_message(self, message, text)

    def press(self, message: SentMessage, button: str | int = 0) -> CallbackQueryRecord:
        """Press an inline button of a bot message, chosen by its label or flat index."""
        return self.server.press(self, message, button)

    def forge_press(self, message: SentMessage, data: str) -> CallbackQueryRecord:
        """Send callback data of our choosing for a bot message, as a modified client could."""
        return self.server.press(self, message, 0, data=data)

    def block(self) -> None:
        """Block the bot; Telegram tells the bot with a my_chat_member update (status "kicked")."""
        self.blocked_bot = True
        self.server.membership_changed(self, "member", "kicked")

    def unblock(self) -> None:
        """Unblock the bot (e.g. by pressing Restart); the bot learns it from my_chat_member."""
        self.blocked_bot = False
        self.server.membership_changed(self, "kicked", "member")
