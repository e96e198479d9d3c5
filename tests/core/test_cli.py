"""The command line as a user runs it: ask --json, content sync, chat, configuration errors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_questions import OTHER_CONTENT

ROOT = Path(__file__).resolve().parents[2]


def run(
    args: list[str], tmp_path: Path, *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    environment.update(BOT_DATA_DIR=str(tmp_path / "data"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )


def test_ask_json_on_the_demo_examples(tmp_path: Path) -> None:
    questions = [
        "Wann ist der nächste WebTalk?",
        "Was läuft am 6.10.?",
        "Gibt es was zu Leerstand?",
        "When does Max Thinius speak?",
        "Gibt es heute etwas?",
    ]
    result = run(["ask", "--json", "--now", "2020-09-28T09:00:00+02:00", *questions], tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in records] == questions
    assert [[e["slug"] for e in r["events"]] for r in records] == [
        ["webtalk-vitale-standorte"],
        ["webtalk-groesste-zukunft", "roundtable-leerstand-bid-isg", "webtalk-willkommen"],
        ["roundtable-leerstand-bid-isg"],
        ["webtalk-groesste-zukunft"],
        [],
    ]
    first = records[0]
    assert set(first) == {"question", "intent", "events", "items", "text"}
    assert first["items"] == []
    assert first["intent"] == "next_event"
    assert first["events"][0] == {
        "slug": "webtalk-vitale-standorte",
        "title": "Vitale Standorte – Zukunft mit System und digital gestützt",
        "kind": "webtalk",
        "starts_at": "2020-10-02T10:00:00+02:00",
    }
    assert "Freitag, 2. Oktober 2020, 10:00 Uhr" in first["text"]


def test_ask_reads_stdin_and_other_content(tmp_path: Path) -> None:
    result = run(
        ["ask", "--json", "--content", str(OTHER_CONTENT), "--now", "2027-03-08T08:00:00+01:00"],
        tmp_path,
        stdin="Wann ist der nächste WebTalk?\n\nnächstes Seminar\n",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [[e["slug"] for e in r["events"]] for r in records] == [
        ["webtalk-foerderprogramme"],
        ["seminar-schaufenster"],
    ]
    assert not (tmp_path / "data" / "stadtretter.sqlite3").exists()


def test_ask_words_make_one_question(tmp_path: Path) -> None:
    result = run(["ask", "--json", "--now", "2020-09-28T09:00:00+02:00", "nächster", "Roundtable"], tmp_path)
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["question"] == "nächster Roundtable"
    assert [e["slug"] for e in record["events"]] == ["roundtable-leerstand-bid-isg"]


@pytest.mark.parametrize(
    ("env", "args", "variable"),
    [
        ({"BOT_TIMEZONE": "Mars/Olympus"}, ["ask", "hallo"], "BOT_TIMEZONE"),
        ({"BOT_TIMEZONE": "Mars/Olympus"}, ["ask", "--now", "2020-09-28T09:00", "hallo"], "BOT_TIMEZONE"),
        ({"BOT_NOW": "gestern"}, ["ask", "hallo"], "BOT_NOW"),
        ({"BOT_LANGUAGE": "fr"}, ["chat"], "BOT_LANGUAGE"),
        ({"BOT_CONTENT_DIR": "/does/not/exist"}, ["run"], "BOT_CONTENT_DIR"),
        (
            {"BOT_TELEGRAM_WEBHOOK_URL": "https://x.example/hook", "BOT_TELEGRAM_TOKEN": "123:SECRET-TOKEN"},
            ["run"],
            "BOT_TELEGRAM_WEBHOOK_SECRET",
        ),
        ({}, ["ask", "--now", "morgen früh", "hallo"], "--now"),
    ],
)
def test_invalid_configuration_is_one_line_exit_2(
    tmp_path: Path, env: dict[str, str], args: list[str], variable: str
) -> None:
    result = run(args, tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "SECRET-TOKEN" not in result.stderr


def test_content_sync_reports_and_refuses_bad_files(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "events").mkdir(parents=True)
    source = OTHER_CONTENT / "events" / "sommerfest.md"
    (content / "events" / "sommerfest.md").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    result = run(["content", "sync", str(content)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "events: 1 added, 0 changed, 0 removed" in result.stdout
    assert "+ sommerfest" in result.stdout
    (content / "events" / "kaputt.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    result = run(["content", "sync", str(content)], tmp_path)
    assert result.returncode == 1
    assert "kaputt.md" in result.stderr and "kind: required field is missing" in result.stderr
    assert "nothing changed" in result.stderr


def test_chat_works_piped_and_buttons_are_numbers(tmp_path: Path) -> None:
    result = run(["chat"], tmp_path, stdin="Wann ist der nächste WebTalk?\n1\n1\nmeine\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Demo-Modus" in out and "28. September 2020" in out
    assert "[1] ✅ Anmelden" in out
    assert "Sind Sie einverstanden?" in out
    assert "✅ Sie sind angemeldet für Vitale Standorte" in out
    assert "bestätigt" in out


def test_run_without_platforms_says_so_and_chats(tmp_path: Path) -> None:
    result = run(["run"], tmp_path, stdin="hilfe\n")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert "Keine Plattform konfiguriert" in first
    assert "Was ich kann" in result.stdout


def test_db_upgrade(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "stadtretter.sqlite3").exists()


def test_run_without_platforms_and_without_input_refuses_in_one_line(tmp_path: Path) -> None:
    """A container started without a token and without -it: no greeting and exit 0 to restart in a loop."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**environment, "BOT_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no platform configured" in lines[0] and "-it" in lines[0]
    assert result.stdout == ""


