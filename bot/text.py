"""All text normalising: cleaning user input, folding words for matching, reply HTML to plain text."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import nh3

MAX_INPUT_CHARS = 2000

_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = {c for c in map(chr, range(0x20)) if c not in "\n\t"} | {"\x7f"}
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "á": "a", "à": "a"})
_TOKEN = re.compile(r"[a-z0-9]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SUFFIXES = ("ungen", "innen", "ern", "en", "er", "es", "em", "e", "s", "n")


def clean_input(text: str) -> str:
    """Return user text without control characters, normalised to NFC and stripped."""
    text = _ANSI.sub("", unicodedata.normalize("NFC", text))
    text = "".join(
        " " if ch in _CONTROL or (unicodedata.category(ch) == "Cc" and ch not in "\n\t") else ch
        for ch in text
    )
    # Lone surrogates (undecodable bytes read with surrogateescape) cannot be written as UTF-8 anywhere.
    return _SURROGATE.sub("\ufffd", text).strip()


def fold(text: str) -> str:
    """Lowercase and spell umlauts out, so 'Nächste', 'Naechste' and 'NÄCHSTE' compare equal."""
    return text.lower().translate(_FOLD)


def tokens(text: str) -> list[str]:
    """The folded words of a text (letters and digits)."""
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Strip one common German/English inflection ending from longer words ('Seminare' -> 'seminar')."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def html_to_plain(markup: str) -> str:
    """Render the Telegram HTML subset as plain text (links keep their address)."""
    markup = re.sub(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', _link_text, markup, flags=re.S)
    return html.unescape(_TAG.sub("", markup))


def _link_text(match: re.Match[str]) -> str:
    href, label = html.unescape(match.group(1)), match.group(2)
    plain_label = html.unescape(_TAG.sub("", label))
    return plain_label if plain_label == href else f"{label} ({match.group(1)})"


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a Markdown body: blank lines separate them; hard line breaks inside one become spaces."""
    blocks = re.split(r"\n[ \t]*\n", text.strip())
    return [
        " ".join(line.strip() for line in block.splitlines() if line.strip())
        for block in blocks
        if block.strip()
    ]


def teaser(text: str, limit: int = 280) -> str:
    """The first paragraph, cut after a sentence or word within `limit` characters."""
    first = next(iter(paragraphs(text)), "")
    if len(first) <= limit:
        return first
    cut = first[:limit]
    sentence = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if sentence >= limit // 2:
        return cut[: sentence + 1]
    return cut[: cut.rfind(" ")].rstrip(",;:–-") + " …"


# Telegram's HTML subset (plus <br>, which becomes a line break), the only markup content may carry.
CONTENT_TAGS = frozenset(
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
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "br",
    }
)
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_BARE_LINK = re.compile(r"<a>(.*?)</a>", re.S)


def sanitize_html(markup: str) -> str:
    """Content HTML (an FAQ answer) reduced to Telegram's subset by an allow-list sanitiser (nh3, Ammonia).

    Scripts, frames, images and styles go (scripts and styles with their content); links keep only http(s),
    mailto and tel addresses, and a link left without one is just its text.
    """
    cleaned = nh3.clean(
        markup,
        tags=set(CONTENT_TAGS),
        attributes={"a": {"href"}, "code": {"class"}, "pre": {"language"}},
        url_schemes=set(LINK_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )
    return _BARE_LINK.sub(r"\1", cleaned)
