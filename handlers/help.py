"""Welcome and help, including deep links such as /start anmelden-<slug>."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from bot.chat import Reply
from bot.router import Request, Router

if TYPE_CHECKING:
    from bot.app import AppContext

router = Router()


@router.command("start", "start", hidden=True, help=("Begrüßung", "welcome"))
async def start(req: Request, ctx: AppContext) -> list[Reply]:
    """Greet a new member; a deep-link payload opens the registration for that event."""
    payload = req.args.strip()
    if payload.startswith(("anmelden-", "register-")):
        from handlers.registration import register

        slug = payload.split("-", 1)[1]
        return await register(dataclasses.replace(req, args=slug, command="anmelden"), ctx)
    return [
        Reply(
            ctx.render(
                "welcome",
                req.lang,
                demo=ctx.demo_clock,
                now=ctx.clock.now(),
                commands=ctx.router.visible_commands(),
            )
        )
    ]


@router.command("hilfe", "help", as_word=True, word_max_args=2, help=("was ich kann", "what I can do"))
async def help_(req: Request, ctx: AppContext) -> list[Reply]:
    """Explain commands and example questions."""
    return [Reply(ctx.render("help", req.lang, commands=ctx.router.visible_commands()))]