def test_ask_answers_bad_input_without_failing(tmp_path: Path) -> None:
    stdin = "x" * 5000 + "\n<script>alert(1)</script>\nWas läuft am 31.02.?\n"
    result = run(["ask", "--json", "--now", "2020-09-28T09:00:00+02:00"], tmp_path, stdin=stdin)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["intent"] for r in records] == ["too_long", "unknown", "invalid_date"]
    assert all(r["events"] == [] and r["text"] for r in records)


def make_manager_content(tmp_path: Path) -> Path:
    content = tmp_path / "mycontent"
    shutil.copytree(OTHER_CONTENT, content)
    return content


def test_content_sync_refuses_a_folder_one_level_too_deep(tmp_path: Path) -> None:
    content = make_manager_content(tmp_path)
    assert run(["content", "sync", str(content)], tmp_path).returncode == 0
    result = run(["content", "sync", str(content / "events")], tmp_path)
    assert result.returncode == 1
    assert f"did you mean {content}?" in result.stderr and "nothing changed" in result.stderr


def test_content_sync_shows_and_asks_before_withdrawing(tmp_path: Path) -> None:
    content = make_manager_content(tmp_path)
    assert run(["content", "sync", str(content)], tmp_path).returncode == 0
    for name in ("sommerfest", "webtalk-rueckblick", "webtalk-popup-stores", "workshop-citylogistik"):
        (content / "events" / f"{name}.md").unlink()
    dry = run(["content", "sync", str(content), "--dry-run"], tmp_path)
    assert dry.returncode == 0 and "dry run: nothing changed" in dry.stdout
    assert "  - sommerfest (withdrawn)" in dry.stdout
    refused = run(["content", "sync", str(content)], tmp_path)  # stdin is not a terminal: no question
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert "4 removed" in refused.stdout
    applied = run(["content", "sync", str(content), "--yes"], tmp_path)
    assert applied.returncode == 0 and "content synced from" in applied.stdout


def test_the_demo_never_overwrites_a_managers_content(tmp_path: Path) -> None:
    content = make_manager_content(tmp_path)
    assert run(["content", "sync", str(content)], tmp_path).returncode == 0
    for args in (["chat"], ["run"]):
        result = run(args, tmp_path, stdin="hallo\n")  # no BOT_CONTENT_DIR: the bundled demo
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(content) in lines[0] and "--switch" in lines[0]
    other = run(["content", "sync"], tmp_path)
    assert other.returncode == 2 and "--switch" in other.stderr
    ok = run(["chat"], tmp_path, stdin="nächstes Seminar\n", env={"BOT_CONTENT_DIR": str(content)})
    assert ok.returncode == 0 and "Schaufenster" in ok.stdout


