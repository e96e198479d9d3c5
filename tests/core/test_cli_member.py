"""`stadtretter member export | delete` for written requests, and `stadtretter audit`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.core.test_cli import run

# The console's person has no role here (a role from the settings would be stored again at every start).
NOW = {"BOT_NOW": "2020-09-28T09:00:00+02:00", "BOT_ADMINS": "", "BOT_MANAGERS": ""}


def test_member_export_and_delete_on_the_command_line(tmp_path: Path) -> None:
    chat = "/einwilligen webtalk-groesste-zukunft\n/abo ja\n"
    assert run(["chat"], tmp_path, stdin=chat, env=NOW).returncode == 0
    exported = run(["member", "export", "console:local"], tmp_path, env=NOW)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["person"] == "console:local"
    assert [r["status"] for r in data["tables"]["registrations"]] == ["confirmed"]
    assert data["tables"]["overview_targets"][0]["kind"] == "member"

    refused = run(["member", "delete", "console:local"], tmp_path, stdin="n\n", env=NOW)
    assert refused.returncode == 1 and "nothing erased" in refused.stdout
    deleted = run(["member", "delete", "console:local", "--yes"], tmp_path, env=NOW)
    assert deleted.returncode == 0 and "erased console:local" in deleted.stdout
    again = json.loads(run(["member", "export", "console:local"], tmp_path, env=NOW).stdout)
    assert again["tables"] == {}

    audit = run(["audit"], tmp_path, env=NOW)
    assert audit.returncode == 0
    actions = [line.split()[1:3] for line in audit.stdout.splitlines()]
    # Newest first; the erasure made the earlier entry anonymous.
    assert actions == [["data_export", "cli"], ["erase", "cli"], ["data_export", "cli"]]
    assert "-> console:local" in audit.stdout.splitlines()[0]
    assert "console:local" not in "".join(audit.stdout.splitlines()[1:])


def test_a_malformed_person_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run(["member", "delete", "12345"], tmp_path, env=NOW)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "stadtretter: '12345' is not platform:user-id (e.g. telegram:12345 or matrix:@anna:example.org)"
    )


async def test_the_command_line_finds_and_forgets_a_matrix_members_direct_room(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without logging in to Matrix: the direct room is read from the data dir's session.json."""
    from bot.app import build_context
    from bot.chat import ChatRef, Incoming, Person
    from bot.cli.member import member
    from bot.config import load_settings
    from bot.platforms.matrix.session import DirectRooms, session_path

    settings = load_settings(data_dir=tmp_path / "data", now=NOW["BOT_NOW"], admins=[], managers=[])
    anna, room = Person("matrix", "@anna:example.org", "Anna"), "!direkt:example.org"
    DirectRooms(session_path(settings.data_dir)).remember(anna.id, room)
    ctx = await build_context(settings)
    await ctx.registrations.give_consent(anna)
    await ctx.handle(Incoming(ChatRef("matrix", room), anna, "/anmelden webtalk-vitale-standorte"))
    ctx.subjects.add(ChatRef("matrix", room), "$karte", "event:webtalk-vitale-standorte")
    await ctx.close()

    assert (
        await member(settings, argparse.Namespace(member_command="export", person=f"matrix:{anna.id}")) == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert exported["tables"]["private_chats"] == [{"platform": "matrix", "chat_id": room}]
    assert [r["chat_id"] for r in exported["tables"]["sent_messages"]] == [room]
    erase = argparse.Namespace(member_command="delete", person=f"matrix:{anna.id}", yes=True)
    assert await member(settings, erase) == 0
    assert "private_chats 1" in capsys.readouterr().out
    assert DirectRooms(session_path(settings.data_dir)).mapping() == {}
    await member(settings, argparse.Namespace(member_command="export", person=f"matrix:{anna.id}"))
    assert json.loads(capsys.readouterr().out)["tables"] == {}
