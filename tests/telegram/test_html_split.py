"""Splitting and sanitising reply HTML for Telegram: every chunk fits and parses, nothing is lost."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.platforms.telegram.html import MAX_MESSAGE, sanitize, split_html, visible_length
from tests.telegram_api.entities import parse_html, utf16_len


def plain(markup: str) -> str:
    return parse_html(markup)[0]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_short_text_stays_one_chunk() -> None:
    assert split_html("<b>Hallo</b> Welt") == ["<b>Hallo</b> Welt"]


def test_splits_at_paragraphs_first() -> None:
    paragraphs = [f"<b>Absatz {i}</b> " + "wort " * 150 for i in range(12)]
    chunks = split_html("\n\n".join(paragraphs), limit=2000)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("<b>Absatz")
        assert utf16_len(plain(chunk)) <= 2000


def test_falls_back_to_lines_then_words_then_characters() -> None:
    lines = "\n".join("zeile " * 10 for _ in range(50))
    chunks = split_html(lines, limit=200)
    assert {line.strip() for c in chunks for line in plain(c).split("\n")} == {("zeile " * 10).strip()}
    words = "wort " * 100
    assert all(len(plain(c)) <= 50 for c in split_html(words, limit=50))
    assert split_html("x" * 10, limit=4) == ["xxxx", "xxxx", "xx"]


def test_tags_spanning_a_cut_are_closed_and_reopened() -> None:
    chunks = split_html('<i>a <a href="https://x.de">b c</a> d</i>', limit=4)
    assert chunks == ['<i>a <a href="https://x.de">b</a></i>', '<i><a href="https://x.de">c</a> d</i>']


def test_entities_are_never_cut_and_count_as_one() -> None:
    chunks = split_html("&amp;&amp;&amp;&amp;&amp;", limit=2)
    assert chunks == ["&amp;&amp;", "&amp;&amp;", "&amp;"]


def test_utf16_units_are_counted() -> None:
    assert visible_length("😀😀") == 4
    assert split_html("😀😀😀", limit=4) == ["😀😀", "😀"]


def test_sanitize_escapes_what_telegram_rejects() -> None:
    assert sanitize("<div>a</div> < b & c <b>x") == "&lt;div>a&lt;/div> &lt; b &amp; c <b>x</b>"
    assert sanitize('<span class="tg-spoiler">s</span><span>t</span>') == (
        '<span class="tg-spoiler">s</span>&lt;span>t'
    )
    assert sanitize('<a href="https://x.de" onclick="y">l</a>') == '<a href="https://x.de">l</a>'
    assert sanitize("a<br>b") == "a\nb"
    assert sanitize("<b><i>x</b>") == "<b><i>x</i></b>"


markup_piece = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30),
    st.sampled_from(
        [
            "<b>",
            "</b>",
            "<i>",
            "</i>",
            '<a href="https://stadtretter.de/?a=1&amp;b=2">',
            "</a>",
            "<code>",
            "</code>",
            "<pre>",
            "</pre>",
            "<blockquote>",
            "</blockquote>",
            "\n\n",
            "\n",
            " ",
            "&amp;",
            "&lt;",
            "&#128512;",
            "😀",
            "<div>",
            "<",
            "&",
            '<span class="tg-spoiler">',
            "</span>",
            "<u>",
            "</s>",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(markup_piece, max_size=80), st.integers(min_value=2, max_value=120))
def test_every_chunk_fits_parses_and_nothing_is_lost(pieces: list[str], limit: int) -> None:
    markup = "".join(pieces)
    chunks = split_html(markup, limit=limit)
    for chunk in chunks:
        text = plain(chunk)  # raises if Telegram would reject it
        assert utf16_len(text) <= limit
        assert text.strip()
    original = plain(sanitize(markup))
    assert squash("".join(plain(c) for c in chunks)) == squash(original)


@settings(max_examples=25, deadline=None)
@given(st.lists(markup_piece, min_size=1, max_size=40), st.integers(min_value=50, max_value=400))
def test_long_texts_fit_the_real_limit(pieces: list[str], repeat: int) -> None:
    markup = "".join(pieces) * repeat
    chunks = split_html(markup)
    assert all(utf16_len(plain(c)) <= MAX_MESSAGE for c in chunks)
    assert squash("".join(plain(c) for c in chunks)) == squash(plain(sanitize(markup)))
