"""Roles on Telegram end to end: menus per role (chat scopes), an invitation link, private answers."""

from __future__ import annotations

import re

import pytest

from bot.context import AppContext
from bot.platforms.telegram import TelegramAdapter
from tests.telegram.test_e2e import next_message
from tests.telegram_api import BotApiServer

pytestmark = [
    pytest.mark.telegram,
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


def menu(server: BotApiServer, user_id: int, language: str = "") -> set[str]:
    return {c["command"] for c in server.commands.get((f"chat:{user_id}", language), [])}


async def test_an_invitation_link_makes_a_manager_with_a_managers_menu_until_revoked(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    ada = live_server.create_user("Ada")
    bot_ctx.settings.admins.append(f"telegram:{ada.id}")
    await bot_ctx.roles.apply_settings(now=bot_ctx.clock.now())
    await telegram_bot.update_role_menus()
    assert {"einladen", "rollen", "export"} <= menu(live_server, ada.id)
    assert {"invite", "roles", "export"} <= menu(live_server, ada.id, "en")

    ada.send_command("einladen", "manager")
    invitation = await next_message(live_server, ada.chat, 0)
    match = re.search(r"t\.me/stadtretter_test_bot\?start=(rolle-[A-Za-z0-9_-]+)", invitation.text)
    assert match is not None, invitation.text

    maria = live_server.create_user("Maria")
    maria.start(match.group(1))
    welcome = await next_message(live_server, maria.chat, 0)
    assert "Sie sind jetzt Community-Manager" in welcome.text
    await live_server.wait_until(lambda: "export" in menu(live_server, maria.id))
    assert "einladen" not in menu(live_server, maria.id)
    assert "export" not in {c["command"] for c in live_server.commands[("default", "")]}

    ada.send_command("entziehen", f"telegram:{maria.id}")
    done = await next_message(live_server, ada.chat, 1)
    assert "wieder Mitglied" in done.text
    await live_server.wait_until(lambda: (f"chat:{maria.id}", "") not in live_server.commands)


async def test_a_personal_command_in_a_group_is_answered_in_the_private_chat(
    live_server: BotApiServer, telegram_bot: TelegramAdapter, bot_ctx: AppContext
) -> None:
    group = live_server.create_group("Runde Nord")
    anna = live_server.create_user("Anna")
    anna.start()
    await live_server.wait_inbox(anna.chat, 1)
    anna.send_command("meine", chat=group, with_botname=True)
    notice = await next_message(live_server, group, 0)
    assert "im privaten Chat" in notice.text and "https://t.me/stadtretter_test_bot" in notice.raw_text
    answer = await next_message(live_server, anna.chat, 1)
    assert "Anmeldungen" in answer.text
    assert len(group.inbox) == 1
