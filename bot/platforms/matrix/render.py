"""Matrix message content: replies as m.notice with HTML, button hints, edits, relations, incoming text."""

from __future__ import annotations

import html
import re
from typing import Any

from bot.chat import Reply, leading_emoji, reaction_actions
from bot.text import fold, html_to_plain

_REPLY_FALLBACK_HTML = re.compile(r"<mx-reply>.*?</mx-reply>", re.S)


def html_to_matrix(markup: str) -> str:
    """Turn the Telegram HTML subset into Matrix `formatted_body` (newlines become <br>)."""
    return markup.replace("\n", "<br>")


def as_bang(action: str) -> str:
    """A command line as typed in Matrix ("!" because Matrix clients take "/" for their own commands)."""
    return "!" + action.removeprefix("/") if action.startswith("/") else action


def hints(reply: Reply) -> str:
    """Buttons as text: the label to react with where its emoji is unique, else label and command."""
    by_reaction = reaction_actions(reply)
    lines = []
    for row in reply.buttons:
        parts = []
        for button in row:
            emoji = leading_emoji(button.label)
            if emoji and by_reaction.get(emoji) == button.action:
                parts.append(button.label)
            else:
                parts.append(f"{button.label} → {as_bang(button.action)}")
        lines.append(" · ".join(parts))
    return "\n".join(lines)


def bang_commands(markup: str, names: frozenset[str]) -> str:
    """Write "/hilfe" as "!hilfe" in reply text: Matrix clients would run "/hilfe" as their own command."""
    if not names:
        return markup

    def swap(match: re.Match[str]) -> str:
        return f"{match.group(1)}!{match.group(2)}" if fold(match.group(2)) in names else match.group(0)

    return _SLASH_COMMAND.sub(swap, markup)


_SLASH_COMMAND = re.compile(r"(^|[\s>(\"„«])/([A-Za-zÄÖÜäöüß]+)\b", re.M)


def notice_content(reply: Reply, *, commands: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The m.notice content for a reply: HTML `formatted_body`, plain `body`, buttons as lines of hints."""
    markup = bang_commands(reply.html, commands)
    line = hints(reply)
    if line:
        markup = f"{markup}\n\n<i>{html.escape(line, quote=False)}</i>"
    return {
        "msgtype": "m.notice",
        "body": html_to_plain(markup),
        "format": "org.matrix.custom.html",
        "formatted_body": html_to_matrix(markup),
    }


def edit_content(new: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An m.replace edit of one of the bot's messages (e.g. the consent question once answered)."""
    content = {key: value for key, value in new.items() if key != "m.relates_to"}
    content["body"] = f"* {new['body']}"
    if "formatted_body" in new:
        content["formatted_body"] = f"* {new['formatted_body']}"
    content["m.new_content"] = {key: value for key, value in new.items() if key != "m.relates_to"}
    content["m.relates_to"] = {"rel_type": "m.replace", "event_id": event_id}
    return content


def add_relation(
    content: dict[str, Any], *, reply_to: str | None, thread_root: str | None, falling_back: bool = True
) -> None:
    """Answer in the thread the question came from, or as a reply to it.

    In a thread, `falling_back` marks the reply relation as the fallback for clients without threads;
    without it, the message answers that one message in the thread (a contribution's copy).
    """
    if thread_root:
        relation: dict[str, Any] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": falling_back,
        }
        if reply_to:
            relation["m.in_reply_to"] = {"event_id": reply_to}
        content["m.relates_to"] = relation
    elif reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}


def file_content(
    filename: str,
    mime_type: str,
    size: int,
    *,
    url: str | None = None,
    encrypted_file: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An m.file message: `url` in plain rooms, the encrypted `file` object in encrypted ones."""
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": filename,
        "filename": filename,
        "info": {"mimetype": mime_type, "size": size},
    }
    if encrypted_file is not None:
        content["file"] = encrypted_file
    else:
        content["url"] = url
    return content


def is_notice(content: dict[str, Any]) -> bool:
    """An m.notice: another bot's message, never answered (so bots do not answer each other)."""
    return content.get("msgtype") == "m.notice"


def is_edit(content: dict[str, Any]) -> bool:
    """An m.replace edit of an earlier message."""
    relates = content.get("m.relates_to")
    return isinstance(relates, dict) and relates.get("rel_type") == "m.replace"


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


def pill_labels(content: dict[str, Any], user_id: str) -> list[str]:
    """The visible text of pill links to the user ("Stadtretter" in <a href="https://matrix.to/#/@bot:x">)."""
    formatted = content.get("formatted_body")
    if not isinstance(formatted, str):
        return []
    pattern = rf'<a\s+href="https://matrix\.to/#/{re.escape(user_id)}"\s*>(.*?)</a>'
    return [
        html.unescape(re.sub(r"<[^>]*>", "", label)).strip()
        for label in re.findall(pattern, _REPLY_FALLBACK_HTML.sub("", formatted), flags=re.S)
    ]


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