def test_ask_reads_the_real_database_without_writing(tmp_path: Path) -> None:
    content = make_manager_content(tmp_path)
    assert run(["content", "sync", str(content)], tmp_path).returncode == 0
    database = tmp_path / "data" / "stadtretter.sqlite3"
    before = database.read_bytes()
    questions = ["Wann ist der nächste WebTalk?", "/einwilligen Sommerfest", "meine Anmeldungen"]
    result = run(["ask", "--json", "--now", "2027-03-08T08:00:00+01:00", *questions], tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["slug"] for e in records[0]["events"]] == ["webtalk-foerderprogramme"]
    assert records[1]["intent"] == "error"  # it would have stored a consent
    assert database.read_bytes() == before


def test_ask_on_a_content_folder_runs_on_the_real_clock(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    soon = datetime.now(UTC) + timedelta(days=10)
    content = tmp_path / "mine"
    (content / "events").mkdir(parents=True)
    front = f"title: Adventsmarkt-Runde\nkind: roundtable\nstarts_at: {soon:%Y-%m-%d}T10:00:00+00:00"
    (content / "events" / "adventsmarkt.md").write_text(f"---\n{front}\n---\nText\n", encoding="utf-8")
    question = f"Was läuft am {soon.day}.{soon.month}.?"
    result = run(["ask", "--json", "--content", str(content), question], tmp_path)
    record = json.loads(result.stdout)
    assert [e["slug"] for e in record["events"]] == ["adventsmarkt"], record


def test_overview_show_json_follows_the_interface(tmp_path: Path) -> None:
    result = run(["overview", "show", "--json", "--now", "2020-09-30T12:00:00+02:00"], tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == {"week", "edition", "impulse", "news", "events", "practices", "members", "text"}
    assert record["week"] == "2020-W40" and record["edition"] == "2020-W40"
    assert record["events"][0] == "webtalk-groesste-zukunft"  # the featured one first
    assert record["text"].startswith("📬 Stadtretter-Wochenübersicht")
    english = run(["digest", "show", "--lang", "en", "--now", "2020-09-30T12:00:00+02:00"], tmp_path)
    assert english.returncode == 0 and english.stdout.startswith("📬 Stadtretter weekly overview")
    assert not (tmp_path / "data" / "stadtretter.sqlite3").exists()


def test_overview_send_queues_once_and_refuses_a_bad_week(tmp_path: Path) -> None:
    bad = run(["overview", "send", "--week", "2020-W99"], tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "2020-W99" in bad.stderr
    ok = run(["overview", "send", "--week", "2020-W40"], tmp_path)
    assert ok.returncode == 0 and "queued for 0 chat(s)" in ok.stdout


async def _a_contribution(data_dir: Path) -> None:
    """A group that got the impulse, and Anna's reply there (made through the core, as on a platform)."""
    from bot.app import build_context
    from bot.chat import ChatRef, Person
    from bot.config import load_settings
    from bot.db.models import TargetKind, TargetStatus
    from bot.notices.impulses import DiscussionRenderer

    ctx = await build_context(load_settings(data_dir=data_dir))
    try:
        group = ChatRef("telegram", "-100", is_private=False)
        now = ctx.clock.now()
        await ctx.overview.set_chat(group, kind=TargetKind.GROUP, status=TargetStatus.ACTIVE, now=now)
        rendering = DiscussionRenderer(ctx.renderer)
        assert await ctx.discussion.post("2020-09-28-thinius", rendering, now=now) == 1
        await ctx.discussion.contribute(
            "impulse:2020-09-28-thinius",
            chat=group,
            message_id="7",
            author=Person("telegram", "anna", display_name="Anna Schmidt"),
            text="Die Stadt rettet sich selbst!",
            now=now,
            rendering=rendering,
        )
    finally:
        await ctx.close()


def test_impulse_post_and_discussion(tmp_path: Path) -> None:
    unknown = run(["impulse", "post", "gibt-es-nicht"], tmp_path)
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    ok = run(["impulse", "post", "2020-09-28-thinius"], tmp_path)
    assert ok.returncode == 0 and "queued for 0 chat(s)" in ok.stdout
    asyncio.run(_a_contribution(tmp_path / "data"))
    listed = run(["impulse", "discussion", "2020-09-28-thinius", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry == {
        "platform": "telegram",
        "author": "Anna Schmidt",
        "text": "Die Stadt rettet sich selbst!",
        "at": entry["at"],
        "mirrored": [],
    }
    assert entry["at"].startswith("2020-09-28T")
    text = run(["impulse", "discussion", "2020-09-28-thinius"], tmp_path)
    assert "Anna Schmidt (telegram): Die Stadt rettet sich selbst!" in text.stdout
