"""Welcome and help, including deep links such as /start anmelden-<slug>."""

from __future__ import annotations

import dataclasses

from bot.chat import Reply
from bot.context import AppContext
from bot.router import Request, Response, Router
from bot.services.questions import Intent
from handlers.registration import register
from handlers.roles import accept_from_start

router: Router[AppContext] = Router()


@router.command("start", "start", hidden=True, help=("Begrüßung", "welcome"))
async def start(req: Request, ctx: AppContext) -> list[Reply] | Response:
    """Greet a new member; a deep-link payload opens the registration for that event."""
    payload = req.args.strip()
    if payload.startswith("rolle-"):
        return await accept_from_start(req, ctx, payload.removeprefix("rolle-"))
    if payload.startswith(("anmelden-", "register-")):
        slug = payload.split("-", 1)[1]
        return await register(dataclasses.replace(req, args=slug, command="anmelden"), ctx)
    welcome = ctx.render(
        "welcome",
        req.lang,
        demo=ctx.demo_clock,
        now=ctx.clock.now(),
        commands=ctx.router.visible_commands(req.role),
    )
    return Response([Reply(welcome)], Intent.GREETING)


@router.command("hilfe", "help", as_word=True, word_max_args=2, help=("was ich kann", "what I can do"))
async def help_(req: Request, ctx: AppContext) -> Response:
    """Explain the commands the sender's role may use, and example questions."""
    commands = ctx.router.visible_commands(req.role)
    return Response(
        [Reply(ctx.render("help", req.lang, commands=commands, role=req.role.value))], Intent.HELP
    )
