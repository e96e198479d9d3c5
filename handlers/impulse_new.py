"""`/impuls neu`: a manager writes an impulse in a private chat – text, author, time, preview, publish."""

from __future__ import annotations

import re
from datetime import datetime

from bot.chat import Button, Reply
from bot.context import AppContext
from bot.notices.impulses import DiscussionRenderer
from bot.router import Request, Router
from bot.services.dialogues import Dialogue
from bot.services.discussion import ImpulseView
from bot.text import fold

router: Router[AppContext] = Router()

NAME = "impulse"
NEW_WORDS = frozenset({"neu", "new"})
CANCEL_WORDS = frozenset({"abbrechen", "cancel", "stop"})
OK_WORDS = frozenset({"ok", "ja", "yes"})
NOW_WORDS = frozenset({"jetzt", "now", "sofort"})
MAX_TITLE = 300
MAX_AUTHOR = 200
_WHEN = re.compile(
    r"^(?:(?P<iso>\d{4}-\d{2}-\d{2})|(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})?)"
    r"(?:[ ,t]+(?:um\s+)?(?P<h>\d{1,2})[:.](?P<min>\d{2})(?:\s*uhr)?)?$"
)


def is_new(args: str) -> bool:
    words = fold(args).split()
    return bool(words) and words[0] in NEW_WORDS


def _say(ctx: AppContext, req: Request, case: str, **values: object) -> Reply:
    return Reply(ctx.render("impulse_new", req.lang, case=case, **values))


async def new_impulse(req: Request, ctx: AppContext) -> list[Reply]:
    """Start the dialogue, or act on a preview's button (publish, schedule, discard)."""
    # Who may (managers) and where (a private chat) is the router's access chain: see `/impuls`.
    words = fold(req.args).split()[1:]
    now = ctx.clock.now()
    if not words:
        ctx.dialogues.start(req.chat.key, NAME, "text", now=now)
        return [_say(ctx, req, "ask_text")]
    dialogue = ctx.dialogues.get(req.chat.key, now=now)
    if dialogue is None or dialogue.name != NAME or dialogue.step != "preview":
        return [Reply(ctx.render("impulse_new", req.lang, case="nothing_open"), edit=req.incoming.is_button)]
    ctx.dialogues.end(req.chat.key)
    if words[0] in ("verwerfen", "discard"):
        return [Reply(ctx.render("impulse_new", req.lang, case="discarded"), edit=req.incoming.is_button)]
    when = datetime.fromisoformat(dialogue.values["when"]) if dialogue.values.get("when") else now
    made = await ctx.discussion.create_impulse(
        title=dialogue.values["title"],
        author=dialogue.values["author"],
        body=dialogue.values["body"],
        post_at=when,
        created_by=req.sender.key,
        now=now,
    )
    if words[0] in ("veroeffentlichen", "publish") or when <= now:
        platforms = set(ctx.transports) or None
        count = await ctx.discussion.post(
            made.slug, DiscussionRenderer(ctx.renderer), now=now, platforms=platforms, claim=True
        )
        return [_say(ctx, req, "published", count=count or 0)]
    return [_say(ctx, req, "scheduled", when=when)]


@router.dialogue(NAME)
async def answer(req: Request, ctx: AppContext) -> list[Reply]:
    """The manager's answer to the dialogue's current question."""
    now = ctx.clock.now()
    dialogue = ctx.dialogues.get(req.chat.key, now=now)
    if dialogue is None:
        return []
    if fold(req.text).strip(" .!") in CANCEL_WORDS:
        ctx.dialogues.end(req.chat.key)
        return [_say(ctx, req, "discarded")]
    step = {"text": _text, "author": _author, "when": _when, "preview": _when}[dialogue.step]
    return step(req, ctx, dialogue, now)


def _text(req: Request, ctx: AppContext, dialogue: Dialogue, now: datetime) -> list[Reply]:
    title, _, body = req.text.strip().partition("\n")
    if not title.strip() or not body.strip() or len(title) > MAX_TITLE:
        return [_say(ctx, req, "bad_text")]
    ctx.dialogues.advance(dialogue, "author", now=now, title=title.strip(), body=body.strip())
    return [_say(ctx, req, "ask_author", default=_default_author(req))]


def _default_author(req: Request) -> str:
    return req.sender.display_name or req.sender.id


def _author(req: Request, ctx: AppContext, dialogue: Dialogue, now: datetime) -> list[Reply]:
    text = req.text.strip()
    author = _default_author(req) if fold(text) in OK_WORDS else text
    if "\n" in author or len(author) > MAX_AUTHOR:
        return [_say(ctx, req, "bad_author")]
    ctx.dialogues.advance(dialogue, "when", now=now, author=author)
    return [_say(ctx, req, "ask_when")]


def parse_when(text: str, now: datetime) -> datetime | None:
    """ "jetzt" -> now; "5.10.2020 09:00", "2020-10-05 9:00" -> that local time (None: not understood)."""
    folded = fold(text).strip()
    if folded in NOW_WORDS:
        return now
    match = _WHEN.match(folded)
    if match is None:
        return None
    try:
        if match["iso"]:
            day = datetime.fromisoformat(match["iso"])
        else:
            day = datetime(int(match["y"] or now.year), int(match["m"]), int(match["d"]))
        when = day.replace(hour=int(match["h"] or 9), minute=int(match["min"] or 0), tzinfo=now.tzinfo)
    except ValueError:
        return None
    return when if when >= now else None


def _when(req: Request, ctx: AppContext, dialogue: Dialogue, now: datetime) -> list[Reply]:
    local = now.astimezone(ctx.settings.tz)
    when = parse_when(req.text, local)
    if when is None:
        return [_say(ctx, req, "bad_when")]
    later = when > local
    ctx.dialogues.advance(dialogue, "preview", now=now, when=when.isoformat() if later else "")
    values = dialogue.values
    preview = ImpulseView(0, "", values["title"], values["author"], values["body"], when, "chat", None)
    post = DiscussionRenderer(ctx.renderer).post(preview, req.lang)
    de = req.lang == "de"
    buttons = (
        (
            Button("📣 Veröffentlichen" if de else "📣 Publish", "/impuls neu veroeffentlichen"),
            Button("🗓 Planen" if de else "🗓 Schedule", "/impuls neu planen"),
            Button("🗑 Verwerfen" if de else "🗑 Discard", "/impuls neu verwerfen"),
        ),
    )
    return [_say(ctx, req, "preview", when=when if later else None), Reply(post.html, buttons=buttons)]
