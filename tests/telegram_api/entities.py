"""Telegram's HTML parse mode as the Bot API applies it: plain text, entities and its error texts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLOWED_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
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
    name = text[i + 1 : end]
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
    return _HtmlParser(text).parse()


class _HtmlParser:
    """One pass over the text; `i` is the index of the next character to read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.i = 0
        self.out: list[str] = []
        self.pos16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        while self.i < self.n:
            c = text[self.i]
            if c == "&" and self._html_entity():
                continue
            if c != "<":
                self.out.append(c)
                self.pos16 += 2 if ord(c) > 0xFFFF else 1
                self.i += 1
            elif self.i + 1 < self.n and text[self.i + 1] == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8"))

    def _skip_until(self, stop: str) -> None:
        while self.i < self.n and self.text[self.i] not in stop:
            self.i += 1

    def _skip_space(self) -> None:
        while self.i < self.n and self.text[self.i] in _SPACE:
            self.i += 1

    def _unclosed_start_tag(self, begin: int) -> EntityParseError:
        return EntityParseError(f"Unclosed start tag at byte offset {self._offset(begin)}")

    def _html_entity(self) -> bool:
        decoded = _decode_entity(self.text, self.i)
        if decoded is None:
            return False
        self.out.append(decoded[0])
        self.pos16 += utf16_len(decoded[0])
        self.i = decoded[1]
        return True

    def _end_tag(self) -> None:
        begin, text = self.i, self.text
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._offset(begin)}")
        self.i += 2
        self._skip_until(_SPACE + ">")
        end_name = text[begin + 2 : self.i].lower()
        self._skip_space()
        if self.i >= self.n or text[self.i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self._offset(begin)}")
        top = self.stack[-1]
        if end_name and end_name != top.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._offset(begin)}, expected "</{top.tag}>", '
                f'found "</{end_name}>"'
            )
        self.stack.pop()
        self.i += 1
        if self.pos16 > top.start:
            self.entities.append(_entity(top, self.pos16))

    def _start_tag(self) -> None:
        begin = self.i
        self.i += 1
        self._skip_until(_SPACE + ">")
        if self.i >= self.n:
            raise self._unclosed_start_tag(begin)
        tag = self.text[begin + 1 : self.i].lower()
        if tag not in ALLOWED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._offset(begin)}')
        attrs: dict[str, str] = {}
        while self._attribute(tag, begin, attrs):
            pass
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._offset(begin)}'
            )
        if tag == "tg-emoji" and "emoji-id" not in attrs:
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {self._offset(begin)}'
            )
        self.stack.append(_Open(tag, self.pos16, attrs))

    def _attribute(self, tag: str, begin: int, attrs: dict[str, str]) -> bool:
        """Read one attribute into `attrs`; False once the tag's ">" is read."""
        text = self.text
        self._skip_space()
        if self.i >= self.n:
            raise self._unclosed_start_tag(begin)
        if text[self.i] == ">":
            self.i += 1
            return False
        name_start = self.i
        self._skip_until(_SPACE + "=>")
        name = text[name_start : self.i].lower()
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {self._offset(begin)}'
            )
        self._skip_space()
        if self.i < self.n and text[self.i] != "=" and name == "expandable" and tag == "blockquote":
            attrs[name] = ""
            return True
        if self.i >= self.n or text[self.i] != "=":
            raise EntityParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {self._offset(begin)}'
            )
        self.i += 1
        self._skip_space()
        if self.i >= self.n:
            raise self._unclosed_start_tag(begin)
        attrs[name] = _unescape(self._value(begin))
        return True

    def _value(self, begin: int) -> str:
        text = self.text
        if text[self.i] in "'\"":
            quote = text[self.i]
            end = text.find(quote, self.i + 1)
            if end == -1:
                raise self._unclosed_start_tag(begin)
            value = text[self.i + 1 : end]
            self.i = end + 1
            return value
        value_start = self.i
        while self.i < self.n and (text[self.i].isalnum() or text[self.i] in ".-_:/?#=&%+~"):
            self.i += 1
        return text[value_start : self.i]


def _entity(open_tag: _Open, end16: int) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "type": ALLOWED_TAGS[open_tag.tag],
        "offset": open_tag.start,
        "length": end16 - open_tag.start,
    }
    if open_tag.tag == "a":
        entity["url"] = open_tag.attrs.get("href", "")
    elif open_tag.tag == "pre" and "language" in open_tag.attrs:
        entity["language"] = open_tag.attrs["language"]
    elif open_tag.tag == "blockquote" and "expandable" in open_tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif open_tag.tag == "tg-emoji":
        entity["custom_emoji_id"] = open_tag.attrs["emoji-id"]
    return entity
