"""Roles: who am I, invitations to a role, who has which role, taking a role back, the audit log."""

from __future__ import annotations

import dataclasses

from bot.chat import Reply
from bot.config import person_key_ok
from bot.context import AppContext
from bot.db.models import Role
from bot.router import Request, Router
from bot.text import fold

router: Router[AppContext] = Router()

INVITABLE = {"manager": Role.MANAGER, "managerin": Role.MANAGER, "admin": Role.ADMIN}


@router.command(
    "ich",
    ("whoami", "me"),
    help=("Ihre Kennung und Rolle", "your id and role"),
)
async def whoami(req: Request, ctx: AppContext) -> list[Reply]:
    """Tell the sender their platform id (as BOT_MANAGERS and BOT_ADMINS want it) and their role."""
    return [Reply(ctx.render("whoami", req.lang, key=req.sender.key, role=req.role.value))]


@router.command(
    "einladen",
    "invite",
    role=Role.ADMIN,
    private=True,
    help=(
        "Einladung zur Rolle, z. B. /einladen manager (Admin)",
        "invite to a role, e.g. /invite manager (admins)",
    ),
)
async def invite(req: Request, ctx: AppContext) -> list[Reply]:
    """Make a one-time link (Telegram) and command (Matrix, console) that gives a role, valid 24 hours."""
    role = INVITABLE.get(fold(req.args).strip())
    if role is None:
        return [Reply(ctx.render("roles", req.lang, case="invite_usage"))]
    token = await ctx.roles.invite(role, by=req.sender.key, now=ctx.clock.now())
    link = ctx.telegram_link(f"rolle-{token}")
    return [Reply(ctx.render("roles", req.lang, case="invited", role=role.value, token=token, link=link))]


@router.command(
    "rolle", "role", hidden=True, private=True, help=("eine Einladung einlösen", "accept an invitation")
)
async def accept(req: Request, ctx: AppContext) -> list[Reply]:
    """Accept an invitation: the token's role is the sender's until an admin takes it back."""
    token = req.args.strip()
    if not token or len(token) > 64:
        return [Reply(ctx.render("roles", req.lang, case="invalid"))]
    outcome, role = await ctx.roles.redeem(token, key=req.sender.key, now=ctx.clock.now())
    return [Reply(ctx.render("roles", req.lang, case=outcome.value, role=role.value if role else ""))]


@router.command(
    "rollen",
    "roles",
    role=Role.ADMIN,
    private=True,
    help=("wer welche Rolle hat (Admin)", "who has which role (admins)"),
)
async def roles(req: Request, ctx: AppContext) -> list[Reply]:
    """List everyone with a role above member, and where the role comes from."""
    return [Reply(ctx.render("roles", req.lang, case="list", holders=await ctx.roles.holders()))]


@router.command(
    "entziehen",
    "revoke",
    role=Role.ADMIN,
    private=True,
    help=("eine Rolle zurücknehmen, z. B. /entziehen telegram:12345 (Admin)", "take a role back (admins)"),
)
async def revoke(req: Request, ctx: AppContext) -> list[Reply]:
    """Take an invited role back from "platform:id"."""
    key = req.args.strip()
    if not person_key_ok(key):
        return [Reply(ctx.render("roles", req.lang, case="revoke_usage"))]
    outcome = await ctx.roles.revoke(key, by=req.sender.key, now=ctx.clock.now())
    return [Reply(ctx.render("roles", req.lang, case=outcome.value, key=key))]


@router.command(
    "protokoll",
    ("audit", "log"),
    role=Role.ADMIN,
    private=True,
    help=(
        "Protokoll der Rollen, Exporte und Löschungen (Admin)",
        "audit log of roles, exports, erasures (admins)",
    ),
)
async def audit(req: Request, ctx: AppContext) -> list[Reply]:
    """Show the newest audit entries."""
    return [Reply(ctx.render("roles", req.lang, case="audit", entries=await ctx.audit.latest(20)))]


async def accept_from_start(req: Request, ctx: AppContext, token: str) -> list[Reply]:
    """/start rolle-<token> (the Telegram invitation link)."""
    return await accept(dataclasses.replace(req, args=token, command="rolle"), ctx)
