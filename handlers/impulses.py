"""The impulse of the week: reading it with its discussion, contributing, moderating, sharing on or off."""

from __future__ import annotations

from bot.access import MANAGER_PRIVATE, OPEN, Access
from bot.chat import Reply, about, split_subject
from bot.context import AppContext
from bot.db.models import Role
from bot.notices.impulses import PLATFORM_NAMES, DiscussionRenderer, paragraphs
from bot.router import Request, Response, Router
from bot.services.discussion import Outcome
from bot.text import fold
from handlers.events import question
from handlers.impulse_new import is_new, new_impulse

router: Router[AppContext] = Router()

LATEST_IN_IMPULSE = 3
LATEST_IN_DISCUSSION = 15
ON_WORDS = frozenset({"an", "ein", "on"})
OFF_WORDS = frozenset({"aus", "off"})


def _rendering(ctx: AppContext) -> DiscussionRenderer:
    return DiscussionRenderer(ctx.renderer)


async def _summary(ctx: AppContext, slug: str, lang: str, *, latest: int) -> str:
    count, shown = await ctx.discussion.summary(slug, latest=latest)
    return ctx.render(
        "discussion",
        lang,
        case="summary",
        count=count,
        latest=shown,
        more=count > latest,
        platforms=PLATFORM_NAMES,
    )


def _impulse_access(req: Request) -> Access:
    """Reading is for everyone; writing a new impulse (`/impuls neu`) is a manager's private dialogue."""
    return MANAGER_PRIVATE if is_new(req.args) else OPEN


@router.command(
    "impuls",
    ("impulse",),
    as_word=True,
    word_max_args=3,
    access=_impulse_access,
    help=("der Impuls der Woche und seine Diskussion", "this week's impulse and its discussion"),
)
async def impulse(req: Request, ctx: AppContext) -> list[Reply]:
    """Show the latest impulse with the number of contributions and the latest few; managers: /impuls neu."""
    if is_new(req.args):
        return await new_impulse(req, ctx)
    latest = await ctx.events.latest_impulse(now=ctx.clock.now())
    if latest is None:
        return [Reply(ctx.render("impulse", req.lang, impulse=None, paragraphs=[]))]
    text = ctx.render("impulse", req.lang, impulse=latest, paragraphs=paragraphs(latest.body))
    summary = await _summary(ctx, latest.slug, req.lang, latest=LATEST_IN_IMPULSE)
    return [Reply(f"{text}\n\n{summary}", subject=about("impulse", latest.slug))]


@router.command(
    "diskussion",
    ("discussion",),
    as_word=True,
    word_max_args=0,
    help=("die Diskussion zum Impuls der Woche", "the discussion of this week's impulse"),
)
async def discussion(req: Request, ctx: AppContext) -> list[Reply]:
    """Show the latest contributions to the current impulse."""
    latest = await ctx.events.latest_impulse(now=ctx.clock.now())
    if latest is None:
        return [Reply(ctx.render("discussion", req.lang, case="no_impulse", platforms=PLATFORM_NAMES))]
    summary = await _summary(ctx, latest.slug, req.lang, latest=LATEST_IN_DISCUSSION)
    return [Reply(f"💡 <b>{_escape(latest.title)}</b>\n{summary}", subject=about("impulse", latest.slug))]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.reply_to("impulse")
@router.reply_to("contribution")
async def contribute(req: Request, ctx: AppContext) -> list[Reply] | Response:
    """A reply to the impulse post or to a contribution joins the discussion (and is shared)."""
    ref = req.incoming.message
    if not req.text.strip() or ref is None or req.subject is None:
        return []
    outcome = await ctx.discussion.contribute(
        req.subject,
        chat=req.chat,
        message_id=ref.message_id,
        author=req.sender,
        text=req.text,
        now=ctx.clock.now(),
        rendering=_rendering(ctx),
    )
    if outcome is Outcome.NOT_HERE:
        return await question(req, ctx)  # e.g. a follow-up to /impuls in a private chat
    return []  # the discussion speaks for itself: no answer from the bot under every contribution


def _contribution_id(req: Request) -> int | None:
    kind, ident = split_subject(req.subject)
    return int(ident) if kind == "contribution" and ident and ident.isdigit() else None


@router.edit_of("contribution")
async def contribution_edited(req: Request, ctx: AppContext) -> list[Reply]:
    """The author changed their contribution: the copies change too."""
    contribution_id, ref = _contribution_id(req), req.incoming.message
    if contribution_id is None or ref is None or not req.text.strip():
        return []
    await ctx.discussion.edit(
        contribution_id,
        chat=req.chat,
        message_id=ref.message_id,
        text=req.text,
        now=ctx.clock.now(),
        rendering=_rendering(ctx),
    )
    return []


@router.deletion_of("contribution")
async def contribution_deleted(req: Request, ctx: AppContext) -> list[Reply]:
    """The author removed their contribution: the copies go too."""
    contribution_id, ref = _contribution_id(req), req.incoming.message
    if contribution_id is None or ref is None:
        return []
    await ctx.discussion.remove(
        contribution_id,
        chat=req.chat,
        message_id=ref.message_id,
        now=ctx.clock.now(),
        rendering=_rendering(ctx),
    )
    return []


@router.command(
    "verbergen",
    "hide",
    role=Role.MANAGER,  # used as a reply in the group itself
    help=(
        "einen Beitrag überall verbergen (als Antwort darauf)",
        "hide a contribution everywhere (as a reply)",
    ),
)
async def hide(req: Request, ctx: AppContext) -> list[Reply]:
    """Hide the contribution this command replies to in every other chat and in summaries."""
    contribution_id = _contribution_id(req)
    if contribution_id is None:
        return [Reply(ctx.render("discussion", req.lang, case="hide_how", platforms=PLATFORM_NAMES))]
    found = await ctx.discussion.remove(
        contribution_id, hidden=True, now=ctx.clock.now(), rendering=_rendering(ctx)
    )
    case = "hidden" if found is not None else "hide_how"
    return [Reply(ctx.render("discussion", req.lang, case=case, platforms=PLATFORM_NAMES))]


@router.command(
    "spiegeln",
    "mirror",
    role=Role.MANAGER,  # switches the group or room it is used in
    help=(
        "Beiträge anderer Chats hier zeigen: an oder aus (Community-Management)",
        "show other chats' contributions here: on or off (managers)",
    ),
)
async def mirror(req: Request, ctx: AppContext) -> list[Reply]:
    """Turn the copies of other chats' contributions in this group or room on or off."""

    def say(case: str, **values: object) -> list[Reply]:
        return [Reply(ctx.render("discussion", req.lang, case=case, platforms=PLATFORM_NAMES, **values))]

    if req.chat.is_private:
        return say("mirror_private")
    words = fold(req.args).split()
    target = await ctx.overview.find(req.chat)
    if target is None:
        return say("mirror_no_target")
    if words and words[0] in ON_WORDS | OFF_WORDS:
        on = words[0] in ON_WORDS
        await ctx.discussion.set_mirror(req.chat, on=on)
        return say("mirror_on" if on else "mirror_off")
    return say(
        "mirror_status", on=await ctx.discussion.mirror_of(req.chat), everywhere=ctx.settings.impulse_mirror
    )
