"""Bad input gets a clear, friendly answer, user text is escaped, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import build_context
from bot.config import load_settings
from bot.context import AppContext
from bot.db.models import Member, OutboxMessage, Registration, SentMessage
from tests.conftest import DEMO_NOW, say, text_of

ALLOWED_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote"}


async def row_counts(ctx: AppContext) -> tuple[int, ...]:
    async with ctx.db.sessions() as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Member, Registration, OutboxMessage, SentMessage)
            ]
        )


def assert_safe_html(html: str) -> None:
    """Only the Telegram subset, and no tag smuggled in from user text."""
    import re

    for tag in re.findall(r"</?([a-zA-Z][a-zA-Z0-9-]*)", html):
        assert tag in ALLOWED_TAGS, (tag, html)


BAD_INPUTS = [
    ("", "leer"),
    ("   \n\t ", "leer"),
    ("x" * 10_000, "zu lang"),
    ("Wann ist der nächste WebTalk? " * 400, "zu lang"),
    ("<script>alert('x')</script>", "keine Antwort"),
    ("<b>fett</b> <a href='javascript:alert(1)'>klick</a>", "keine Antwort"),
    ("🎉🏙️🛍️", "keine Antwort"),
    ("\x00\x01\x02\x1b[31m", "leer"),
    ("Was läuft am 31.02.?", "gibt es nicht"),
    ("Was läuft am 0.13.?", "gibt es nicht"),
    ("/gibtsnicht", "kenne ich nicht"),
    ("/<script>", "kenne ich nicht"),
    ("/anmelden <script>alert(1)</script>", "keine Veranstaltung"),
    ("/anmelden 🎉", "keine Veranstaltung"),
    ("/kalender gibts-nicht-123", "keine Veranstaltung"),
    ("/abmelden &amp;&lt;", "keine Veranstaltung"),
    ("/details \u202eevil", "keine Veranstaltung"),
    ("/export Thinius", "Community-Manager"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS)
async def test_bad_input_is_answered_and_changes_nothing(ctx: AppContext, text: str, expected: str) -> None:
    before = await row_counts(ctx)
    replies = await say(ctx, text)
    assert replies, text
    assert expected in text_of(replies)
    for reply in replies:
        assert_safe_html(reply.html)
        assert "Traceback" not in reply.html
    assert await row_counts(ctx) == before


async def test_user_text_is_escaped(ctx: AppContext) -> None:
    replies = await say(ctx, "/anmelden <b>Wasserstoff</b> & <i>Co</i>")
    assert "&lt;b&gt;Wasserstoff&lt;/b&gt; &amp; &lt;i&gt;Co&lt;/i&gt;" in replies[0].html
    replies = await say(ctx, "/gibts<b>nicht</b>")
    assert "<code>gibts&lt;b&gt;nicht&lt;/b&gt;</code>" in replies[0].html


async def test_group_messages_not_addressed_are_ignored(ctx: AppContext) -> None:
    assert await say(ctx, "Wann ist der nächste WebTalk?", private=False) == []
    assert await say(ctx, "Wann ist der nächste WebTalk?", private=False, mentioned=True)


async def test_handler_errors_are_logged_and_answered_politely(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("database exploded with password=hunter2")

    ctx.registrations.counts = broken  # type: ignore[method-assign,assignment]
    replies = await say(ctx, "/details Thinius")
    assert "schiefgegangen" in text_of(replies)
    assert "hunter2" not in text_of(replies)
    assert any("handler failed" in r.message and r.exc_info for r in caplog.records)


@pytest.fixture(scope="module")
def prop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop")


COMMANDS = [
    "/anmelden ",
    "/abmelden ",
    "/kalender ",
    "/details ",
    "/termine ",
    "/meine ",
    "/export ",
    "!anmelden ",
    "anmelden ",
    "/start ",
    "/einwilligen-x ",
    "",
]


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(COMMANDS), body=st.text(max_size=300), button=st.booleans())
async def test_random_text_and_button_data(prop_db: Path, prefix: str, body: str, button: bool) -> None:
    settings = load_settings(data_dir=prop_db / "data", now=DEMO_NOW)
    ctx = await build_context(
        settings,
        database_url=f"sqlite+aiosqlite:///{prop_db / 'p.sqlite3'}",
        sync=not (prop_db / "p.sqlite3").exists(),
    )
    try:
        before = await row_counts(ctx)
        replies = await say(ctx, prefix + body, button=button, user="fuzzer")
        for reply in replies:
            assert_safe_html(reply.html)
            assert "schiefgegangen" not in reply.html, (prefix, body)
        # Without consent nothing about the person is stored, whatever they send.
        assert await row_counts(ctx) == before
    finally:
        await ctx.close()
