"""The Bot API test server itself: plain HTTP requests and PTB's Bot against it."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter

from tests.telegram_api import BotApiServer, Limits
from tests.telegram_api.entities import EntityParseError, parse_html, utf16_len

pytestmark = [
    pytest.mark.telegram,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


async def call(server: BotApiServer, method: str, **kwargs: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}{server.token}/{method}", json=kwargs) as response,
    ):
        return response.status, await response.json()


async def test_get_me_over_get_and_post_and_unknown_token(tg_server: BotApiServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{tg_server.base_url}{tg_server.token}/getMe") as response:
            body = await response.json()
        assert body["ok"] is True
        assert body["result"]["username"] == "stadtretter_test_bot"
        async with http.post(f"{tg_server.base_url}999:wrong/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_send_message_form_encoded_and_json(tg_server: BotApiServer) -> None:
    user = tg_server.create_user("Anna")
    user.start()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{tg_server.base_url}{tg_server.token}/sendMessage",
            data={"chat_id": str(user.id), "text": "<b>Hallo</b> &amp; mehr", "parse_mode": "HTML"},
        ) as response:
            body = await response.json()
    assert body["result"]["text"] == "Hallo & mehr"
    assert body["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    status, body = await call(tg_server, "sendMessage", chat_id=user.id, text="zwei")
    assert status == 200
    assert user.chat.texts == ["Hallo & mehr", "zwei"]
    assert user.chat.inbox[0].parse_mode == "HTML"


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>fett", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>a</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("ä <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("1 <b", "Unclosed start tag at byte offset 2"),
    ],
)
async def test_malformed_html_is_rejected_with_telegrams_text(
    tg_server: BotApiServer, html: str, error: str
) -> None:
    user = tg_server.create_user()
    user.start()
    status, body = await call(tg_server, "sendMessage", chat_id=user.id, text=html, parse_mode="HTML")
    assert (status, body["description"]) == (400, f"Bad Request: can't parse entities: {error}")
    assert user.chat.inbox == []


def test_allowed_tags_and_entities_parse() -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>t</strike>"
        '<del>d</del><span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler>'
        '<a href="https://x.de/?a=1&amp;b=2">l</a><code>c</code><pre>p</pre><blockquote>z</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &lt;&gt;&quot;&amp;&#65;&#x42; & x'
    )
    plain, entities = parse_html(html)
    assert plain == 'bsieunstdpqlcpz👍 <>"&AB & x'
    assert entities[11] == {"type": "text_link", "offset": 11, "length": 1, "url": "https://x.de/?a=1&b=2"}
    assert len(entities) == 16


@given(st.text(max_size=200))
def test_escaped_text_always_parses_back(text: str) -> None:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert parse_html(f"<b>{escaped}</b>")[0] == text


def test_parse_errors_are_value_errors() -> None:
    with pytest.raises(EntityParseError):
        parse_html("<x>")


async def test_length_counts_utf16_after_parsing(tg_server: BotApiServer) -> None:
    user = tg_server.create_user()
    user.start()
    fits = "<b>" + "a" * 4096 + "</b>"
    status, _ = await call(tg_server, "sendMessage", chat_id=user.id, text=fits, parse_mode="HTML")
    assert status == 200
    emoji = "😀" * 2049  # 4098 UTF-16 code units
    assert utf16_len(emoji) == 4098
    status, body = await call(tg_server, "sendMessage", chat_id=user.id, text=emoji)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    status, body = await call(tg_server, "sendMessage", chat_id=user.id, text="<b> </b>", parse_mode="HTML")
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_ptb_bot_errors_map_to_ptb_exceptions(tg_server: BotApiServer, ptb_bot: Bot) -> None:
    user = tg_server.create_user()
    user.start()
    blocked = tg_server.create_user("Bea", blocked=True)
    blocked.start()
    long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await ptb_bot.send_message(user.id, "hi", reply_markup=long_data)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await ptb_bot.send_message(blocked.id, "hi")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await ptb_bot.send_message(424242, "hi")
    tg_server.inject_429(chat=user.chat, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await ptb_bot.send_message(user.id, "hi")
    assert caught.value.retry_after in (3, __import__("datetime").timedelta(seconds=3))
    tg_server.inject_disconnect(chat=user.chat)
    with pytest.raises(NetworkError):
        await ptb_bot.send_message(user.id, "hi")
    assert user.chat.inbox == []


async def test_edit_document_callback_and_commands_with_ptb(tg_server: BotApiServer, ptb_bot: Bot) -> None:
    user = tg_server.create_user()
    user.start()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Anmelden", callback_data="/anmelden x")]])
    sent = await ptb_bot.send_message(user.id, "<i>Termin</i>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await ptb_bot.edit_message_text(
            "<i>Termin</i>",
            chat_id=user.id,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    await ptb_bot.edit_message_text("Angemeldet", chat_id=user.id, message_id=sent.message_id)
    message = user.chat.inbox[0]
    assert (message.text, message.edits, message.reply_markup) == ("Angemeldet", ["Termin"], None)
    await ptb_bot.edit_message_reply_markup(chat_id=user.id, message_id=sent.message_id, reply_markup=markup)
    assert message.button_labels == ["Anmelden"]
    query = user.press(message, "Anmelden")
    updates = await ptb_bot.get_updates(offset=0, timeout=0)
    assert updates[-1].callback_query is not None
    assert updates[-1].callback_query.data == "/anmelden x"
    await ptb_bot.answer_callback_query(query.id, text="ok")
    assert query.answered
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await ptb_bot.answer_callback_query(query.id)
    await ptb_bot.send_document(
        user.id,
        io.BytesIO(b"BEGIN:VCALENDAR"),
        filename="termin.ics",
        caption="<b>Kalender</b>",
        parse_mode="HTML",
    )
    document = user.chat.last.document
    assert document is not None
    assert (document.filename, document.data) == ("termin.ics", b"BEGIN:VCALENDAR")
    assert user.chat.last.text == "Kalender"
    await ptb_bot.set_my_commands([("termine", "Termine")])
    await ptb_bot.set_my_commands([("events", "Events")], language_code="en")
    assert [c.command for c in await ptb_bot.get_my_commands(language_code="en")] == ["events"]
    assert tg_server.commands[("default", "")] == [{"command": "termine", "description": "Termine"}]


async def test_long_polling_offsets_and_allowed_updates(tg_server: BotApiServer, ptb_bot: Bot) -> None:
    user = tg_server.create_user()
    poll = asyncio.create_task(ptb_bot.get_updates(timeout=5, allowed_updates=["message"]))
    await asyncio.sleep(0.1)
    assert not poll.done()
    user.send_text("hallo")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates if u.message] == ["hallo"]
    user.send_text("zwei")
    again = await ptb_bot.get_updates(timeout=0)
    assert len(again) == 2
    confirmed = await ptb_bot.get_updates(offset=again[-1].update_id + 1, timeout=0)
    assert confirmed == ()
    tg_server.create_user().chat  # noqa: B018
    sent = await ptb_bot.send_message(
        user.id, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="b")]])
    )
    user.press(user.chat.inbox[-1])
    assert sent.message_id == user.chat.inbox[-1].message_id
    assert await ptb_bot.get_updates(timeout=0) == ()  # callback_query not in allowed_updates


async def test_webhook_conflicts_with_polling_and_posts_updates(
    tg_server: BotApiServer, ptb_bot: Bot
) -> None:
    received: list[tuple[dict, str | None]] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return aiohttp.web.Response()

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await ptb_bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(Conflict, match=r"(?i)webhook is active"):
            await ptb_bot.get_updates(timeout=0)
        tg_server.create_user().send_text("per webhook")
        await tg_server.wait_until(lambda: bool(received))
        assert received[0][0]["message"]["text"] == "per webhook"
        assert received[0][1] == "s3cret"
        assert (await ptb_bot.get_webhook_info()).url.endswith("/hook")
        await ptb_bot.delete_webhook()
        assert await ptb_bot.get_updates(timeout=0) == ()
    finally:
        await runner.cleanup()


async def test_rate_limits_answer_429_with_retry_after(tg_server: BotApiServer, ptb_bot: Bot) -> None:
    tg_server.set_limits(
        Limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=1, group_per_minute=20)
    )
    user = tg_server.create_user()
    user.start()
    await ptb_bot.send_message(user.id, "eins")
    with pytest.raises(RetryAfter):
        await ptb_bot.send_message(user.id, "zwei")
    group = tg_server.create_group(bot_is_admin=True)
    for _ in range(20):
        await ptb_bot.send_message(group.id, "g")
    with pytest.raises(RetryAfter):
        await ptb_bot.send_message(group.id, "g")
    assert tg_server.stats.rate_limited == 2
