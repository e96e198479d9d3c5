"""Matrix content without a homeserver: notices, button hints, reactions, mentions, replies, session."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.chat import Button, Reply
from bot.platforms.matrix_render import (
    add_relation,
    bang_commands,
    edit_content,
    hints,
    leading_emoji,
    mentions_user,
    notice_content,
    pill_labels,
    reaction_action,
    reaction_actions,
    relation_of,
    strip_mention,
    strip_reply_fallback,
)
from bot.platforms.matrix_session import LocalStore, MatrixSession

CARD = Reply(
    html="<b>Vitale Standorte</b> &amp; mehr\nFreitag",
    buttons=((Button("✅ Anmelden", "/anmelden vitale"), Button("📅 Kalender", "/kalender vitale"),
              Button("ℹ️ Details", "/details vitale")),),
    subject="event:vitale",
)
LIST = Reply(
    html="Termine",
    buttons=((Button("✅ Anmelden: Vitale", "/anmelden vitale"), Button("📅", "/kalender vitale")),
             (Button("✅ Anmelden: Zukunft", "/anmelden zukunft"), Button("📅", "/kalender zukunft"))),
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
    assert hints(LIST) == ("✅ Anmelden: Vitale → !anmelden vitale · 📅 → !kalender vitale\n"
                           "✅ Anmelden: Zukunft → !anmelden zukunft · 📅 → !kalender zukunft")
    assert reaction_actions(CARD) == {"✅": "/anmelden vitale", "📅": "/kalender vitale",
                                      "ℹ": "/details vitale"}


def test_leading_emoji() -> None:
    assert leading_emoji("✅ Anmelden") == "✅"
    assert leading_emoji("ℹ️ Details") == "ℹ"
    assert leading_emoji("Anmelden") is None
    assert leading_emoji("Ärger") is None
    assert leading_emoji("") is None


def test_documented_reactions_without_known_buttons() -> None:
    assert reaction_action("✅", "event:vitale") == "/anmelden vitale"
    assert reaction_action("❌", "event:vitale") == "/abmelden vitale"
    assert reaction_action("📅\ufe0f", "event:vitale") == "/kalender vitale"
    assert reaction_action("👍", "event:vitale") is None
    assert reaction_action("✅", "impulse:12") is None
    assert reaction_action("✅", None) is None


def test_slash_commands_are_written_with_bang() -> None:
    names = frozenset({"hilfe", "termine", "anmelden"})
    text = "/hilfe – was ich kann\n<b>/termine</b> oder (/anmelden Thinius), https://x.de/termine, /unbekannt"
    assert bang_commands(text, names) == (
        "!hilfe – was ich kann\n<b>!termine</b> oder (!anmelden Thinius), https://x.de/termine, /unbekannt")


def test_relations() -> None:
    content: dict[str, object] = {}
    add_relation(content, reply_to="$q", thread_root="$root")
    assert content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": "$q"}}
    plain: dict[str, object] = {}
    add_relation(plain, reply_to="$q", thread_root=None)
    assert plain["m.relates_to"] == {"m.in_reply_to": {"event_id": "$q"}}
    assert relation_of({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                         "m.in_reply_to": {"event_id": "$last"}}}) == ("$root", None)
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
        "Wann ist der nächste WebTalk?", True)
    assert strip_mention("hallo @bot:x, was gibt es?", ["@bot:x", "bot"]) == ("hallo was gibt es?", True)
    assert strip_mention("robotik", ["bot"]) == ("robotik", False)
    pill = {"formatted_body": '<a href="https://matrix.to/#/@bot:x">Stadt&amp;retter</a>: hallo'}
    assert pill_labels(pill, "@bot:x") == ["Stadt&retter"]
    assert mentions_user(pill, "@bot:x")
    assert mentions_user({"m.mentions": {"user_ids": ["@bot:x"]}}, "@bot:x")
    assert not mentions_user({"body": "hallo"}, "@bot:x")


def test_session_file_is_private_and_for_one_account(tmp_path: Path) -> None:
    path = tmp_path / "matrix" / "session.json"
    session = MatrixSession(homeserver="https://hs", user_id="@bot:hs", device_id="DEV",
                            access_token="secret", direct_rooms={"@anna:hs": "!dm:hs"})
    session.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@bot:hs") == session
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@other:hs").access_token == ""
    path.write_text("{broken")
    assert MatrixSession.load(path, homeserver="https://hs", user_id="@bot:hs").access_token == ""


def test_local_store_keeps_sync_position_and_newest_reactions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite3")
    assert store.get("next_batch") is None
    store.set("next_batch", "s42")
    assert store.get("next_batch") == "s42"
    store.KEEP = 10
    for index in range(250):
        store.remember(f"$e{index}", {"✅": f"/anmelden e{index}"})
    assert store.actions("$e249") == {"✅": "/anmelden e249"}
    assert store.actions("$e0") is None
    assert store.actions("$unknown") is None
    store.close()
