"""Matrix message content: replies as m.notice with HTML, button hints, reactions, cleaning incoming text."""

from __future__ import annotations

import html
import re
from typing import Any

from bot.chat import Button, Reply
from bot.text import html_to_matrix, html_to_plain

# Reacting with one of these to a message about an event runs the command for that event as the reacting user.
REACTION_COMMANDS: dict[str, str] = {"✅": "anmelden", "❌": "abmelden", "📅": "kalender"}
_COMMAND_REACTIONS = {command: emoji for emoji, command in REACTION_COMMANDS.items()}
# English command names the core also accepts, mapped to the German ones the reactions stand for.
_ALIASES = {"register": "anmelden", "cancel": "abmelden", "calendar": "kalender"}

_REPLY_FALLBACK_HTML = re.compile(r"<mx-reply>.*?</mx-reply>", re.S)


def subject_slug(subject: str | None) -> str | None:
    """The event slug of a message subject such as "event:<slug>"."""
    if subject and subject.startswith("event:"):
        return subject.removeprefix("event:") or None
    return None


def reaction_action(key: str, subject: str | None) -> str | None:
    """The command line a reaction stands for on a message with this subject, or None."""
    slug = subject_slug(subject)
    command = REACTION_COMMANDS.get(key.replace("\ufe0f", ""))
    if slug is None or command is None:
        return None
    return f"/{command} {slug}"


def as_bang(action: str) -> str:
    """A command line as typed in Matrix ("!" because Matrix clients take "/" for their own commands)."""
    return "!" + action.removeprefix("/") if action.startswith("/") else action


def button_hint(button: Button, slug: str | None) -> str:
    """How to do on Matrix what a button does elsewhere: an emoji to react with, or the command to type."""
    parts = button.action.split()
    command = parts[0].removeprefix("/").lower() if parts else ""
    command = _ALIASES.get(command, command)
    emoji = _COMMAND_REACTIONS.get(command)
    if emoji and slug is not None and parts[1:] == [slug]:
        return f"{emoji} = {button.label}"
    return f"{button.label}: {as_bang(button.action)}"


def hints_line(reply: Reply) -> str:
    """All buttons of a reply as one line of hints, or "" if it has none."""
    slug = subject_slug(reply.subject)
    hints = [button_hint(button, slug) for row in reply.buttons for button in row]
    return " · ".join(hints)


def notice_content(reply: Reply) -> dict[str, Any]:
    """The m.notice content for a reply: HTML `formatted_body`, plain `body`, buttons as a line of hints."""
    markup = reply.html
    hints = hints_line(reply)
    if hints:
        markup = f"{markup}\n\n<i>{html.escape(hints, quote=False)}</i>"
    return {
        "msgtype": "m.notice",
        "body": html_to_plain(markup),
        "format": "org.matrix.custom.html",
        "formatted_body": html_to_matrix(markup),
    }


def add_relation(content: dict[str, Any], *, reply_to: str | None, thread_root: str | None) -> None:
    """Answer in the thread the question came from, or as a reply to it."""
    if thread_root:
        relation: dict[str, Any] = {"rel_type": "m.thread", "event_id": thread_root, "is_falling_back": True}
        if reply_to:
            relation["m.in_reply_to"] = {"event_id": reply_to}
        content["m.relates_to"] = relation
    elif reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}


def file_content(filename: str, mime_type: str, size: int, *, url: str | None = None,
                 encrypted_file: dict[str, Any] | None = None) -> dict[str, Any]:
    """An m.file message: `url` in plain rooms, the encrypted `file` object in encrypted ones."""
    content: dict[str, Any] = {"msgtype": "m.file", "body": filename, "filename": filename,
                               "info": {"mimetype": mime_type, "size": size}}
    if encrypted_file is not None:
        content["file"] = encrypted_file
    else:
        content["url"] = url
    return content


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted "> <@user> ..." lines a rich reply starts with."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


def strip_mention(text: str, names: list[str]) -> tuple[str, bool]:
    """Remove a mention of the bot (user id, display name, localpart) and say whether there was one."""
    found = False
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        pattern = re.compile(rf"(^|(?<=\s))@?{re.escape(name)}(?=$|[\s:,.!?])[:,]?\s*", re.I)
        text, count = pattern.subn(" ", text)
        found = found or count > 0
    return re.sub(r"[ \t]{2,}", " ", text).strip(), found


def mentions_user(content: dict[str, Any], user_id: str) -> bool:
    """Whether the message mentions the user intentionally (m.mentions) or with a pill link."""
    mentions = content.get("m.mentions")
    if isinstance(mentions, dict) and user_id in (mentions.get("user_ids") or []):
        return True
    formatted = content.get("formatted_body")
    if isinstance(formatted, str):
        formatted = _REPLY_FALLBACK_HTML.sub("", formatted)
        return f"matrix.to/#/{user_id}" in formatted
    return False


def relation_of(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """(thread root, replied-to event id) of a message's m.relates_to."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None, None
    thread_root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
    in_reply = relates.get("m.in_reply_to")
    reply_to = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    if thread_root and relates.get("is_falling_back"):
        reply_to = None  # a plain message in a thread, not a reply to one message in it
    return (str(thread_root) if thread_root else None), (str(reply_to) if reply_to else None)
