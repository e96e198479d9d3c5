"""Roles: who am I (platform id and role)."""

from __future__ import annotations

from bot.chat import Reply
from bot.context import AppContext
from bot.router import Request, Router

router: Router[AppContext] = Router()


@router.command(
    "ich",
    ("whoami", "me"),
    help=("Ihre Kennung und Rolle", "your id and role"),
)
async def whoami(req: Request, ctx: AppContext) -> list[Reply]:
    """Tell the sender their platform id (as BOT_MANAGERS and BOT_ADMINS want it) and their role."""
    return [Reply(ctx.render("whoami", req.lang, key=req.sender.key, role=req.role.value))]
