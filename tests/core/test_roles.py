"""Roles given and taken safely: one-time invitations (24 h, hash only), /rollen, /entziehen, audit log."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.chat import ChatRef, Incoming, Person, Reply
from bot.context import AppContext
from bot.db.models import Role
from tests.conftest import text_of
from tests.core.test_privacy import every_value

ADMIN = Person("telegram", "1", "Ada Admin")
MARIA = Person("telegram", "42", "Maria")
MATRIX = Person("matrix", "@bea:example.org", "Bea")


async def say_as(ctx: AppContext, who: Person, text: str) -> list[Reply]:
    return await ctx.handle(Incoming(ChatRef(who.platform, who.id), who, text))


async def invitation(ctx: AppContext, role: str = "manager") -> str:
    ctx.settings.admins = [ADMIN.key]
    await ctx.roles.apply_settings(now=ctx.clock.now())
    ctx.announce("telegram", "stadtretter_bot")
    (reply,) = await say_as(ctx, ADMIN, f"/einladen {role}")
    match = re.search(r"https://t\.me/stadtretter_bot\?start=rolle-([A-Za-z0-9_-]+)", reply.plain)
    assert match is not None, reply.plain
    assert f"!rolle {match.group(1)}" in reply.plain
    return match.group(1)


async def test_an_invitation_link_gives_the_role_once_and_only_its_hash_is_kept(ctx: AppContext) -> None:
    token = await invitation(ctx)
    assert not [v for v in await every_value(ctx) if token in v]
    assert "Community-Manager" in text_of(await say_as(ctx, MARIA, f"/start rolle-{token}"))
    assert await ctx.roles.role_of(MARIA.key) is Role.MANAGER
    assert "/export" in text_of(await say_as(ctx, MARIA, "/hilfe"))
    # Once only: a second person gets nothing.
    assert "nicht gültig" in text_of(await say_as(ctx, MATRIX, f"!rolle {token}"))
    assert await ctx.roles.role_of(MATRIX.key) is Role.MEMBER


async def test_matrix_accepts_with_a_command_and_invitations_expire_after_24_hours(ctx: AppContext) -> None:
    token = await invitation(ctx, "admin")
    assert "Administrator" in text_of(await say_as(ctx, MATRIX, f"!rolle {token}"))
    assert await ctx.roles.role_of(MATRIX.key) is Role.ADMIN
    late = await invitation(ctx)
    assert ctx.clock.fixed is not None
    ctx.clock.fixed += timedelta(hours=24, minutes=1)
    assert "nicht gültig" in text_of(await say_as(ctx, MARIA, f"/rolle {late}"))
    assert "nicht gültig" in text_of(await say_as(ctx, MARIA, "/rolle erfunden"))
    assert await ctx.roles.role_of(MARIA.key) is Role.MEMBER


async def test_admins_list_and_revoke_roles_and_everything_is_in_the_audit_log(ctx: AppContext) -> None:
    token = await invitation(ctx)
    await say_as(ctx, MARIA, f"/rolle {token}")
    listed = text_of(await say_as(ctx, ADMIN, "/rollen"))
    assert "telegram:42 – Community-Manager (eingeladen von telegram:1" in listed
    assert "telegram:1 – Administrator (Einstellungen)" in listed
    assert "aus den Einstellungen" in text_of(await say_as(ctx, ADMIN, "/entziehen telegram:1"))
    assert "Wessen Rolle" in text_of(await say_as(ctx, ADMIN, "/entziehen 42"))
    assert "wieder Mitglied" in text_of(await say_as(ctx, ADMIN, "/entziehen telegram:42"))
    assert await ctx.roles.role_of(MARIA.key) is Role.MEMBER
    assert "nur Community-Manager" in text_of(await say_as(ctx, MARIA, "/export alle"))
    await say_as(ctx, ADMIN, "/export alle")
    log = [(e.action, e.actor, e.subject) for e in await ctx.audit.latest()]
    assert log[:4] == [
        ("export", "telegram:1", None),
        ("revoke", "telegram:1", "telegram:42"),
        ("grant", "telegram:1", "telegram:42"),
        ("invite", "telegram:1", None),
    ]
    assert ("grant", "settings", "telegram:1") in log
    shown = text_of(await say_as(ctx, ADMIN, "/protokoll"))
    assert "revoke · telegram:1 → telegram:42 · manager" in shown
    assert "nur Administratoren" in text_of(await say_as(ctx, MARIA, "/protokoll"))


async def test_two_instances_starting_together_store_the_settings_roles_once(
    pg_url: str, settings: object
) -> None:
    import asyncio

    from bot.app import build_context
    from bot.config import Settings

    assert isinstance(settings, Settings)
    first = await build_context(settings, database_url=pg_url, sync=False)  # the schema, once
    await first.close()
    settings.admins = ["telegram:1", "telegram:2", "telegram:3"]
    contexts = await asyncio.gather(
        *(build_context(settings, database_url=pg_url, sync=False) for _ in range(3))
    )
    try:
        holders = await contexts[0].roles.holders()
        assert sorted(h.key for h in holders) == ["console:local", "telegram:1", "telegram:2", "telegram:3"]
    finally:
        for ctx in contexts:
            await ctx.close()
