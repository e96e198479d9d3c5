"""Telegram's HTML parse mode as the Bot API applies it: plain text, entities and its error texts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLOWED_TAGS = {
    "a": "text_link", "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = " \t\n\r\f\v"


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is Telegram's own wording."""


@dataclass
class _Open:
    tag: str
    start: int  # UTF-16 offset in the plain text
    attrs: dict[str, str]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts message length and entity offsets in."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at `text[i] == "&"`; return (char, index after it) or None."""
    end = text.find(";", i + 1, i + 12)
    if end == -1:
        return None
    name = text[i + 1:end]
    if name in _NAMED:
        return _NAMED[name], end + 1
    try:
        if name.startswith(("#x", "#X")):
            code = int(name[2:], 16)
        elif name.startswith("#"):
            code = int(name[1:], 10)
        else:
            return None
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), end + 1
    except ValueError:
        return None
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&" and (dec := _decode_entity(value, i)) is not None:
            out.append(dec[0])
            i = dec[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for an HTML-formatted message or raise EntityParseError."""
    out: list[str] = []
    pos16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0

    def offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    while i < n:
        c = text[i]
        if c == "&":
            dec = _decode_entity(text, i)
            if dec is not None:
                out.append(dec[0])
                pos16 += utf16_len(dec[0])
                i = dec[1]
                continue
        if c != "<":
            out.append(c)
            pos16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset(begin)}")
            i += 2
            while i < n and text[i] not in _SPACE and text[i] != ">":
                i += 1
            end_name = text[begin + 2:i].lower()
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {offset(begin)}")
            top = stack[-1]
            if end_name and end_name != top.tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset(begin)}, expected "</{top.tag}>", '
                    f'found "</{end_name}>"')
            stack.pop()
            i += 1
            if pos16 > top.start:
                entities.append(_entity(top, pos16))
            continue
        i += 1
        while i < n and text[i] not in _SPACE and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {offset(begin)}")
        tag = text[begin + 1:i].lower()
        if tag not in ALLOWED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {offset(begin)}')
        attrs: dict[str, str] = {}
        while True:
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[i] == ">":
                i += 1
                break
            name_start = i
            while i < n and text[i] not in _SPACE and text[i] not in "=>":
                i += 1
            name = text[name_start:i].lower()
            if not name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {offset(begin)}')
            while i < n and text[i] in _SPACE:
                i += 1
            if i < n and text[i] != "=" and name == "expandable" and tag == "blockquote":
                attrs[name] = ""
                continue
            if i >= n or text[i] != "=":
                raise EntityParseError("Expected equal sign in declaration of an attribute of the tag "
                                       f'"{tag}" at byte offset {offset(begin)}')
            i += 1
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[i] in "'\"":
                quote = text[i]
                end = text.find(quote, i + 1)
                if end == -1:
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset(begin)}")
                value = text[i + 1:end]
                i = end + 1
            else:
                value_start = i
                while i < n and (text[i].isalnum() or text[i] in ".-_:/?#=&%+~"):
                    i += 1
                value = text[value_start:i]
            attrs[name] = _unescape(value)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset(begin)}')
        if tag == "tg-emoji" and "emoji-id" not in attrs:
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset(begin)}')
        stack.append(_Open(tag, pos16, attrs))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity(open_tag: _Open, end16: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": ALLOWED_TAGS[open_tag.tag], "offset": open_tag.start,
                              "length": end16 - open_tag.start}
    if open_tag.tag == "a":
        entity["url"] = open_tag.attrs.get("href", "")
    elif open_tag.tag == "pre" and "language" in open_tag.attrs:
        entity["language"] = open_tag.attrs["language"]
    elif open_tag.tag == "blockquote" and "expandable" in open_tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif open_tag.tag == "tg-emoji":
        entity["custom_emoji_id"] = open_tag.attrs["emoji-id"]
    return entity
