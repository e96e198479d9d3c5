"""Telegram HTML for sending: keep only accepted tags and split long texts into valid 4096-unit chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_MESSAGE = 4096
MAX_CAPTION = 1024

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*(/?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_ATTRIBUTE = re.compile(r"""([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_KEEP = {
    "a": ("href",),
    "span": ("class",),
    "tg-emoji": ("emoji-id",),
    "code": ("class",),
    "pre": ("language",),
    "blockquote": ("expandable",),
}
_REQUIRED = {"a": "href", "span": "class", "tg-emoji": "emoji-id"}


@dataclass(frozen=True, slots=True)
class _Token:
    """One piece of markup: a tag, an entity, a character, or (when not splitting) a run of text."""

    raw: str
    width: int = 0  # UTF-16 code units it shows as; tags show as nothing
    tag: str | None = None
    closing: bool = False
    visible: str = ""


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _char(raw: str, shown: str) -> _Token:
    return _Token(raw, _units(shown), visible=shown)


_RUN = re.compile(r"[^<&]+")


def tokenize(markup: str, *, per_char: bool = False) -> list[_Token]:
    """Turn markup into tokens, escaping whatever Telegram would reject and balancing the tags.

    Text comes as runs, or one token per character with `per_char` (what splitting needs).
    """
    tokens: list[_Token] = []
    stack: list[str] = []
    i, n = 0, len(markup)
    while i < n:
        c = markup[i]
        if c == "<":
            i = _take_tag(markup, i, stack, tokens)
        elif c == "&":
            i = _take_entity(markup, i, tokens)
        else:
            match = _RUN.match(markup, i)
            assert match is not None
            run = match.group(0)
            if per_char:
                tokens.extend(_Token(ch, 2 if ord(ch) > 0xFFFF else 1, visible=ch) for ch in run)
            else:
                tokens.append(_Token(run, _units(run), visible=run))
            i = match.end()
    for name in reversed(stack):
        tokens.append(_Token(f"</{name}>", tag=name, closing=True))
    return tokens


def _take_tag(markup: str, i: int, stack: list[str], tokens: list[_Token]) -> int:
    """The "<" at markup[i]: a tag kept (and balanced), a stray end tag dropped, or an escaped "<".

    Returns where tokenizing goes on.
    """
    match = _TAG.match(markup, i)
    if match and not match.group(4):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name == "br" and not closing:
            tokens.append(_char("\n", "\n"))
            return match.end()
        attrs = None if closing else _attributes(name, match.group(3))
        if attrs is not None:
            stack.append(name)
            tokens.append(_Token(f"<{name}{attrs}>", tag=name))
            return match.end()
        if closing and name in stack:
            while stack:  # close what was left open inside, as browsers do
                top = stack.pop()
                tokens.append(_Token(f"</{top}>", tag=top, closing=True))
                if top == name:
                    break
            return match.end()
        if closing and name in ALLOWED_TAGS:  # a stray end tag carries nothing; drop it
            return match.end()
    tokens.append(_char("&lt;", "<"))
    return i + 1


def _take_entity(markup: str, i: int, tokens: list[_Token]) -> int:
    """The "&" at markup[i]: an entity Telegram decodes, or an escaped "&"; returns where to go on."""
    shown = _entity_at(markup, i)
    if shown is None:
        tokens.append(_char("&amp;", "&"))
        return i + 1
    end = markup.index(";", i) + 1
    tokens.append(_char(markup[i:end], shown))
    return end


def _entity_at(markup: str, i: int) -> str | None:
    """The character an entity at markup[i] stands for, as Telegram decodes it, or None."""
    match = _ENTITY.match(markup, i)
    if not match:
        return None
    name = match.group(0)[1:-1]
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    if name in named:
        return named[name]
    code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return None


def _attributes(name: str, raw: str) -> str | None:
    """Canonical attributes of an accepted start tag, or None if Telegram would reject the tag."""
    if name not in ALLOWED_TAGS:
        return None
    kept: list[str] = []
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        key, value = match.group(1).lower(), match.group(2)
        if key not in _KEEP.get(name, ()):
            continue
        if value is None:
            if key == "expandable":
                kept.append(" expandable")
            continue
        if value[0] not in "'\"":
            value = f'"{value}"'
        found[key] = value[1:-1]
        kept.append(f" {key}={value}")
    required = _REQUIRED.get(name)
    if required and required not in found:
        return None
    if name == "span" and found.get("class") != "tg-spoiler":
        return None
    return "".join(kept)


def sanitize(markup: str) -> str:
    """Return markup Telegram accepts: unknown tags and stray '<', '&' escaped, tags balanced."""
    return "".join(token.raw for token in tokenize(markup))


def visible_length(markup: str) -> int:
    """Length Telegram counts (UTF-16 code units of the text after entity parsing)."""
    return sum(token.width for token in tokenize(markup))


def split_html(markup: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split markup into chunks of at most `limit` visible units each (see `_split`).

    The same markup goes to many chats (a weekly overview to every subscriber): it is split once.
    """
    return list(_split(markup, limit))


@lru_cache(maxsize=256)
def _split(markup: str, limit: int) -> tuple[str, ...]:
    """Split markup into chunks of at most `limit` visible units each, each one valid Telegram HTML.

    Cuts prefer paragraph breaks, then line breaks, then spaces, and only then any character; never inside
    a tag or an entity. Tags open at a cut are closed at the end of the chunk and reopened in the next.
    The whitespace at a cut is dropped; chunks with nothing visible are left out (so blank markup gives []).
    """
    tokens = tokenize(markup)
    if not any(t.visible.strip() for t in tokens):
        return ()
    if sum(t.width for t in tokens) <= limit:
        return ("".join(t.raw for t in tokens),)
    tokens = tokenize(markup, per_char=True)
    chunks: list[str] = []
    open_tags: list[_Token] = []  # tags open at the start of the current chunk
    start = 0
    while start < len(tokens):
        end, resume, width = _cut(tokens, start, limit)
        chunk_tokens = tokens[start:end]
        body_open = list(open_tags)
        for token in chunk_tokens:
            if token.tag and not token.closing:
                body_open.append(token)
            elif token.tag and token.closing and body_open:
                body_open.pop()
        if width > 0 and any(t.visible.strip() for t in chunk_tokens):
            text = "".join(t.raw for t in open_tags) + "".join(t.raw for t in chunk_tokens)
            text += "".join(f"</{t.tag}>" for t in reversed(body_open))
            chunks.append(text)
        open_tags = body_open
        start = resume
    return tuple(chunks)


def _cut(tokens: list[_Token], start: int, limit: int) -> tuple[int, int, int]:
    """Find where the chunk from `start` ends: (end index, index the next chunk starts at, chunk width)."""
    width = 0
    best: dict[int, tuple[int, int, int]] = {}  # priority -> (end, width at end, resume)
    i = start
    n = len(tokens)
    while i < n:
        token = tokens[i]
        if width + token.width > limit:
            break
        shown = token.visible
        if shown == "\n" and i + 1 < n and tokens[i + 1].visible == "\n" and i > start:
            best[3] = (*_trim_back(tokens, start, i, width), _skip_space(tokens, i))
        elif shown == "\n" and i > start:
            best[2] = (*_trim_back(tokens, start, i, width), _skip_space(tokens, i))
        elif shown in (" ", "\t") and i > start:
            best[1] = (*_trim_back(tokens, start, i, width), _skip_space(tokens, i))
        width += token.width
        i += 1
    else:
        return n, n, width
    for minimum in (limit // 4, 1):
        for priority in (3, 2, 1):
            if priority in best and best[priority][1] >= minimum:
                end, end_width, resume = best[priority]
                return end, resume, end_width
    if i == start:  # a single token wider than the limit cannot happen for limit >= 2
        i += 1
    return i, i, width


def _trim_back(tokens: list[_Token], start: int, i: int, width: int) -> tuple[int, int]:
    """Move a cut at i back over trailing whitespace; return (end, width up to end)."""
    while i > start and tokens[i - 1].width and tokens[i - 1].visible.isspace():
        i -= 1
        width -= tokens[i].width
    return i, width


def _skip_space(tokens: list[_Token], i: int) -> int:
    """Index after the whitespace run starting at i (tags in between are kept for the next chunk)."""
    j = i
    while j < len(tokens) and (tokens[j].visible.isspace() or not tokens[j].width):
        if tokens[j].tag:
            break
        j += 1
    return j
