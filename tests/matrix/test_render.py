"""Matrix content without a homeserver: notices, button hints, reactions, mentions, replies, session."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

from bot.chat import Button, Reply, leading_emoji, reaction_actions
from bot.platforms.matrix.render import (
    add_relation,
    bang_commands,
    edit_content,
    hints,
    html_to_matrix,
    is_edit,
    is_notice,
    mentions_user,
    notice_content,
    pill_labels,
    relation_of,
    strip_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix.session import LocalStore, MatrixSession

CARD = Reply(
    html="<b>Vitale Standorte</b> &amp; mehr\nFreitag",
    buttons=(
        (
            Button("✅ Anmelden", "/anmelden vitale"),
            Button("📅 Kalender", "/kalender vitale"),
            Button("ℹ️ Details", "/details vitale"),
        ),
    ),
    subject="event:vitale",
)
LIST = Reply(
    html="Termine",
    buttons=(
        (Button("✅ Anmelden: Vitale", "/anmelden vitale"), Button("📅", "/kalender vitale")),
        (Button("✅ Anmelden: Zukunft", "/anmelden zukunft"), Button("📅", "/kalender zukunft")),
    ),
)


def test_notice_has_html_and_plain_body_and_hints() -> None:
    content = notice_content(CARD)

    assert content == {
        "msgtype": "m.notice",
        "format": "org.matrix.custom.html",
        "body": "Vitale Standorte & mehr\nFreitag\n\n✅ Anmelden · 📅 Kalender · ℹ️ Details",
        "formatted_body": "<b>Vitale Standorte</b> &amp; mehr<br>Freitag<br><br>"
        "<i>✅ Anmelden · 📅 Kalender · ℹ️ Details</i>",
    }


def test_buttons_with_repeated_emoji_become_commands_to_type() -> None:
    assert reaction_actions(LIST) == {}
    assert hints(LIST) == (
        "✅ Anmelden: Vitale → !anmelden vitale · 📅 → !kalender vitale\n"
        "✅ Anmelden: Zukunft → !anmelden zukunft · 📅 → !kalender zukunft"
    )
    assert reaction_actions(CARD) == {
        "✅": "/anmelden vitale",
        "📅": "/kalender vitale",
        "ℹ": "/details vitale",
    }


def test_leading_emoji() -> None:
    assert leading_emoji("✅ Anmelden") == "✅"
    assert leading_emoji("ℹ️ Details") == "ℹ"
    assert leading_emoji("Anmelden") is None
    assert leading_emoji("Ärger") is None
    assert leading_emoji("") is None


def test_matrix_html_and_message_kinds() -> None:
    assert html_to_matrix("<b>a</b>\nb") == "<b>a</b><br>b"
    assert is_notice({"msgtype": "m.notice", "body": "x"})
    assert not is_notice({"msgtype": "m.text", "body": "x"})
    assert is_edit({"m.relates_to": {"rel_type": "m.replace", "event_id": "$e"}})
    assert not is_edit({"m.relates_to": {"m.in_reply_to": {"event_id": "$e"}}})
    assert not is_edit({})


def test_slash_commands_are_written_with_bang() -> None:
    names = frozenset({"hilfe", "termine", "anmelden"})
    text = "/hilfe – was ich kann\n<b>/termine</b> oder (/anmelden Thinius), https://x.de/termine, /unbekannt"
    assert bang_commands(text, names) == (
        "!hilfe – was ich kann\n<b>!termine</b> oder (!anmelden Thinius), https://x.de/termine, /unbekannt"
    )


def test_relations() -> None:
    content: dict[str, object] = {}
    add_relation(content, reply_to="$q", thread_root="$root")
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$q"},
    }
    plain: dict[str, object] = {}
    add_relation(plain, reply_to="$q", thread_root=None)
    assert plain["m.relates_to"] == {"m.in_reply_to": {"event_id": "$q"}}
    assert relation_of(
        {
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": "$last"},
            }
        }
    ) == ("$root", None)
    assert relation_of({"m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}) == (None, "$q")
    assert relation_of({}) == (None, None)


def test_edit_replaces_the_original() -> None:
    new = notice_content(Reply(html="<b>angemeldet</b>"))
    edit = edit_content(new, "$consent")
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$consent"}
    assert edit["m.new_content"] == new
    assert edit["body"] == "* angemeldet"


def test_reply_fallback_and_mentions_are_stripped() -> None:
    assert strip_reply_fallback("> <@anna:x> alt\n> zwei\n\n!hilfe") == "!hilfe"
    assert strip_reply_fallback("kein Zitat") == "kein Zitat"
    assert strip_mention("Stadtretter: Wann ist der nächste WebTalk?", ["@bot:x", "bot", "Stadtretter"]) == (
        "Wann ist der nächste WebTalk?",
        True,
    )
    assert strip_mention("hallo @bot:x, was gibt es?", ["@bot:x", "bot"]) == ("hallo was gibt es?", True)
    assert strip_mention("robotik", ["bot"]) == ("robotik", False)
    pill = {"formatted_body": '<a href="https://matrix.to/#/@bot:x">Stadt&amp;retter</a>: hallo'}
    assert pill_labels(pill, "@bot:x") == ["Stadt&retter"]
    assert mentions_user(pill, "@bot:x")
    assert mentions_user({"m.mentions": {"user_ids": ["@bot:x"]}}, "@bot:x")
    assert not mentions_user({"body": "hallo"}, "@bot:x")


def test_session_file_is_private_and_for_one_account(tmp_path: Path) -> None:
    path = tmp_path / "matrix" / "session.json"
    session = MatrixSession(
        homeserver="https://hs", user_id="@bot:hs", device_id="DEV", access_token="secret"
    )
    session.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@bot:hs") == session
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@other:hs").access_token == ""
    path.write_text("{broken")
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@bot:hs").access_token == ""


async def test_local_store_keeps_sync_position_and_newest_sent_messages(tmp_path: Path) -> None:
    store = await LocalStore.open(tmp_path / "state.sqlite3")
    assert await store.get("next_batch") is None
    await store.set("next_batch", "s42")
    assert await store.get("next_batch") == "s42"
    store.KEEP = 10
    for index in range(250):
        store.remember_sent(f"$e{index}", {"✅": f"/anmelden e{index}"})
    store.remember_sent("$plain")
    # Writes do not wait; a later read sees them (one worker thread, in order).
    assert await store.sent("$e249") == {"✅": "/anmelden e249"}
    assert await store.sent("$plain") == {}
    assert await store.sent("$e0") is None
    assert await store.sent("$unknown") is None
    await store.close()
    again = await LocalStore.open(tmp_path / "state.sqlite3")
    assert await again.get("next_batch") == "s42"
    assert await again.sent("$plain") == {}
    await again.close()


async def test_local_store_works_off_the_event_loop(tmp_path: Path) -> None:
    store = await LocalStore.open(tmp_path / "state.sqlite3")
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = store._set

    def spy(key: str, value: str | None) -> None:
        seen.append(threading.get_ident())
        original(key, value)

    store._set = spy  # type: ignore[method-assign]
    await store.set("next_batch", "s1")
    assert seen and seen[0] != loop_thread
    await store.close()


async def test_local_store_takes_over_the_old_reaction_memory(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE reactions (event_id TEXT PRIMARY KEY, actions TEXT NOT NULL)")
    old.execute("INSERT INTO reactions VALUES ('$card', '{\"✅\": \"/anmelden vitale\"}')")
    old.commit()
    old.close()
    store = await LocalStore.open(path)
    assert await store.sent("$card") == {"✅": "/anmelden vitale"}
    await store.close()
