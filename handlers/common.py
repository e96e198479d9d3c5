"""Reply building shared by handlers: event cards, buttons and resolving what event a member means."""

from __future__ import annotations

from bot.chat import Button, Reply, about
from bot.context import AppContext
from bot.notices import action as to
from bot.notices import calendar_button, cancel_button, register_button
from bot.router import Request
from bot.services.catalog import EventView
from bot.services.registration import MyRegistration

MAX_LISTED = 10
MAX_BUTTON_ROWS = 5


def short(title: str, limit: int = 28) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


# The member's own registrations by event slug (private chats only), so cards show ❌ instead of ✅.
Mine = dict[str, MyRegistration]


async def mine_of(req: Request, ctx: AppContext, events: list[EventView]) -> Mine:
    """The sender's registrations among `events`; only in a private chat (a group sees no one's status)."""
    if not events or not req.chat.is_private:
        return {}
    # Only people who agreed have registrations; most askers did not (and this is answered from memory).
    if not await ctx.registrations.consented(req.sender):
        return {}
    wanted = {e.slug for e in events}
    registrations = await ctx.registrations.mine(
        req.sender, ctx.events.catalog.by_id, upcoming_after=ctx.clock.now()
    )
    return {r.event.slug: r for r in registrations if r.event.slug in wanted}


def event_buttons(
    event: EventView, lang: str, *, with_details: bool = False, mine: MyRegistration | None = None
) -> tuple[Button, ...]:
    first = cancel_button(event.slug, lang) if mine is not None else register_button(event.slug, lang)
    row = [first, calendar_button(event.slug, lang)]
    if with_details:
        row.append(Button("ℹ️ Details", to("details", event.slug)))
    return tuple(row)


def list_buttons(
    events: list[EventView], lang: str, mine: Mine | None = None
) -> tuple[tuple[Button, ...], ...]:
    """One row per event (register with the title, or cancel where registered; calendar) for short lists."""
    mine = mine or {}
    if len(events) == 1:
        return (event_buttons(events[0], lang, with_details=True, mine=mine.get(events[0].slug)),)
    register = "✅ Anmelden" if lang == "de" else "✅ Register"
    cancel = "❌ Abmelden" if lang == "de" else "❌ Cancel"
    return tuple(
        (
            Button(f"{cancel}: {short(e.title)}", to("abmelden", e.slug))
            if e.slug in mine
            else Button(f"{register}: {short(e.title)}", to("anmelden", e.slug)),
            Button("📅", to("kalender", e.slug)),
        )
        for e in events[:MAX_BUTTON_ROWS]
    )


def subject_for(events: list[EventView]) -> str | None:
    return about("event", events[0].slug) if len(events) == 1 else None


async def resolve_event(
    req: Request, ctx: AppContext, *, action: str
) -> tuple[EventView | None, list[Reply]]:
    """The one event `req.args` refers to, or the replies that ask which one (or say none fits)."""
    now = ctx.clock.now()
    if not req.args:
        upcoming = ctx.events.catalog.upcoming(now)[:MAX_BUTTON_ROWS]
        buttons = tuple((Button(short(e.title, 40), to(action, e.slug)),) for e in upcoming)
        return None, [
            Reply(ctx.render("which_event", req.lang, action=action, events=upcoming), buttons=buttons)
        ]
    found = ctx.events.resolve(req.args, now=now, tz=ctx.settings.tz)
    if len(found) == 1:
        return found[0], []
    if not found:
        upcoming = ctx.events.catalog.upcoming(now)[:MAX_BUTTON_ROWS]
        buttons = tuple((Button(short(e.title, 40), to(action, e.slug)),) for e in upcoming)
        return None, [
            Reply(
                ctx.render("event_not_found", req.lang, reference=req.args, events=upcoming, action=action),
                buttons=buttons,
            )
        ]
    buttons = tuple((Button(short(e.title, 40), to(action, e.slug)),) for e in found[:MAX_BUTTON_ROWS])
    return None, [
        Reply(
            ctx.render("which_event", req.lang, action=action, events=found[:MAX_BUTTON_ROWS]),
            buttons=buttons,
        )
    ]


def consent_buttons(req: Request, ctx: AppContext, action: str) -> tuple[tuple[Button, ...], ...]:
    """ "Einverstanden" runs `action`, "Nein, danke" declines; a typed "ja" or "nein" answers as well."""
    ctx.pending.ask(req.sender.key, action, now=ctx.clock.now())
    de = req.lang == "de"
    return (
        (
            Button("✅ Einverstanden" if de else "✅ I agree", action),
            Button("Nein, danke" if de else "No, thanks", "/einwilligen nein"),
        ),
    )
