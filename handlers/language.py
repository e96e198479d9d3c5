"""The member's language: /sprache en, /language de."""

from __future__ import annotations

from bot.chat import Button, Reply
from bot.context import AppContext
from bot.router import Request, Router
from bot.text import tokens

router: Router[AppContext] = Router()

_NAMES = {
    "de": "de",
    "deutsch": "de",
    "german": "de",
    "en": "en",
    "english": "en",
    "englisch": "en",
}


@router.command(
    "sprache",
    "language",
    help=(
        "Sprache wählen: /sprache de oder /sprache en",
        "choose the language: /language en or /language de",
    ),
)
async def language(req: Request, ctx: AppContext) -> list[Reply]:
    """Choose the language of every reply, button and reminder (without an argument: offer both)."""
    words = tokens(req.args)
    wanted = _NAMES.get(words[0]) if len(words) == 1 else None
    if wanted is None or ctx.languages is None:
        buttons = ((Button("🇩🇪 Deutsch", "/sprache de"), Button("🇬🇧 English", "/sprache en")),)
        case = "ask" if not req.args.strip() else "unknown"
        return [Reply(ctx.render("language", req.lang, case=case, given=req.args[:40]), buttons=buttons)]
    await ctx.languages.choose(req.sender, wanted)
    return [Reply(ctx.render("language", wanted, case="chosen"), edit=req.incoming.is_button)]
