"""Text helpers shared by adapters: cleaning user input and turning reply HTML into plain text."""

from __future__ import annotations

import html
import re
import unicodedata

MAX_INPUT_CHARS = 2000

_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = {c for c in map(chr, range(0x20)) if c not in "\n\t"} | {"\x7f"}


def clean_input(text: str) -> str:
    """Return user text without control characters, normalised to NFC and stripped."""
    text = _ANSI.sub("", unicodedata.normalize("NFC", text))
    text = "".join(
        " " if ch in _CONTROL or (unicodedata.category(ch) == "Cc" and ch not in "\n\t") else ch
        for ch in text
    )
    return text.strip()


def html_to_plain(markup: str) -> str:
    """Render the Telegram HTML subset as plain text (links keep their address)."""
    markup = re.sub(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', _link_text, markup, flags=re.S)
    return html.unescape(_TAG.sub("", markup))


def _link_text(match: re.Match[str]) -> str:
    href, label = html.unescape(match.group(1)), match.group(2)
    plain_label = html.unescape(_TAG.sub("", label))
    return plain_label if plain_label == href else f"{label} ({match.group(1)})"


def html_to_matrix(markup: str) -> str:
    """Turn the Telegram HTML subset into Matrix `formatted_body` (newlines become <br>)."""
    return markup.replace("\n", "<br>")
